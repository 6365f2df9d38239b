"""The table between HF state-dict names (spec §5.1) and Keras variables.

Each `Port` ties one Keras variable to one or more HF tensors, with the two conversions:
PyTorch Linear weights are (out, in) and Keras kernels (in, out); the fused QKV kernel is the three
transposed projections side by side. The encoder's ports are here; each task lists its head's ports in
its own `head_ports` with the helpers below. Layer names of the models are the contract this relies on.
"""
import dataclasses
from typing import Callable, Tuple

import numpy as np

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


def dense_ports(prefix, layer, head=True):
    return [Port((prefix + ".weight",), layer.kernel, _transpose, _transpose_back, head),
            Port((prefix + ".bias",), layer.bias, head=head)]


def layer_norm_ports(prefix, layer, head=True):
    return [Port((prefix + ".weight",), layer.gamma, head=head), Port((prefix + ".bias",), layer.beta, head=head)]


def _block(prefix, block):
    names = [f"{prefix}.attention.self.{p}" for p in ("query", "key", "value")]
    split = lambda a: list(np.split(a, 3, axis=-1))  # noqa: E731
    return [
        Port(tuple(n + ".weight" for n in names), block.qkv_dense.kernel,
             lambda ts: np.concatenate([t.T for t in ts], axis=1), lambda k: [p.T for p in split(k)]),
        Port(tuple(n + ".bias" for n in names), block.qkv_dense.bias,
             lambda ts: np.concatenate(ts, axis=0), split),
        *dense_ports(f"{prefix}.attention.output.dense", block.output_dense, head=False),
        *layer_norm_ports(f"{prefix}.attention.output.LayerNorm", block.attention_layer_norm, head=False),
        *dense_ports(f"{prefix}.intermediate.dense", block.intermediate_dense, head=False),
        *dense_ports(f"{prefix}.output.dense", block.ffn_output_dense, head=False),
        *layer_norm_ports(f"{prefix}.output.LayerNorm", block.ffn_layer_norm, head=False),
    ]


def backbone_ports(backbone, prefix=ENCODER_PREFIX):
    e = prefix + "embeddings."
    ports = [
        Port((e + "word_embeddings.weight",), backbone.token_embedding.embeddings),
        Port((e + "position_embeddings.weight",), backbone.position_embedding.embeddings),
        Port((e + "token_type_embeddings.weight",), backbone.segment_embedding.embeddings),
        *layer_norm_ports(e + "LayerNorm", backbone.embeddings_layer_norm, head=False),
    ]
    for i, layer in enumerate(backbone.hat_layers):
        p = f"{prefix}encoder.layer.{i}."
        if layer.segment_block is not None:
            ports += _block(p + "sentence_encoder", layer.segment_block)
        if layer.document_block is not None:
            ports += _block(p + "document_encoder", layer.document_block)
            ports.append(Port((p + "position_embeddings.weight",), layer.segment_position_embedding.embeddings))
    return ports


def pooler_ports(pooler):
    """HATPooler: `pooler.dense`, plus the attentive-pooling projections when it pools attentively."""
    ports = dense_ports("pooler.dense", pooler.dense)
    if pooler.pooling == "attentive":
        ports += dense_ports("pooler.attentive_pooling.lin_proj", pooler.lin_proj)
        ports.append(Port(("pooler.attentive_pooling.v.weight",), pooler.v.kernel, _transpose, _transpose_back,
                          True))
    return ports


def model_ports(model):
    """Every port of a backbone or task model: the encoder's, then the task's head."""
    backbone = getattr(model, "backbone", model)
    return backbone_ports(backbone) + (model.head_ports() if backbone is not model else [])
