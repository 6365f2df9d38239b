"""Longer documents: grow a HAT's `max_segments` (segments) beyond what it was trained with.

HAT's token positions restart in every segment (spec §2.3), so the only length-bound tensors are the
cross-segment position tables of the D layers (max_segments + 1 rows). Growing a model therefore means
growing those tables; everything else is unchanged. New rows are tiled from the trained ones
(segment k takes row ((k - 1) mod N_old) + 1), the warm start the authors used for their 4,096-token
models; `fill="last"` repeats the last trained row instead. Row 0 (padded segments) is kept.

In the released-checkpoint semantics the tables are not read at all, so an extended model gives the same
outputs as the original on every input the original accepts; with `use_segment_position_embeddings=True`
the first N_old rows are unchanged, so that holds as well.
"""
import os
import shutil

import numpy as np

from hat_keras.models import HATBackbone

FILLS = ("tile", "last")
_NOT_COPIED = ("config.json", "model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


def extend_rows(table, new_rows, fill="tile"):
    """(N_old + 1, H) segment-position table -> (new_rows, H), row 0 and rows 1..N_old unchanged."""
    if fill not in FILLS:
        raise ValueError(f"fill={fill!r}; choose one of {FILLS}")
    old = table.shape[0] - 1
    if new_rows - 1 < old:
        raise ValueError(f"cannot shrink a segment table from {old} to {new_rows - 1} segments")
    extra = np.arange(old + 1, new_rows)
    src = (extra - 1) % old + 1 if fill == "tile" else np.full_like(extra, old)
    return np.concatenate([table, table[src]], axis=0)


def rebuild(model, fill="tile", **backbone_overrides):
    """A copy of `model` (backbone or task) whose backbone is built with `backbone_overrides`, weights copied.

    Variables whose shape changed (the segment-position tables, when `max_segments` grows) are extended
    with `extend_rows`; anything else that does not match is an error.
    """
    is_backbone = isinstance(model, HATBackbone)
    backbone = model if is_backbone else model.backbone
    new_backbone = HATBackbone.from_config({**backbone.get_config(), **backbone_overrides})
    if is_backbone:
        new = new_backbone
    else:
        config = model.get_config()
        config["backbone"] = new_backbone
        config["preprocessor"] = None
        new = type(model).from_config(config)
        new.preprocessor = getattr(model, "preprocessor", None)
    old_vars, new_vars = model.weights, new.weights
    if [v.path for v in old_vars] != [v.path for v in new_vars]:
        raise ValueError("rebuilt model's variables do not line up with the original's")
    for old_v, new_v in zip(old_vars, new_vars):
        value = np.asarray(old_v.numpy())
        if tuple(value.shape) != tuple(new_v.shape):
            if "segment_position_embedding" not in new_v.path:
                raise ValueError(f"{new_v.path}: shape {value.shape} -> {tuple(new_v.shape)} is not a segment table")
            value = extend_rows(value, new_v.shape[0], fill)
        new_v.assign(value)
    config = getattr(model, "hat_config", None)
    if config is not None:
        from hat_keras.config import HATConfig

        fields = config.to_dict()
        fields["max_sentences"] = new_backbone.max_segments  # config.json keeps upstream names
        fields.pop("compact", None)
        if new_backbone.compact:
            fields["compact"] = True
        fields["model_max_length"] = max(int(fields.get("model_max_length") or 0), new_backbone.max_sequence_length)
        new.hat_config = HATConfig(**fields)
    return new


def extend_context(model_or_checkpoint, max_segments, fill="tile"):
    """A model that reads up to `max_segments` segments (max_segments · K tokens).

    `model_or_checkpoint`: a hat_keras model, or an HF-format checkpoint folder (loaded with
    `hat_keras.load`). Returns the new Keras model; save it with `save_pretrained`.
    """
    model = model_or_checkpoint
    if isinstance(model, (str, os.PathLike)):
        from hat_keras.loading import load

        model = load(model)
    backbone = model if isinstance(model, HATBackbone) else model.backbone
    if max_segments < backbone.max_segments:
        raise ValueError(f"max_segments={max_segments} is below the model's {backbone.max_segments}")
    return rebuild(model, fill=fill, max_segments=int(max_segments))


def extend_checkpoint(src, dst, max_segments, fill="tile"):
    """Checkpoint folder -> checkpoint folder (config, weights; tokenizer files copied as they are)."""
    from hat_keras.convert import save_pretrained
    from hat_keras.loading import load

    model = extend_context(load(src, load_tokenizer=False), max_segments, fill)
    save_pretrained(model, dst)
    for name in os.listdir(src):
        path = os.path.join(src, name)
        if os.path.isfile(path) and name not in _NOT_COPIED and not os.path.exists(os.path.join(dst, name)):
            shutil.copy2(path, os.path.join(dst, name))
    return model
