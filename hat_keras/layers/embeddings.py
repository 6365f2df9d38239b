"""HAT embeddings: word + token type + per-segment position (spec §2.3), then LayerNorm and dropout."""
import keras
from keras import ops


def _stop_gradient_where(ids, pad_id, values):
    """PyTorch `nn.Embedding(padding_idx=pad)` gives the pad row no lookup gradient; do the same."""
    is_pad = ops.expand_dims(ops.equal(ids, pad_id), -1)
    return ops.where(is_pad, ops.stop_gradient(values), values)


@keras.saving.register_keras_serializable(package="hat_keras")
class PaddingAwareEmbedding(keras.layers.ReversibleEmbedding):
    """A (reversible, tied) embedding whose `padding_idx` row receives no gradient from lookups.

    The reverse (decoder) use still trains every row, as the tied PyTorch LM decoder does.
    """

    def __init__(self, input_dim, output_dim, padding_idx=None, **kwargs):
        super().__init__(input_dim, output_dim, **kwargs)
        self.padding_idx = padding_idx

    def call(self, inputs, reverse=False):
        out = super().call(inputs, reverse=reverse)
        if reverse or self.padding_idx is None:
            return out
        return _stop_gradient_where(inputs, self.padding_idx, out)

    def get_config(self):
        return {**super().get_config(), "padding_idx": self.padding_idx}


@keras.saving.register_keras_serializable(package="hat_keras")
class HATPositionIds(keras.layers.Layer):
    """Position ids restart in every segment: pos[t] = (t mod K + pad + 1) · [id != pad]; pads get 0.

    Derived from `token_ids != pad`, not from the padding mask, as upstream does (spec §2.3, quirk Q3).
    """

    def __init__(self, segment_length, max_segments, pad_token_id, **kwargs):
        super().__init__(**kwargs)
        self.segment_length = segment_length
        self.max_segments = max_segments
        self.pad_token_id = pad_token_id

    def call(self, token_ids):
        check_sequence_length(token_ids.shape[-1], self.segment_length, self.max_segments)
        seq_len = ops.shape(token_ids)[-1]
        offsets = ops.mod(ops.arange(seq_len, dtype="int32"), self.segment_length) + self.pad_token_id + 1
        real = ops.cast(ops.not_equal(token_ids, self.pad_token_id), "int32")
        return offsets[None, :] * real

    def compute_output_spec(self, token_ids):
        return keras.KerasTensor(token_ids.shape, dtype="int32")

    def get_config(self):
        return {**super().get_config(), "segment_length": self.segment_length,
                "max_segments": self.max_segments, "pad_token_id": self.pad_token_id}


def check_sequence_length(seq_len, segment_length, max_segments):
    """HAT reshapes the sequence into segments: its length must be N·K with 1 <= N <= max_segments."""
    if seq_len is None:
        return
    seq_len = int(seq_len)
    if seq_len % segment_length or seq_len == 0:
        raise ValueError(f"sequence length {seq_len} is not a positive multiple of the segment length "
                         f"(segment_length) {segment_length}; pad it to a multiple of {segment_length}")
    if seq_len > segment_length * max_segments:
        raise ValueError(f"sequence length {seq_len} is longer than max_segments·K = {max_segments}·{segment_length} "
                         f"= {segment_length * max_segments} tokens; truncate it, or grow the model with "
                         "`hat-keras extend-context`")
