"""One HAT layer (spec §2.5): segment-wise encoder (S), cross-segment encoder (D), or both (SD, S first)."""
import keras
from keras import ops

from hat_keras.layers.transformer_block import HATTransformerBlock, softmax_dtype

# transformers' extended attention mask constant (>= 4.21): fully masked rows become uniform, as upstream.
MASK_VALUE = float.fromhex("-0x1.fffffep+127")  # float32 min


@keras.saving.register_keras_serializable(package="hat_keras")
class HATAttentionBias(keras.layers.Layer):
    """Additive attention biases, computed once per forward pass.

    Returns (segment_bias (B·N, 1, 1, K), document_bias (B, 1, 1, N), segment_positions (B, N)):
    the segment bias masks pads inside each segment; the document bias masks segments whose *first token*
    is padding (spec §2.2); segment_positions is 1..N for real segments and 0 else (used only by the
    opt-in GitHub-HEAD mode).
    """

    def __init__(self, segment_length, mask_value=MASK_VALUE, **kwargs):
        super().__init__(**kwargs)
        self.segment_length = segment_length
        self.mask_value = mask_value

    def call(self, padding_mask):
        K = self.segment_length
        mask = ops.cast(padding_mask, softmax_dtype(self))
        bias = (1.0 - mask) * self.mask_value
        segment_bias = ops.reshape(bias, (-1, 1, 1, K))
        firsts = ops.reshape(mask, (ops.shape(mask)[0], -1, K))[:, :, 0]
        document_bias = ((1.0 - firsts) * self.mask_value)[:, None, None, :]
        n = ops.shape(firsts)[1]
        segment_positions = ops.cast(ops.arange(1, n + 1)[None, :], firsts.dtype) * firsts
        return segment_bias, document_bias, ops.cast(segment_positions, "int32")

    def compute_output_spec(self, padding_mask):
        b, s = padding_mask.shape
        n = None if s is None else s // self.segment_length
        nb = None if (b is None or n is None) else b * n
        dt = softmax_dtype(self)
        return (keras.KerasTensor((nb, 1, 1, self.segment_length), dt),
                keras.KerasTensor((b, 1, 1, n), dt),
                keras.KerasTensor((b, n), "int32"))

    def get_config(self):
        return {**super().get_config(), "segment_length": self.segment_length, "mask_value": self.mask_value}


@keras.saving.register_keras_serializable(package="hat_keras")
class HATLayer(keras.layers.Layer):
    """S: the block on every K-token segment; D: the block over the segments' first tokens, written back.

    A D layer owns a segment-position table (max_segments+1 rows). The released checkpoints were trained
    with code where adding it was a no-op (spec §0.1), so it is loaded and kept but unused unless
    `use_segment_position_embeddings=True` (GitHub HEAD semantics).
    """

    def __init__(self, sentence_encoder, document_encoder, hidden_dim, num_heads, intermediate_dim,
                 segment_length, max_segments, hidden_act="gelu", layer_norm_epsilon=1e-12, dropout=0.1,
                 attention_dropout=0.1, use_segment_position_embeddings=False, kernel_initializer="glorot_uniform",
                 **kwargs):
        kwargs.setdefault("autocast", False)  # the float32 mask bias stays float32 under mixed precision
        super().__init__(**kwargs)
        if not (sentence_encoder or document_encoder):
            raise ValueError("a HAT layer needs a sentence_encoder, a document_encoder or both")
        self.sentence_encoder = bool(sentence_encoder)
        self.document_encoder = bool(document_encoder)
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.segment_length = segment_length
        self.max_segments = max_segments
        self.hidden_act = hidden_act
        self.layer_norm_epsilon = layer_norm_epsilon
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.use_segment_position_embeddings = use_segment_position_embeddings
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        block = dict(hidden_dim=hidden_dim, num_heads=num_heads, intermediate_dim=intermediate_dim,
                     hidden_act=hidden_act, layer_norm_epsilon=layer_norm_epsilon, dropout=dropout,
                     attention_dropout=attention_dropout,
                     kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
                     dtype=self.dtype_policy)
        self.segment_block = HATTransformerBlock(**block, name="segment_encoder") if sentence_encoder else None
        self.document_block = HATTransformerBlock(**block, name="document_encoder") if document_encoder else None
        self.segment_position_embedding = keras.layers.Embedding(
            max_segments + 1, hidden_dim, embeddings_initializer=keras.initializers.serialize(self.kernel_initializer),
            dtype=self.dtype_policy, name="segment_position_embedding") if document_encoder else None
        if self.segment_position_embedding is not None and not use_segment_position_embeddings:
            # Unused with checkpoint semantics (spec §0.1): kept for the round trip, not trained.
            self.segment_position_embedding.trainable = False

    def build(self, x_shape, *args):
        H, K = self.hidden_dim, self.segment_length
        if self.segment_block is not None:
            self.segment_block.build((None, K, H))
        if self.document_block is not None:
            self.document_block.build((None, None, H))
            self.segment_position_embedding.build((None, None))
        self.built = True

    def call(self, x, segment_bias, document_bias, segment_positions=None, training=None, first_only=False):
        """(B, N·K, H) -> (B, N·K, H); with first_only, -> (B, N, H): only the segments' first tokens, which
        is all that pooling heads read from the last layer (the rest of its work is skipped)."""
        K, H = self.segment_length, self.hidden_dim
        shape = ops.shape(x)
        batch, seq_len = shape[0], shape[1]
        if first_only:
            if self.segment_block is not None:
                firsts = self.segment_block(ops.reshape(x, (-1, K, H)), segment_bias, training=training,
                                            first_only=True)
                firsts = ops.reshape(firsts, (batch, -1, H))
            else:
                firsts = ops.reshape(x, (batch, -1, K, H))[:, :, 0, :]
            if self.document_block is not None:
                firsts = self._cross_segment(firsts, document_bias, segment_positions, training)
            return firsts
        if self.segment_block is not None:
            y = self.segment_block(ops.reshape(x, (-1, K, H)), segment_bias, training=training)
            x = ops.reshape(y, (batch, seq_len, H))
        if self.document_block is not None:
            segments = ops.reshape(x, (batch, -1, K, H))
            firsts = self._cross_segment(segments[:, :, 0, :], document_bias, segment_positions, training)
            segments = ops.concatenate([firsts[:, :, None, :], segments[:, :, 1:, :]], axis=2)
            x = ops.reshape(segments, (batch, seq_len, H))
        return x

    def _cross_segment(self, firsts, document_bias, segment_positions, training):
        if self.use_segment_position_embeddings:
            firsts = firsts + self.segment_position_embedding(segment_positions)
        return self.document_block(firsts, document_bias, training=training)

    def compute_output_spec(self, x, *args, first_only=False, **kwargs):
        if not first_only:
            return keras.KerasTensor(x.shape, x.dtype)
        n = None if x.shape[1] is None else x.shape[1] // self.segment_length
        return keras.KerasTensor((x.shape[0], n, self.hidden_dim), x.dtype)

    @property
    def kind(self):
        return ("S" if self.sentence_encoder else "") + ("D" if self.document_encoder else "")

    def get_config(self):
        return {**super().get_config(), "sentence_encoder": self.sentence_encoder,
                "document_encoder": self.document_encoder, "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads, "intermediate_dim": self.intermediate_dim,
                "segment_length": self.segment_length, "max_segments": self.max_segments,
                "hidden_act": self.hidden_act, "layer_norm_epsilon": self.layer_norm_epsilon,
                "dropout": self.dropout, "attention_dropout": self.attention_dropout,
                "use_segment_position_embeddings": self.use_segment_position_embeddings,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
