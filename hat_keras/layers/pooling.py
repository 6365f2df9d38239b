"""Heads' pooling over segment representations, exactly as upstream's HATPooler (spec §3.2)."""
import keras
from keras import ops

POOLINGS = ("max", "attentive", "first", "last")


@keras.saving.register_keras_serializable(package="hat_keras")
class HATPooler(keras.layers.Layer):
    """`first`: token 0; `last`: first token of the last segment (= upstream's −128 for K=128);
    `max` / `attentive`: over every segment's first token, padded segments included (upstream has no mask).
    Then tanh(dense(z)).
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
        self.dense = keras.layers.Dense(hidden_dim, activation="tanh", kernel_initializer=init(), dtype=dt, name="dense")
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

    def call(self, sequence_output):
        K = self.segment_length
        if self.pooling == "first":
            z = sequence_output[:, 0, :]
        elif self.pooling == "last":
            z = sequence_output[:, -K, :]
        else:
            shape = ops.shape(sequence_output)
            firsts = ops.reshape(sequence_output, (shape[0], -1, K, self.hidden_dim))[:, :, 0, :]
            if self.pooling == "attentive":
                w = ops.softmax(ops.tanh(self.v(self.lin_proj(firsts))), axis=1)
                z = ops.sum(w * firsts, axis=1)
            else:
                z = ops.max(firsts, axis=1)
        return self.dense(z)

    def compute_output_shape(self, sequence_shape):
        return (sequence_shape[0], self.hidden_dim)

    def get_config(self):
        return {**super().get_config(), "hidden_dim": self.hidden_dim, "pooling": self.pooling,
                "segment_length": self.segment_length,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
