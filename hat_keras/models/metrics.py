"""Metrics on logits, the tasks' defaults: classification accuracy and F1, MLM accuracy on masked positions,
and the loss as an exact mean over real examples.

Keras' `F1Score` wants one-hot targets and probabilities; the HAT heads give sparse labels (or
multi-hot rows) and logits, so `LogitsF1Score` applies softmax / sigmoid first (a multi-label class is
predicted where its probability exceeds 0.5, i.e. where its logit is positive).
"""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hat_keras")
class LogitsF1Score(keras.metrics.F1Score):
    """F1 (micro/macro) from logits: softmax + one-hot sparse labels, or sigmoid for multi-label rows."""

    def __init__(self, num_classes, average="macro", multi_label=False, name=None, **kwargs):
        kwargs.pop("threshold", None)
        super().__init__(average=average, threshold=0.5 if multi_label else None,
                         name=name or f"{average}_f1", **kwargs)
        self.num_classes = int(num_classes)
        self.multi_label = bool(multi_label)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(y_pred, "float32")
        if self.multi_label:
            y_true = ops.cast(ops.maximum(ops.cast(y_true, "float32"), 0.0), "float32")
            probs = ops.sigmoid(y_pred)
        else:
            y_true = ops.one_hot(ops.reshape(ops.cast(y_true, "int32"), (-1,)), self.num_classes)
            probs = ops.softmax(y_pred, axis=-1)
        return super().update_state(y_true, probs, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "multi_label": self.multi_label})
        config.pop("threshold", None)
        return config


def mlm_weighted_metrics():
    """Accuracy at masked positions only: pass as `weighted_metrics` (the preprocessor's sample weights are
    1 at real masked positions and 0 at the padding of `mask_positions`)."""
    return [keras.metrics.SparseCategoricalAccuracy(name="masked_accuracy")]


def classification_metrics(num_classes, problem_type="single_label_classification"):
    """Accuracy, micro F1 and macro F1 (multi-label rows: element-wise accuracy at probability 0.5);
    mean absolute error for regression."""
    if problem_type == "regression":
        return [keras.metrics.MeanAbsoluteError()]
    multi_label = problem_type == "multi_label_classification"
    acc = (keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy") if multi_label
           else keras.metrics.SparseCategoricalAccuracy(name="accuracy"))
    return [acc, LogitsF1Score(num_classes, "micro", multi_label), LogitsF1Score(num_classes, "macro", multi_label)]


@keras.saving.register_keras_serializable(package="hat_keras")
class ExactLoss(keras.metrics.Mean):
    """The loss as sum(weight x loss) / sum(weight) over every batch seen: the exact mean over the real
    examples (MLM: the real masked tokens), whatever the batch size or device count.

    Keras' own "loss" is each batch's sum-over-batch-size loss averaged by row count, so the weight-0 rows
    that fill a padded evaluation batch (and an MLM's unused mask slots) count in its denominator. Compiled
    as a weighted metric named "loss" it replaces that value in the logs (`Model.metrics` lists the
    compiled metrics after the loss tracker), so `val_loss`, the monitor and the reports read this one."""

    def __init__(self, loss, name="loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.loss = keras.losses.get(loss)

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self.loss.call(y_true, ops.cast(y_pred, "float32"))  # per example (or token), unreduced
        return super().update_state(values, sample_weight)

    def get_config(self):
        return {**super().get_config(), "loss": keras.losses.serialize(self.loss)}
