"""HATSequentialSentenceClassifier: one prediction per segment (spec §3.3)."""
import keras
from keras_hub.models import Task

from hat_keras.models.backbone import hat_kernel_initializer, logits_dtype
from hat_keras.models.heads import MaskedBinaryCrossentropy, classification_loss
from hat_keras.models.task import PROBLEM_TYPES, HATTask, check_problem_type
from hat_keras.models.weight_map import dense_ports
from hat_keras.tokenization.preprocessors import HATSequentialSentenceClassifierPreprocessor


@keras.saving.register_keras_serializable(package="hat_keras")
class HATSequentialSentenceClassifier(HATTask, Task):
    """segment_output (B, N, H) -> tanh(dense) ("sentencizer") -> dropout -> logits (B, N, num_classes).

    Labels of padded segments are -1 (upstream pads them so); both default losses skip them.
    """

    preprocessor_cls = HATSequentialSentenceClassifierPreprocessor
    task_names = ("sequential_sentence_classifier", "seqsentcls")
    architectures = ("HATModelForSequentialSentenceClassification",)
    head_prefixes = ("sentencizer.", "classifier.")

    def __init__(self, backbone, num_classes, problem_type="multi_label_classification", dropout=None,
                 preprocessor=None, **kwargs):
        check_problem_type(problem_type, PROBLEM_TYPES[:2])
        dropout = backbone.dropout if dropout is None else dropout
        init = lambda: hat_kernel_initializer(backbone.initializer_range)  # noqa: E731
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.sentencizer = keras.layers.Dense(backbone.hidden_dim, activation="tanh", kernel_initializer=init(),
                                              dtype=backbone.dtype_policy, name="sentencizer")
        self.output_dropout = keras.layers.Dropout(dropout, dtype=backbone.dtype_policy, name="output_dropout")
        self.output_dense = keras.layers.Dense(num_classes, kernel_initializer=init(), dtype=logits_dtype(backbone),
                                               name="logits")
        # === Config ===
        self.num_classes = num_classes
        self.problem_type = problem_type
        self.dropout = dropout
        # === Functional Model ===
        inputs = backbone.input
        segments = backbone(inputs)["segment_output"]
        logits = self.output_dense(self.output_dropout(self.sentencizer(segments)))
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

    @classmethod
    def from_hat_config(cls, config, backbone, state=None, pooling=None, **kwargs):
        return cls(backbone, config.num_labels, problem_type=config.get("problem_type") or "multi_label_classification",
                   dropout=config.classifier_dropout_rate, **kwargs)

    def head_ports(self):
        return dense_ports("sentencizer.dense", self.sentencizer) + dense_ports("classifier", self.output_dense)

    def default_loss(self):
        if self.problem_type == "multi_label_classification":
            return MaskedBinaryCrossentropy()
        return classification_loss(self.problem_type, ignore_class=-1)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "problem_type": self.problem_type,
                "dropout": self.dropout}
