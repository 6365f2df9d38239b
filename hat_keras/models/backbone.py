"""HATBackbone: the HAT encoder as a Functional keras-hub Backbone (spec §2)."""
import keras
from keras import ops
from keras_hub.models import Backbone

from hat_keras.config import layout_from_string, layout_to_string
from hat_keras.layers import HATAttentionBias, HATLayer, HATPositionIds, PaddingAwareEmbedding


class OptionalSegmentIds:
    """Lets callers leave out `segment_ids` (token types): Keras' optional inputs still need the key."""

    @staticmethod
    def _with_segment_ids(inputs):
        if isinstance(inputs, dict) and "segment_ids" not in inputs:
            return {**inputs, "segment_ids": None}
        return inputs

    def __call__(self, inputs, *args, **kwargs):
        return super().__call__(self._with_segment_ids(inputs), *args, **kwargs)

    def stateless_call(self, trainable_variables, non_trainable_variables, inputs, *args, **kwargs):
        """The JAX backend's trainer (and `jax.jit` users) call this instead of `__call__`."""
        return super().stateless_call(trainable_variables, non_trainable_variables,
                                      self._with_segment_ids(inputs), *args, **kwargs)


def logits_dtype(backbone):
    """Heads emit float32 logits under mixed precision (stable losses), else the model's own dtype."""
    policy = backbone.dtype_policy
    return "float32" if policy.compute_dtype in ("float16", "bfloat16") else policy


def hat_kernel_initializer(stddev=0.02):
    return keras.initializers.TruncatedNormal(stddev=stddev)


