"""The post-LN transformer block HAT uses for both its segment-wise and cross-segment encoders.

Numerically it is transformers' BertLayer / RobertaLayer (spec §2.4). It is written out rather than taken
from keras-hub's `TransformerEncoder` (equally exact) for three reasons the exports need:
  * the mask is the additive bias upstream uses, `(1 - mask) · min`, precomputed once per forward pass
    instead of once per block, and a bounded value can be swapped in for full-int8 TFLite;
  * query, key and value are one fused (H, 3H) matmul (fewer, larger kernels on CPU/TFLite);
  * softmax runs in float32 under mixed precision, so fully padded segments stay uniform, never NaN.
"""
import math
import warnings

import keras
from keras import ops

from hat_keras.layers.activations import get_activation


def softmax(x, axis=-1):
    """keras.ops.softmax without its warning for a size-1 axis (a one-segment document is legitimate)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="You are using a softmax over axis")
        return ops.softmax(x, axis=axis)


def softmax_dtype(layer):
    """float32 for 16-bit compute (no overflow of the mask, uniform fully padded rows), else the compute dtype."""
    return "float32" if layer.compute_dtype in ("float16", "bfloat16") else layer.compute_dtype


@keras.saving.register_keras_serializable(package="hat_keras")
class HATTransformerBlock(keras.layers.Layer):
    def __init__(self, hidden_dim, num_heads, intermediate_dim, hidden_act="gelu", layer_norm_epsilon=1e-12,
                 dropout=0.1, attention_dropout=0.1, kernel_initializer="glorot_uniform", **kwargs):
        kwargs.setdefault("autocast", False)  # the float32 mask bias stays float32 under mixed precision
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(f"num_heads={num_heads} does not divide hidden_dim={hidden_dim}")
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.head_dim = hidden_dim // num_heads
        self.intermediate_dim = intermediate_dim
        self.hidden_act = hidden_act
        self.layer_norm_epsilon = layer_norm_epsilon
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        init = lambda: keras.initializers.get(keras.initializers.serialize(self.kernel_initializer))  # noqa: E731
        dt = self.dtype_policy
        self.qkv_dense = keras.layers.Dense(3 * hidden_dim, kernel_initializer=init(), dtype=dt, name="qkv")
        self.output_dense = keras.layers.Dense(hidden_dim, kernel_initializer=init(), dtype=dt, name="attention_output")
        self.attention_layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=dt,
                                                                    name="attention_layer_norm")
        self.intermediate_dense = keras.layers.Dense(intermediate_dim, activation=get_activation(hidden_act),
                                                     kernel_initializer=init(), dtype=dt, name="intermediate")
        self.ffn_output_dense = keras.layers.Dense(hidden_dim, kernel_initializer=init(), dtype=dt, name="ffn_output")
        self.ffn_layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=dt,
                                                              name="ffn_layer_norm")
        self.attention_probs_dropout = keras.layers.Dropout(attention_dropout, dtype=dt)
        self.hidden_dropout = keras.layers.Dropout(dropout, dtype=dt)

    def build(self, x_shape, attention_bias_shape=None):
        shape = tuple(x_shape)
        self.qkv_dense.build(shape)
        self.output_dense.build(shape)
        self.attention_layer_norm.build(shape)
        self.intermediate_dense.build(shape)
        self.ffn_output_dense.build(shape[:-1] + (self.intermediate_dim,))
        self.ffn_layer_norm.build(shape)
        self.built = True

    def _heads(self, x, batch, length):
        x = ops.reshape(x, (batch, length, self.num_heads, self.head_dim))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, x, attention_bias, training=None, first_only=False):
        """x: (B, T, H); attention_bias: (B, 1, 1, T) float32, 0 for keys to attend and a huge negative else.

        first_only: queries only at position 0, output (B, 1, H). Every key is still attended, so the result
        equals the full block's first row; heads that read only segment representations skip the rest.
        """
        if first_only:
            context = self._first_token_context(x, attention_bias, training)
        else:
            batch, length = ops.shape(x)[0], ops.shape(x)[1]
            q, k, v = ops.split(self.qkv_dense(x), 3, axis=-1)
            q, k, v = self._heads(q, batch, length), self._heads(k, batch, length), self._heads(v, batch, length)
            scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))
            scores = ops.cast(scores, softmax_dtype(self)) / math.sqrt(self.head_dim) + attention_bias
            probs = ops.cast(softmax(scores, axis=-1), self.compute_dtype)
            probs = self.attention_probs_dropout(probs, training=training)
            context = ops.transpose(ops.matmul(probs, v), (0, 2, 1, 3))
            context = ops.reshape(context, (batch, length, self.hidden_dim))
        residual = x[:, :1, :] if first_only else x
        attn = self.hidden_dropout(self.output_dense(context), training=training)
        x = self.attention_layer_norm(attn + residual)
        ffn = self.hidden_dropout(self.ffn_output_dense(self.intermediate_dense(x)), training=training)
        return self.ffn_layer_norm(ffn + x)

    def _first_token_context(self, x, attention_bias, training):
        """Attention output (B, 1, H) for the query at position 0 only, without projecting keys and values.

        With one query, the key and value projections of all T tokens (2·T·H² multiply-adds, the costliest part
        of the last layer for pooling heads) can be folded into the query side instead (≈ 4·T·H):
          scores_h  = q_h·(X·Wk_h + bk_h)ᵀ = (q_h·Wk_hᵀ)·Xᵀ + const  (a per-query constant cancels in softmax)
          context_h = p_h·(X·Wv_h + bv_h)  = (p_h·X)·Wv_h + Σp_h · bv_h  (Σp_h = 1 unless dropout dropped some)
        The same function as the full block's first row, up to float rounding (~1e-7).
        """
        H, n, d = self.hidden_dim, self.num_heads, self.head_dim
        kernel, bias = ops.cast(self.qkv_dense.kernel, x.dtype), ops.cast(self.qkv_dense.bias, x.dtype)
        q = ops.reshape(ops.matmul(x[:, 0, :], kernel[:, :H]) + bias[:H], (-1, n, d))  # (B, n, d)
        query_keys = ops.einsum("bnd,hnd->bnh", q, ops.reshape(kernel[:, H:2 * H], (H, n, d)))
        scores = ops.einsum("bnh,bth->bnt", query_keys, x)  # (B, n, T)
        scores = ops.cast(scores, softmax_dtype(self)) / math.sqrt(d) + attention_bias[:, :, 0, :]
        probs = ops.cast(softmax(scores, axis=-1), self.compute_dtype)
        probs = self.attention_probs_dropout(probs, training=training)
        mixed = ops.einsum("bnt,bth->bnh", probs, x)  # attention-weighted inputs, per head
        context = ops.einsum("bnh,hnd->bnd", mixed, ops.reshape(kernel[:, 2 * H:], (H, n, d)))
        context = context + ops.sum(probs, axis=-1)[..., None] * ops.reshape(bias[2 * H:], (n, d))
        return ops.reshape(context, (-1, 1, H))

    def compute_output_shape(self, input_shape, bias_shape=None, first_only=False):
        return (input_shape[0], 1, input_shape[2]) if first_only else input_shape

    def get_config(self):
        return {**super().get_config(), "hidden_dim": self.hidden_dim, "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim, "hidden_act": self.hidden_act,
                "layer_norm_epsilon": self.layer_norm_epsilon, "dropout": self.dropout,
                "attention_dropout": self.attention_dropout,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
