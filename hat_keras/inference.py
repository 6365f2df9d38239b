"""Compiled inference: one traced (optionally XLA-compiled) function per (batch, segment count).

Calling a Keras model eagerly re-dispatches every op from Python on every call; a `tf.function` runs the
whole graph at once, and XLA additionally fuses the element-wise work (bias, GELU, LayerNorm, mask) into
the matmuls' neighbours. HAT's segment count varies with document length, so functions are cached per
input shape: each shape is traced (and compiled) once, and never retraced.

Compact models (`HATBackbone(compact=True)`) ignore padded segments, so `CompiledForward` drops trailing
all-padding segments first and latency follows the document's length, not the padded length.
"""
import numpy as np
import tensorflow as tf

from hat_keras.models import HATBackbone

# Up to this many segments in a batch (batch x segments), XLA beat the oneDNN graph on CPU in
# `hat-keras bench inference` (EC2-mini, 2 threads: batch 1 76 vs 100 ms, batch 8 624 vs 671 ms); larger
# batches are dominated by large matmuls, where the oneDNN graph is as fast and compiles faster.
XLA_MAX_SEGMENTS = 64


def backbone_of(model):
    return model if isinstance(model, HATBackbone) else model.backbone


def real_segments(padding_mask, segment_length):
    """(..., N·K) mask -> number of leading segments to keep: up to the last one holding any real token."""
    mask = np.asarray(padding_mask)
    segs = mask.reshape(-1, mask.shape[-1] // segment_length, segment_length).any(axis=(0, 2))
    nonzero = np.flatnonzero(segs)
    return int(nonzero[-1]) + 1 if nonzero.size else 1


def trim_segments(inputs, segment_length):
    """Drop trailing segments that are padding in every document of the batch (at least one is kept).

    Only valid for compact models: in the default (checkpoint-faithful) mode padded segments still enter
    max/attentive pooling, exactly as upstream, so dropping them changes classification outputs.
    """
    n = real_segments(inputs["padding_mask"], segment_length)
    keep = n * segment_length
    return {k: (v if v is None else np.asarray(v)[..., :keep]) for k, v in inputs.items()}


def resolve_jit(jit_compile, batch, segments):
    if jit_compile == "auto":
        return batch * segments <= XLA_MAX_SEGMENTS
    return bool(jit_compile)


class CompiledForward:
    """`forward(inputs)`: the model's inference outputs, from a cached compiled function per shape.

    Args:
        model: any hat_keras model (backbone or task).
        jit_compile: True (XLA), False (TF graph, oneDNN kernels) or "auto" (XLA for small batches).
        trim: drop trailing padded segments before running; defaults to the backbone's `compact` flag.
    """

    def __init__(self, model, jit_compile="auto", trim=None):
        self.model = model
        self.backbone = backbone_of(model)
        self.jit_compile = jit_compile
        self.trim = getattr(self.backbone, "compact", False) if trim is None else bool(trim)
        self._functions = {}

    def function_for(self, inputs):
        """The compiled function for these inputs' shapes (created on first use)."""
        shape = np.shape(inputs["token_ids"])
        segments = shape[-1] // self.backbone.segment_length
        batch = int(np.prod(shape[:-1]))
        key = (tuple(shape), tuple(sorted(k for k, v in inputs.items() if v is not None)))
        if key not in self._functions:
            model = self.model
            self._functions[key] = tf.function(lambda x: model(x, training=False),
                                               jit_compile=resolve_jit(self.jit_compile, batch, segments),
                                               reduce_retracing=False)
        return self._functions[key]

    def prepare(self, inputs):
        inputs = {k: np.asarray(v, dtype="int32") for k, v in inputs.items() if v is not None}
        if self.trim:
            inputs = trim_segments(inputs, self.backbone.segment_length)
        return inputs

    def __call__(self, inputs):
        inputs = self.prepare(inputs)
        return self.function_for(inputs)({k: tf.constant(v) for k, v in inputs.items()})

    @property
    def num_compiled(self):
        return len(self._functions)


def compiled_forward(model, jit_compile="auto", trim=None):
    """A `CompiledForward` for `model`, kept on the model so repeated calls reuse its compiled functions."""
    cache = model.__dict__.setdefault("_hat_compiled_forward", {})
    key = (jit_compile, trim)
    if key not in cache:
        cache[key] = CompiledForward(model, jit_compile=jit_compile, trim=trim)
    return cache[key]


def predict(model, inputs, jit_compile="auto", trim=None):
    """Compiled inference on one batch of numpy inputs; returns numpy (or a dict of numpy)."""
    out = compiled_forward(model, jit_compile, trim)(inputs)
    return tf.nest.map_structure(lambda t: t.numpy(), out)


def make_compact(model, compact=True):
    """A copy of `model` (same weights) in compact mode: pooling ignores padded segments.

    Use it for models you fine-tune in compact mode; the released checkpoints were trained without it.
    """
    from hat_keras.context import rebuild

    return rebuild(model, compact=compact)
