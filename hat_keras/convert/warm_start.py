"""Warm-start a HAT from a flat BERT or RoBERTa checkpoint, the way the authors built theirs
(`convert_bert_to_htf.py`, strategy "grouped", spec §1.3):

- word, token-type and embedding-LayerNorm tensors are copied;
- token positions: row 0 is zero, rows 1..K+pad are BERT's rows 1..K+pad (each segment restarts its
  positions, so only the first K positions are needed);
- layer i: the S encoder and the D encoder both copy BERT layer i ("grouped"); "embeds-only" copies
  only the embeddings;
- each D layer's segment-position table is BERT's position rows 1..max_segments+1;
- MLM head from BERT's `cls.predictions` (RoBERTa's `lm_head`) when present, else newly initialised.

The HAT-side names come from the converter's table, so the result goes through `load_state_dict`.
"""
import json
import logging
import os
import re
import shutil


from hat_keras.config import HATConfig, layout_from_string, layout_to_string
from hat_keras.convert.checkpoint import CheckpointError, read_state_dict
from hat_keras.convert.hf import build_model, load_state_dict, save_pretrained
from hat_keras.models.weight_map import ENCODER_PREFIX
from hat_keras.models import HATMaskedLM
from hat_keras.tokenization.tokenizer import TOKENIZER_FILES

logger = logging.getLogger("hat_keras")
STRATEGIES = ("grouped", "embeds-only")

def _flat_prefix(state, source):
    """'bert.' / 'roberta.' / '' — where the flat model's embeddings live."""
    for prefix in ("bert.", "roberta.", ""):
        if prefix + "embeddings.word_embeddings.weight" in state:
            return prefix
    raise CheckpointError(f"{source}: no `embeddings.word_embeddings.weight`: not a BERT/RoBERTa checkpoint")


def _mlm_head(state, prefix):
    """HAT lm_head tensors from BERT's `cls.predictions.*` or RoBERTa's `lm_head.*` (None when absent)."""
    if "cls.predictions.transform.dense.weight" in state:
        p = "cls.predictions."
        bias = state.get(p + "bias", state.get(p + "decoder.bias"))
        return {"lm_head.dense.weight": state[p + "transform.dense.weight"],
                "lm_head.dense.bias": state[p + "transform.dense.bias"],
                "lm_head.layer_norm.weight": state[p + "transform.LayerNorm.weight"],
                "lm_head.layer_norm.bias": state[p + "transform.LayerNorm.bias"],
                "lm_head.bias": bias}
    if "lm_head.dense.weight" in state:
        return {k: state[k] for k in ("lm_head.dense.weight", "lm_head.dense.bias", "lm_head.layer_norm.weight",
                                      "lm_head.layer_norm.bias", "lm_head.bias")}
    return None


def hat_config_from_flat(flat_config, layout, max_segments=8, segment_length=128, compact=False):
    """The HAT config.json of a model warm-started from a flat BERT/RoBERTa config.json (dict); `compact`
    writes `"compact": true`, so heads trained on it pool over real segments only."""
    pad = int(flat_config.get("pad_token_id", 0) or 0)
    max_pos = int(flat_config.get("max_position_embeddings", 512))
    if segment_length + pad + 1 > max_pos:
        raise CheckpointError(f"segment_length={segment_length} needs {segment_length + pad + 1} positions but the "
                              f"flat model has max_position_embeddings={max_pos}")
    if max_segments + 2 > max_pos:
        raise CheckpointError(f"max_segments={max_segments} needs {max_segments + 2} positions for the segment "
                              f"tables but the flat model has {max_pos}")
    encoder_layout = layout_from_string(layout)
    fields = {k: flat_config[k] for k in ("vocab_size", "hidden_size", "num_attention_heads", "intermediate_size",
                                           "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob",
                                           "layer_norm_eps", "initializer_range", "type_vocab_size")
              if k in flat_config}
    for k in ("bos_token_id", "eos_token_id"):
        if flat_config.get(k) is not None:
            fields[k] = flat_config[k]
    fields.update(
        architectures=["HATForMaskedLM"], encoder_layout=encoder_layout, num_hidden_layers=len(encoder_layout),
        pad_token_id=pad, max_sentence_length=segment_length, max_sentence_size=segment_length,
        max_sentences=max_segments, max_position_embeddings=segment_length,
        model_max_length=segment_length * max_segments,
        warm_start={"source_model_type": flat_config.get("model_type", "bert"), "strategy": "grouped"},
    )
    if compact:
        fields["compact"] = True
    return HATConfig(**fields)


