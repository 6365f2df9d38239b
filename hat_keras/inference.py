"""Compiled inference: one traced (optionally XLA-compiled) function per (batch, segment count).

Calling a Keras model eagerly re-dispatches every op from Python on every call; a `tf.function` runs the
whole graph at once, and XLA additionally fuses the element-wise work (bias, GELU, LayerNorm, mask) into
the matmuls' neighbours. HAT's segment count varies with document length, so functions are cached per
input shape: each shape is traced (and compiled) once, and never retraced.

Batches run as chunks of two documents on concurrent calls, one per intra-op thread: on CPU two
concurrent small calls keep both cores busier than one batched call, whose smaller ops (attention,
LayerNorm) parallelise poorly (EC2-mini, 2 threads, batch 8: 629 vs 675 ms, medians over three processes;
see docs/performance.md). Each document's outputs do not depend on its neighbours.

Compact models (`HATBackbone(compact=True)`) ignore padded segments, so `CompiledForward` drops trailing
all-padding segments first and latency follows the document's length, not the padded length. It keeps the
smallest *bucket* (1, 2, 4, ... segments, and the model's maximum) that holds the real ones, so a 32-segment
model compiles at most six shapes per batch size; training batches are bucketed the same way.
"""
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tensorflow as tf

from hat_keras.models import HATBackbone


class _PerShapeTracing(logging.Filter):
    """CompiledForward traces one function per input shape on purpose; TF's "triggered tf.function
    retracing" warning counts those (and concurrent first calls) as accidental retraces."""

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_PerShapeTracing())


def backbone_of(model):
    return model if isinstance(model, HATBackbone) else model.backbone