@keras.saving.register_keras_serializable(package="hat_keras")
class HATBackbone(OptionalSegmentIds, Backbone):
    """Hierarchical Attention Transformer encoder.

    Inputs (int32, shape (B, N·K) for any 1 <= N <= max_segments): `token_ids`, `padding_mask` and,
    optionally, `segment_ids` (token types; zeros when absent).
    Outputs: `sequence_output` (B, N·K, H) and `segment_output` (B, N, H), the first token of each segment.

    Args:
        layout: "S|SD|D|…", one block per layer (S segment-wise, D cross-segment, SD both).
        segment_length: K, tokens per segment (config `max_sentence_length`).
        max_segments: N_max (config `max_sentences`).
        use_segment_position_embeddings: False reproduces the released checkpoints (the tables are a
            no-op there); True reproduces GitHub HEAD (spec §0.1).
        attention_mask_value: the additive bias for masked keys. None (default) is float32 min, as upstream.
            A bounded value (e.g. -1e4) is exact to float32 rounding for every row with a real key and lets
            full-int8 TFLite calibrate the attention logits; only fully padded segments move slightly.
        compact: opt-in. Heads pool over real segments only (first token not padding), so trailing padded
            segments have no effect and can be dropped (`hat_keras.inference`): latency follows document
            length. Real tokens never depend on padded segments (they are masked as cross-segment keys),
            so only pooled heads differ from the default, which stays faithful to the released checkpoints.
    """
    architectures = ("HATModel",)  # the upstream class name written to config.json

    def __init__(self, vocabulary_size, hidden_dim, num_heads, intermediate_dim, layout, segment_length=128,
                 max_segments=8, type_vocab_size=2, pad_token_id=0, layer_norm_epsilon=1e-12, dropout=0.1,
                 attention_dropout=0.1, hidden_act="gelu", use_segment_position_embeddings=False,
                 initializer_range=0.02, attention_mask_value=None, compact=False, dtype=None, **kwargs):
        layout = layout_to_string(layout_from_string(layout))  # validates and normalises
        blocks = layout.split("|")
        init = lambda: hat_kernel_initializer(initializer_range)  # noqa: E731

        # === Layers ===
        self.token_embedding = PaddingAwareEmbedding(vocabulary_size, hidden_dim, padding_idx=pad_token_id,
                                                     embeddings_initializer=init(), dtype=dtype,
                                                     name="token_embedding")
        self.position_ids = HATPositionIds(segment_length, max_segments, pad_token_id, dtype=dtype,
                                           name="position_ids")
        self.position_embedding = PaddingAwareEmbedding(segment_length + pad_token_id + 1, hidden_dim,
                                                        padding_idx=pad_token_id, tie_weights=True,
                                                        embeddings_initializer=init(), dtype=dtype,
                                                        name="position_embedding")
        self.segment_embedding = keras.layers.Embedding(type_vocab_size, hidden_dim, embeddings_initializer=init(),
                                                        dtype=dtype, name="segment_embedding")
        self.embeddings_add = keras.layers.Add(dtype=dtype, name="embeddings_add")
        self.embeddings_layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=dtype,
                                                                     name="embeddings_layer_norm")
        self.embeddings_dropout = keras.layers.Dropout(dropout, dtype=dtype, name="embeddings_dropout")
        self.attention_bias = HATAttentionBias(
            segment_length, **({} if attention_mask_value is None else {"mask_value": float(attention_mask_value)}),
            dtype=dtype, name="attention_bias")
        self.hat_layers = [
            HATLayer("S" in b, "D" in b, hidden_dim=hidden_dim, num_heads=num_heads,
                     intermediate_dim=intermediate_dim, segment_length=segment_length, max_segments=max_segments,
                     hidden_act=hidden_act, layer_norm_epsilon=layer_norm_epsilon, dropout=dropout,
                     attention_dropout=attention_dropout,
                     use_segment_position_embeddings=use_segment_position_embeddings,
                     kernel_initializer=keras.initializers.serialize(init()), dtype=dtype, name=f"hat_layer_{i}")
            for i, b in enumerate(blocks)
        ]

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids", optional=True)
        x = self.embeddings_add((
            self.token_embedding(token_ids),
            self.segment_embedding(_zeros_if_none(segment_ids, token_ids)),
            self.position_embedding(self.position_ids(token_ids)),
        ))
        x = self.embeddings_dropout(self.embeddings_layer_norm(x))
        segment_bias, document_bias, segment_positions = self.attention_bias(padding_mask)
        for layer in self.hat_layers[:-1]:
            x = layer(x, segment_bias, document_bias, segment_positions)
        # The last layer twice (shared weights): in full, and for the segments' first tokens only. Heads that
        # read segment representations depend on the second alone, so compiled graphs skip the full one.
        segment_output = self.hat_layers[-1](x, segment_bias, document_bias, segment_positions, first_only=True)
        x = self.hat_layers[-1](x, segment_bias, document_bias, segment_positions)
        super().__init__(
            inputs={"token_ids": token_ids, "padding_mask": padding_mask, "segment_ids": segment_ids},
            outputs={"sequence_output": x, "segment_output": segment_output},
            dtype=dtype, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.layout = layout
        self.num_layers = len(blocks)
        self.segment_length = segment_length
        self.max_segments = max_segments
        self.type_vocab_size = type_vocab_size
        self.pad_token_id = pad_token_id
        self.layer_norm_epsilon = layer_norm_epsilon
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.hidden_act = hidden_act
        self.use_segment_position_embeddings = use_segment_position_embeddings
        self.initializer_range = initializer_range
        self.attention_mask_value = attention_mask_value
        self.compact = bool(compact)

    @property
    def max_sequence_length(self):
        return self.segment_length * self.max_segments

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary_size": self.vocabulary_size, "hidden_dim": self.hidden_dim, "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim, "layout": self.layout,
            "segment_length": self.segment_length, "max_segments": self.max_segments,
            "type_vocab_size": self.type_vocab_size, "pad_token_id": self.pad_token_id,
            "layer_norm_epsilon": self.layer_norm_epsilon, "dropout": self.dropout,
            "attention_dropout": self.attention_dropout, "hidden_act": self.hidden_act,
            "use_segment_position_embeddings": self.use_segment_position_embeddings,
            "initializer_range": self.initializer_range,
        })
        if self.attention_mask_value is not None:
            config["attention_mask_value"] = self.attention_mask_value
        if self.compact:
            config["compact"] = True
        return config

    @classmethod
    def from_hat_config(cls, config, **overrides):
        """Build (random weights) from a HATConfig."""
        kwargs = config.backbone_kwargs()
        kwargs["initializer_range"] = config.get("initializer_range", 0.02)
        kwargs.update(overrides)
        return cls(**kwargs)


@keras.saving.register_keras_serializable(package="hat_keras")
class ZerosLikeIfNone(keras.layers.Layer):
    """Token types default to zeros when the optional `segment_ids` input is not given."""

    def call(self, segment_ids, token_ids):
        if segment_ids is None:
            return ops.zeros_like(token_ids)
        return segment_ids

    def compute_output_spec(self, segment_ids, token_ids):
        return keras.KerasTensor(token_ids.shape, dtype="int32")


def _zeros_if_none(segment_ids, token_ids):
    return ZerosLikeIfNone(name="default_segment_ids")(segment_ids, token_ids)