def flat_to_hat_state(state, config, strategy="grouped", source="<flat checkpoint>"):
    """Flat BERT/RoBERTa tensors -> HAT HF-named tensors (encoder + MLM head when present)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy={strategy!r}; choose one of {STRATEGIES}")
    prefix = _flat_prefix(state, source)
    e_in, e_out = prefix + "embeddings.", ENCODER_PREFIX + "embeddings."
    pad, K, N = config.pad_token_id, config.segment_length, config.max_segments
    positions = state[e_in + "position_embeddings.weight"]
    hat = {e_out + "word_embeddings.weight": state[e_in + "word_embeddings.weight"],
           e_out + "LayerNorm.weight": state[e_in + "LayerNorm.weight"],
           e_out + "LayerNorm.bias": state[e_in + "LayerNorm.bias"]}
    if e_in + "token_type_embeddings.weight" in state:
        hat[e_out + "token_type_embeddings.weight"] = state[e_in + "token_type_embeddings.weight"]
    table = positions[:K + pad + 1].copy()
    table[0] = 0.0
    hat[e_out + "position_embeddings.weight"] = table
    layers = layout_to_string(config.encoder_layout).split("|")
    flat_layers = sorted({int(m.group(1)) for k in state
                          for m in [re.match(re.escape(prefix) + r"encoder\.layer\.(\d+)\.", k)] if m})
    if strategy == "grouped" and len(flat_layers) < len(layers):
        raise CheckpointError(f"{source}: layout has {len(layers)} layers but the flat model only "
                              f"{len(flat_layers)}; use a layout of at most {len(flat_layers)} layers")
    for i, block in enumerate(layers):
        src = f"{prefix}encoder.layer.{i}."
        dst = f"{ENCODER_PREFIX}encoder.layer.{i}."
        copied = {k[len(src):]: v for k, v in state.items() if k.startswith(src)} if strategy == "grouped" else {}
        if "S" in block:
            hat.update({f"{dst}sentence_encoder.{k}": v for k, v in copied.items()})
        if "D" in block:
            hat.update({f"{dst}document_encoder.{k}": v for k, v in copied.items()})
            hat[f"{dst}position_embeddings.weight"] = positions[1:N + 2]
    head = _mlm_head(state, prefix)
    if head is not None:
        hat.update(head)
    return hat


def warm_start(flat_dir, layout, output_dir=None, max_segments=8, segment_length=128, strategy="grouped",
               new_head=False, compact=False):
    """Build a HATMaskedLM from a flat BERT/RoBERTa folder (config.json + weights); write it, with the
    tokenizer files, as an HF-format HAT folder when `output_dir` is given. Returns the Keras model.
    `compact=True`: a compact model (config.json `"compact": true`): every head built on it pools over real
    segments only, so its answers do not depend on padding and short documents run on fewer segments.
    `new_head=True`: the MLM head is not going to be used as is (e.g. replaced by a classifier to train), so a
    flat checkpoint without one is not warned about."""
    flat_dir = os.fspath(flat_dir)
    cfg_path = os.path.join(flat_dir, "config.json")
    if not os.path.exists(cfg_path):
        raise FileNotFoundError(f"{flat_dir}: no config.json (a flat BERT/RoBERTa checkpoint folder is needed)")
    try:
        with open(cfg_path, encoding="utf-8") as f:
            flat_config = json.load(f)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{cfg_path}: not valid JSON ({e})") from None
    if flat_config.get("model_type") not in (None, "bert", "roberta", "xlm-roberta", "camembert"):
        raise CheckpointError(f"{cfg_path}: model_type={flat_config.get('model_type')!r}; BERT/RoBERTa expected")
    config = hat_config_from_flat(flat_config, layout, max_segments, segment_length, compact)
    config.warm_start["strategy"] = strategy
    state = read_state_dict(flat_dir)
    hat_state = flat_to_hat_state(state, config, strategy, flat_dir)
    if strategy == "embeds-only":  # the encoder keeps its random init: load what there is, by hand
        model = build_model(config, HATMaskedLM)
        _assign_partial(model, hat_state, config)
    else:
        model = build_model(config, HATMaskedLM)
        model.load_report = load_state_dict(model, hat_state, source=flat_dir, config=config,
                                            new_head=new_head)
    model.hat_config = config
    if output_dir:
        save_pretrained(model, output_dir)
        for name in TOKENIZER_FILES:
            if os.path.exists(os.path.join(flat_dir, name)):
                shutil.copyfile(os.path.join(flat_dir, name), os.path.join(output_dir, name))
    return model


def flat_baseline(flat_dir, output_dir, length=512, new_head=True):
    """The flat model itself as a HAT folder, for like-for-like baselines: one segment of `length` tokens and
    S-only layers *is* the BERT encoder over the first `length` tokens. HAT position t+1 reads BERT position
    t (HAT keeps row 0 for padding), so every token sees BERT's own position embedding."""
    import numpy as np

    flat_dir = os.fspath(flat_dir)
    with open(os.path.join(flat_dir, "config.json"), encoding="utf-8") as f:
        flat_config = json.load(f)
    layers = int(flat_config["num_hidden_layers"])
    config = hat_config_from_flat({**flat_config, "max_position_embeddings": length + 1}, "|".join(["S"] * layers),
                                  max_segments=1, segment_length=length)
    state = read_state_dict(flat_dir)
    hat_state = flat_to_hat_state(state, config, "grouped", flat_dir)
    positions = state[next(k for k in state if k.endswith("embeddings.position_embeddings.weight"))]
    table = np.zeros((length + 1, positions.shape[1]), positions.dtype)
    table[1:] = positions[:length]
    hat_state[ENCODER_PREFIX + "embeddings.position_embeddings.weight"] = table
    model = build_model(config, HATMaskedLM)
    load_state_dict(model, hat_state, source=flat_dir, config=config, new_head=new_head)
    model.hat_config = config
    save_pretrained(model, output_dir)
    for name in TOKENIZER_FILES:
        if os.path.exists(os.path.join(flat_dir, name)):
            shutil.copyfile(os.path.join(flat_dir, name), os.path.join(output_dir, name))
    return output_dir


def _assign_partial(model, hat_state, config):
    from hat_keras.models.weight_map import model_ports

    for port in model_ports(model):
        if all(k in hat_state for k in port.keys):
            port.variable.assign(port.to_keras([hat_state[k] for k in port.keys]).astype("float32"))
