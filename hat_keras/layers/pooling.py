"""Heads' pooling over segment representations, exactly as upstream's HATPooler (spec §3.2)."""
import keras
from keras import ops

from hat_keras.layers.transformer_block import softmax

POOLINGS = ("max", "attentive", "first", "last")


@keras.saving.register_keras_serializable(package="hat_keras")
class HATPooler(keras.layers.Layer):
    """`first`: token 0; `last`: first token of the last segment (= upstream's −128 for K=128);
    `max` / `attentive`: over every segment's first token, padded segments included (upstream has no mask).
    Then tanh(dense(z)). Given a padding_mask (compact mode), padded segments are left out instead.
    """

    def __init__(self, hidden_dim, pooling="max", segment_length=128, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r}; choose one of {POOLINGS}")
        self.hidden_dim = hidden_dim
        self.pooling = pooling
        self.segment_length = segment_length
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        init = lambda: keras.initializers.get(keras.initializers.serialize(self.kernel_initializer))  # noqa: E731
        dt = self.dtype_policy
        self.dense = keras.layers.Dense(hidden_dim, activation="tanh", kernel_initializer=init(), dtype=dt,
                                        name="dense")
        if pooling == "attentive":
            self.lin_proj = keras.layers.Dense(hidden_dim, kernel_initializer=init(), dtype=dt, name="lin_proj")
            self.v = keras.layers.Dense(1, use_bias=False, kernel_initializer=init(), dtype=dt, name="v")

    def build(self, sequence_shape):
        H = self.hidden_dim
        self.dense.build((None, H))
        if self.pooling == "attentive":
            self.lin_proj.build((None, None, H))
            self.v.build((None, None, H))
        self.built = True

    def call(self, segment_output, padding_mask=None):
        """segment_output: (B, N, H), each segment's first token (the backbone's `segment_output`).
        padding_mask (compact mode only): pool over real segments (first token not padding) only, and
        `last` reads the last real segment, so trailing padded segments can be dropped without effect."""
        if self.pooling == "first":
            return self.dense(segment_output[:, 0, :])
        if self.pooling == "last" and padding_mask is None:
            return self.dense(segment_output[:, -1, :])
        firsts = segment_output
        real = None
        if padding_mask is not None:
            shape = ops.shape(firsts)
            mask = ops.reshape(ops.cast(padding_mask, "int32"), (shape[0], shape[1], -1))
            real = mask[:, :, 0] > 0  # (B, N)
            real = ops.logical_or(real, ops.logical_not(ops.any(real, axis=1, keepdims=True)))  # empty doc: all
        if self.pooling == "last":
            n = ops.shape(real)[1]
            last = ops.max(ops.where(real, ops.arange(n, dtype="int32")[None, :], 0), axis=1)
            z = ops.take_along_axis(firsts, last[:, None, None], axis=1)[:, 0, :]
        elif self.pooling == "attentive":
            scores = ops.tanh(self.v(self.lin_proj(firsts)))
            if real is not None:
                scores = ops.where(real[:, :, None], scores, ops.cast(-1e9, scores.dtype))
            z = ops.sum(softmax(scores, axis=1) * firsts, axis=1)
        else:
            if real is not None:
                firsts = ops.where(real[:, :, None], firsts, ops.cast(float("-inf"), firsts.dtype))
            z = ops.max(firsts, axis=1)
        return self.dense(z)

    def compute_output_shape(self, segment_output_shape, padding_mask_shape=None):
        return (segment_output_shape[0], self.hidden_dim)

    def get_config(self):
        return {**super().get_config(), "hidden_dim": self.hidden_dim, "pooling": self.pooling,
                "segment_length": self.segment_length,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
