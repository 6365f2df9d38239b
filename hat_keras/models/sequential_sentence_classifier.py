"""HATSequentialSentenceClassifier: one prediction per segment (spec §3.3)."""
import keras
from keras_hub.models import Task

from hat_keras.models.backbone import HATBackbone, OptionalSegmentIds, hat_kernel_initializer, logits_dtype
from hat_keras.models.heads import PROBLEM_TYPES, MaskedBinaryCrossentropy, classification_loss


@keras.saving.register_keras_serializable(package="hat_keras")
class HATSequentialSentenceClassifier(OptionalSegmentIds, Task):
    """segment_output (B, N, H) -> tanh(dense) ("sentencizer") -> dropout -> logits (B, N, num_classes).

    Labels of padded segments are -1 (upstream pads them so); both default losses skip them.
    """

    backbone_cls = HATBackbone
    preprocessor_cls = None

    def __init__(self, backbone, num_classes, problem_type="multi_label_classification", dropout=None,
                 preprocessor=None, **kwargs):
        if problem_type not in PROBLEM_TYPES[:2]:
            raise ValueError(f"problem_type={problem_type!r}; choose one of {PROBLEM_TYPES[:2]}")
        dropout = backbone.dropout if dropout is None else dropout
        init = lambda: hat_kernel_initializer(backbone.initializer_range)  # noqa: E731
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.sentencizer = keras.layers.Dense(backbone.hidden_dim, activation="tanh", kernel_initializer=init(),
                                              dtype=backbone.dtype_policy, name="sentencizer")
        self.output_dropout = keras.layers.Dropout(dropout, dtype=backbone.dtype_policy, name="output_dropout")
        self.output_dense = keras.layers.Dense(num_classes, kernel_initializer=init(), dtype=logits_dtype(backbone), name="logits")
        # === Config ===
        self.num_classes = num_classes
        self.problem_type = problem_type
        self.dropout = dropout
        # === Functional Model ===
        inputs = backbone.input
        segments = backbone(inputs)["segment_output"]
        logits = self.output_dense(self.output_dropout(self.sentencizer(segments)))
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        if optimizer == "auto":
            optimizer = keras.optimizers.AdamW(3e-5, weight_decay=0.01)
        if loss == "auto":
            loss = (MaskedBinaryCrossentropy() if self.problem_type == "multi_label_classification"
                    else classification_loss(self.problem_type, ignore_class=-1))
        if metrics == "auto":
            metrics = None
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "problem_type": self.problem_type,
                "dropout": self.dropout}
