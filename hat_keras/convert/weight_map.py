"""The one table between HF state-dict names (spec §5.1) and Keras variables.

Each `Port` ties one Keras variable to one or more HF tensors, with the two conversions:
PyTorch Linear weights are (out, in) and Keras kernels (in, out); the fused QKV kernel is the three
transposed projections side by side. Layer names of the models are the contract this table relies on.
"""
import dataclasses
from typing import Callable, Tuple

import numpy as np

from hat_keras.models import (HATBackbone, HATMaskedLM, HATMultipleChoice, HATSequentialSentenceClassifier,
                              HATTextClassifier, HATTokenClassifier)

ENCODER_PREFIX = "hi_transformer."


def _same(ts):
    return ts[0]


def _one(t):
    return [t]


def _transpose(ts):
    return ts[0].T


def _transpose_back(t):
    return [t.T]


@dataclasses.dataclass
class Port:
    keys: Tuple[str, ...]
    variable: object
    to_keras: Callable = _same
    to_hf: Callable = _one
    head: bool = False  # a task-head weight (may be newly initialised), not an encoder one


def _dense(prefix, layer, head=False):
    return [Port((prefix + ".weight",), layer.kernel, _transpose, _transpose_back, head),
            Port((prefix + ".bias",), layer.bias, head=head)]


def _layer_norm(prefix, layer, head=False):
    return [Port((prefix + ".weight",), layer.gamma, head=head), Port((prefix + ".bias",), layer.beta, head=head)]


def _block(prefix, block):
    names = [f"{prefix}.attention.self.{p}" for p in ("query", "key", "value")]
    split = lambda a: list(np.split(a, 3, axis=-1))  # noqa: E731
    return [
        Port(tuple(n + ".weight" for n in names), block.qkv_dense.kernel,
             lambda ts: np.concatenate([t.T for t in ts], axis=1), lambda k: [p.T for p in split(k)]),
        Port(tuple(n + ".bias" for n in names), block.qkv_dense.bias,
             lambda ts: np.concatenate(ts, axis=0), split),
        *_dense(f"{prefix}.attention.output.dense", block.output_dense),
        *_layer_norm(f"{prefix}.attention.output.LayerNorm", block.attention_layer_norm),
        *_dense(f"{prefix}.intermediate.dense", block.intermediate_dense),
        *_dense(f"{prefix}.output.dense", block.ffn_output_dense),
        *_layer_norm(f"{prefix}.output.LayerNorm", block.ffn_layer_norm),
    ]


def backbone_ports(backbone, prefix=ENCODER_PREFIX):
    e = prefix + "embeddings."
    ports = [
        Port((e + "word_embeddings.weight",), backbone.token_embedding.embeddings),
        Port((e + "position_embeddings.weight",), backbone.position_embedding.embeddings),
        Port((e + "token_type_embeddings.weight",), backbone.segment_embedding.embeddings),
        *_layer_norm(e + "LayerNorm", backbone.embeddings_layer_norm),
    ]
    for i, layer in enumerate(backbone.hat_layers):
        p = f"{prefix}encoder.layer.{i}."
        if layer.segment_block is not None:
            ports += _block(p + "sentence_encoder", layer.segment_block)
        if layer.document_block is not None:
            ports += _block(p + "document_encoder", layer.document_block)
            ports.append(Port((p + "position_embeddings.weight",), layer.segment_position_embedding.embeddings))
    return ports


def head_ports(model):
    """Ports of the task head (names of upstream's heads, spec §3)."""
    if isinstance(model, HATMaskedLM):
        h = model.masked_lm_head
        return [*_dense("lm_head.dense", h._intermediate_dense, True),
                *_layer_norm("lm_head.layer_norm", h._intermediate_layer_norm, True),
                Port(("lm_head.bias",), h._bias, head=True)]
    ports = []
    if isinstance(model, (HATTextClassifier, HATMultipleChoice)):
        ports += _dense("pooler.dense", model.pooler.dense, True)
        if model.pooler.pooling == "attentive":
            ports += _dense("pooler.attentive_pooling.lin_proj", model.pooler.lin_proj, True)
            ports.append(Port(("pooler.attentive_pooling.v.weight",), model.pooler.v.kernel, _transpose,
                              _transpose_back, True))
    if isinstance(model, HATSequentialSentenceClassifier):
        ports += _dense("sentencizer.dense", model.sentencizer, True)
    if not isinstance(model, HATBackbone):
        ports += _dense("classifier", model.output_dense, True)
    return ports


def model_ports(model):
    backbone = model if isinstance(model, HATBackbone) else model.backbone
    return backbone_ports(backbone) + head_ports(model)


# Upstream class names (config `architectures`) <-> Keras tasks.
ARCHITECTURES = {
    "HATForMaskedLM": HATMaskedLM,
    "HATForSequenceClassification": HATTextClassifier,
    "HATModelForSequentialSentenceClassification": HATSequentialSentenceClassifier,
    "HATForMultipleChoice": HATMultipleChoice,
    "HATForTokenClassification": HATTokenClassifier,
    "HATModel": HATBackbone,
}


def architecture_of(model):
    for name, cls in ARCHITECTURES.items():
        if type(model) is cls:
            return name
    raise TypeError(f"{type(model).__name__} is not a HAT model")
