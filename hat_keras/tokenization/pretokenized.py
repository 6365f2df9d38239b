"""Preprocessors for pre-tokenized examples ({"token_ids", "padding_mask"} from TFRecords): an MLM masker
and the classifier's pass-through. They sit here, beside the text preprocessors, so a task model file can
name its own (`HATTask.pretokenized_preprocessor`) without importing the training package."""
import keras_hub
import tensorflow as tf

MASK_RATE = 0.15


def mask_selection_length(sequence_length, rate=MASK_RATE):
    """Fixed number of mask slots per example: enough for `rate` of the tokens (rounded up, +10 %)."""
    return max(1, int(round(sequence_length * rate * 1.1 + 0.5)))


class PretokenizedMasker:
    """MLM masking for pre-tokenized examples ({"token_ids", "padding_mask"}) -> (x, y, sample_weight),
    the same triple as the text MLM preprocessor (80/10/10 mask/random/keep, 15 % of real tokens)."""

    def __init__(self, vocabulary_size, mask_token_id, unselectable_token_ids, sequence_length,
                 rate=MASK_RATE, selection_length=None):
        self.selection_length = selection_length or mask_selection_length(sequence_length, rate)
        self.generator = keras_hub.layers.MaskedLMMaskGenerator(
            vocabulary_size, rate, mask_selection_length=self.selection_length, mask_token_id=mask_token_id,
            unselectable_token_ids=list(unselectable_token_ids))

    def __call__(self, x, y=None, sample_weight=None):
        m = self.generator(x["token_ids"])
        inputs = {"token_ids": tf.cast(m["token_ids"], tf.int32), "padding_mask": tf.cast(x["padding_mask"], tf.int32),
                  "mask_positions": tf.cast(m["mask_positions"], tf.int32)}
        return inputs, tf.cast(m["mask_ids"], tf.int32), tf.cast(m["mask_weights"], tf.float32)


class PretokenizedClassifierInputs:
    """Pre-tokenized example + label -> (x, y[, sample_weight]) for the classifier."""

    def __call__(self, x, y=None, sample_weight=None):
        inputs = {"token_ids": tf.cast(x["token_ids"], tf.int32), "padding_mask": tf.cast(x["padding_mask"], tf.int32)}
        if sample_weight is not None:
            return inputs, y, sample_weight
        return inputs if y is None else (inputs, y)
