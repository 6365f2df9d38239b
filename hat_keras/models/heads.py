"""Small layers and losses shared by the task heads."""
import keras
from keras import ops

@keras.saving.register_keras_serializable(package="hat_keras")
class FlattenChoices(keras.layers.Layer):
    """(B, C, S) inputs -> (B·C, S), as upstream's multiple-choice head does; token types default to 0."""

    def call(self, token_ids, padding_mask, segment_ids=None):
        S = ops.shape(token_ids)[-1]
        if segment_ids is None:
            segment_ids = ops.zeros_like(token_ids)
        return tuple(ops.reshape(t, (-1, S)) for t in (token_ids, padding_mask, segment_ids))

    def compute_output_spec(self, token_ids, padding_mask, segment_ids=None):
        b, c, s = token_ids.shape
        n = None if (b is None or c is None) else b * c
        return tuple(keras.KerasTensor((n, s), "int32") for _ in range(3))


@keras.saving.register_keras_serializable(package="hat_keras")
class UnflattenChoices(keras.layers.Layer):
    """(B·C, 1) scores -> (B, C) logits, C read from the original (B, C, S) ids."""

    def call(self, scores, token_ids):
        return ops.reshape(scores, (-1, ops.shape(token_ids)[1]))

    def compute_output_spec(self, scores, token_ids):
        return keras.KerasTensor(token_ids.shape[:2], scores.dtype)


@keras.saving.register_keras_serializable(package="hat_keras")
class MaskedBinaryCrossentropy(keras.losses.Loss):
    """Multi-label BCE on logits that skips rows whose first label is -1 (padded segments upstream)."""

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        keep = ops.cast(ops.not_equal(y_true[..., :1], -1.0), y_pred.dtype)
        per = keras.losses.binary_crossentropy(ops.maximum(y_true, 0.0), y_pred, from_logits=True)
        per = per * keep[..., 0]
        return ops.sum(per) / ops.maximum(ops.sum(keep), 1.0)


def classification_loss(problem_type, ignore_class=None):
    """HF `problem_type` -> Keras loss on logits (spec §3.2)."""
    if problem_type == "regression":
        return keras.losses.MeanSquaredError()
    if problem_type == "multi_label_classification":
        return keras.losses.BinaryCrossentropy(from_logits=True)
    if problem_type == "single_label_classification":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=ignore_class)
    raise ValueError(f"problem_type={problem_type!r}: not a classification or regression problem type")
