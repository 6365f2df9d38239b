"""HATTokenClassifier: per-token labels. Upstream's HATForTokenClassification crashes at construction
(`add_pooling_layer`, spec §3.5); this is the working head it meant: dropout -> Linear(H, num_labels)."""
import keras
from keras_hub.models import Task

from hat_keras.models.backbone import hat_kernel_initializer, logits_dtype
from hat_keras.models.task import HATTask
from hat_keras.models.weight_map import dense_ports


@keras.saving.register_keras_serializable(package="hat_keras")
class HATTokenClassifier(HATTask, Task):
    """sequence_output (B, S, H) -> logits (B, S, num_classes); label -100 is ignored, as in transformers."""

    task_names = ("token_classifier",)
    architectures = ("HATForTokenClassification",)

    def __init__(self, backbone, num_classes, dropout=None, preprocessor=None, **kwargs):
        dropout = backbone.dropout if dropout is None else dropout
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.output_dropout = keras.layers.Dropout(dropout, dtype=backbone.dtype_policy, name="output_dropout")
        self.output_dense = keras.layers.Dense(num_classes, kernel_initializer=hat_kernel_initializer(
            backbone.initializer_range), dtype=logits_dtype(backbone), name="logits")
        # === Config ===
        self.num_classes = num_classes
        self.dropout = dropout
        # === Functional Model ===
        inputs = backbone.input
        logits = self.output_dense(self.output_dropout(backbone(inputs)["sequence_output"]))
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

    @classmethod
    def from_hat_config(cls, config, backbone, state=None, pooling=None, **kwargs):
        return cls(backbone, config.num_labels, dropout=config.classifier_dropout_rate, **kwargs)

    def head_ports(self):
        return dense_ports("classifier", self.output_dense)

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-100)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "dropout": self.dropout}