def real_segments(padding_mask, segment_length):
    """(..., N·K) mask -> number of leading segments to keep: up to the last one holding any real token."""
    mask = np.asarray(padding_mask)
    segs = mask.reshape(-1, mask.shape[-1] // segment_length, segment_length).any(axis=(0, 2))
    nonzero = np.flatnonzero(segs)
    return int(nonzero[-1]) + 1 if nonzero.size else 1


def segment_buckets(max_segments):
    """The segment counts a compact model runs on: powers of two below `max_segments`, then `max_segments`
    (1, 2, 4, 8, 16, 32 for 32 x 128): a few static shapes for XLA and TPUs, and at most 2x the real ones."""
    buckets, n = [], 1
    while n < max_segments:
        buckets.append(n)
        n *= 2
    return buckets + [int(max_segments)]


def bucket_of(segments, max_segments):
    """The smallest bucket holding `segments` real segments."""
    return next(b for b in segment_buckets(max_segments) if b >= min(segments, max_segments))


def bucket_index(padding_mask, segment_length, buckets):
    """In-graph `bucket_of`: the index in `buckets` of the smallest bucket holding the real segments of a
    document (N·K,) or a whole batch (B, N·K), as an int64 scalar (a tf.data bucketing key)."""
    segments = tf.reduce_any(tf.reshape(tf.cast(padding_mask, tf.bool), [-1, buckets[-1], segment_length]), (0, 2))
    real = tf.reduce_max(tf.where(segments, tf.range(1, buckets[-1] + 1), 1))
    return tf.searchsorted(tf.constant(list(buckets)), real[None], out_type=tf.int64)[0]


def trim_segments(inputs, segment_length):
    """Drop trailing segments that are padding in every document of the batch, down to the smallest bucket
    (`segment_buckets`) that holds the rest.

    Only valid for compact models: in the default (checkpoint-faithful) mode padded segments still enter
    max/attentive pooling, exactly as upstream, so dropping them changes classification outputs.
    """
    width = np.shape(inputs["padding_mask"])[-1]
    keep = bucket_of(real_segments(inputs["padding_mask"], segment_length), width // segment_length) * segment_length
    return {k: (v if v is None else np.asarray(v)[..., :keep]) for k, v in inputs.items()}


def default_workers():
    """Concurrent calls for a batch: TF's intra-op thread count (the cores it was given), else the CPUs."""
    return max(1, tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1)


def chunk_sizes(batch, workers, chunk=2):
    """Split `batch` documents into calls of `chunk` (1 when the batch is small); [batch] when not split."""
    if workers < 2 or batch < 2:
        return [batch]
    size = chunk if batch >= chunk * workers else 1
    return [size] * (batch // size) + ([batch % size] if batch % size else [])


def resolve_jit(jit_compile, batch, segments, xla_max_segments=64):
    if jit_compile == "auto":
        return batch * segments <= xla_max_segments
    return bool(jit_compile)


class CompiledForward:
    """`forward(inputs)`: the model's inference outputs, from a cached compiled function per shape.

    Args:
        model: any hat_keras model (backbone or task).
        jit_compile: True (XLA), False (TF graph, oneDNN kernels) or "auto" (XLA for small batches).
        trim: drop trailing padded segments before running; defaults to the backbone's `compact` flag.
        workers: concurrent calls a batch is split into ("auto": TF's intra-op threads; 1: one batched call).
        xla_max_segments: with jit_compile="auto", XLA up to this many segments per call (batch x segments).
            The default is where XLA beat the oneDNN graph on a 2-core CPU (EC2-mini: batch 1 76 vs 100 ms,
            batch 8 624 vs 671 ms); larger batches are dominated by large matmuls, where the oneDNN graph is
            as fast and compiles faster. `python -m benchmarks inference` measures it on another machine.
        chunk_documents: documents per concurrent call when a batch is split (best of 1, 2 and 4 at batch 8).
    """

    def __init__(self, model, jit_compile="auto", trim=None, workers="auto", xla_max_segments=64,
                 chunk_documents=2):
        self.model = model
        self.backbone = backbone_of(model)
        self.jit_compile = jit_compile
        self.xla_max_segments = int(xla_max_segments)
        self.chunk_documents = int(chunk_documents)
        self.trim = getattr(self.backbone, "compact", False) if trim is None else bool(trim)
        self.workers = default_workers() if workers == "auto" else max(1, int(workers))
        self._functions = {}
        self._lock = threading.Lock()
        self._pool = None

    def function_for(self, inputs):
        """The compiled function for these inputs' shapes (created on first use)."""
        shape = np.shape(inputs["token_ids"])
        segments = shape[-1] // self.backbone.segment_length
        batch = int(np.prod(shape[:-1]))
        key = (tuple(shape), tuple(sorted(k for k, v in inputs.items() if v is not None)))
        with self._lock:
            if key not in self._functions:
                model = self.model
                self._functions[key] = tf.function(lambda x: model(x, training=False),
                                                   jit_compile=resolve_jit(self.jit_compile, batch, segments,
                                                                           self.xla_max_segments),
                                                   reduce_retracing=False)
            return self._functions[key]

    def prepare(self, inputs):
        inputs = {k: np.asarray(v, dtype="int32") for k, v in inputs.items() if v is not None}
        if self.trim:
            inputs = trim_segments(inputs, self.backbone.segment_length)
        return inputs

    def _run(self, inputs):
        return self.function_for(inputs)({k: tf.constant(v) for k, v in inputs.items()})

    def __call__(self, inputs):
        inputs = self.prepare(inputs)
        sizes = chunk_sizes(len(inputs["token_ids"]), self.workers, self.chunk_documents)
        if len(sizes) == 1:
            return self._run(inputs)
        starts = np.cumsum([0] + sizes[:-1])
        chunks = [{k: v[a:a + n] for k, v in inputs.items()} for a, n in zip(starts, sizes)]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="hat-forward")
        outs = list(self._pool.map(self._run, chunks))
        return tf.nest.map_structure(lambda *parts: tf.concat(parts, axis=0), *outs)

    @property
    def num_compiled(self):
        return len(self._functions)


def compiled_forward(model, jit_compile="auto", trim=None, workers="auto"):
    """A `CompiledForward` for `model`, kept on the model so repeated calls reuse its compiled functions."""
    cache = model.__dict__.setdefault("_hat_compiled_forward", {})
    key = (jit_compile, trim, workers)
    if key not in cache:
        cache[key] = CompiledForward(model, jit_compile=jit_compile, trim=trim, workers=workers)
    return cache[key]


def predict(model, inputs, jit_compile="auto", trim=None, workers="auto"):
    """Compiled inference on one batch of numpy inputs; returns numpy (or a dict of numpy)."""
    out = compiled_forward(model, jit_compile, trim, workers)(inputs)
    return tf.nest.map_structure(lambda t: t.numpy(), out)


def make_compact(model, compact=True):
    """A copy of `model` (same weights) in compact mode: pooling ignores padded segments.

    Use it for models you fine-tune in compact mode; the released checkpoints were trained without it.
    """
    from hat_keras.context import rebuild

    return rebuild(model, compact=compact)
