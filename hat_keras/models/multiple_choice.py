"""HATMultipleChoice: inputs (B, C, N·K) -> logits (B, C) (spec §3.4)."""
import keras
from keras_hub.models import Task

from hat_keras.layers import HATPooler
from hat_keras.models.backbone import hat_kernel_initializer, logits_dtype
from hat_keras.models.heads import FlattenChoices, UnflattenChoices
from hat_keras.models.task import HATTask
from hat_keras.models.text_classifier import default_pooling
from hat_keras.models.weight_map import dense_ports, pooler_ports
from hat_keras.tokenization.preprocessors import HATMultipleChoicePreprocessor


@keras.saving.register_keras_serializable(package="hat_keras")
class HATMultipleChoice(HATTask, Task):
    """Each choice is encoded alone; pooling defaults to `last` (in QuALITY the option is the last segment)."""

    preprocessor_cls = HATMultipleChoicePreprocessor
    task_names = ("multiple_choice", "multiplechoice")
    architectures = ("HATForMultipleChoice",)
    head_prefixes = ()  # the same keys as a text classifier's: only `architectures` tells them apart

    def __init__(self, backbone, pooling="last", dropout=None, preprocessor=None, **kwargs):
        dropout = backbone.dropout if dropout is None else dropout
        init = lambda: hat_kernel_initializer(backbone.initializer_range)  # noqa: E731
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.flatten_choices = FlattenChoices(name="flatten_choices")
        self.pooler = HATPooler(backbone.hidden_dim, pooling, backbone.segment_length, kernel_initializer=init(),
                                dtype=backbone.dtype_policy, name="pooler")
        self.output_dropout = keras.layers.Dropout(dropout, dtype=backbone.dtype_policy, name="output_dropout")
        self.output_dense = keras.layers.Dense(1, kernel_initializer=init(), dtype=logits_dtype(backbone),
                                               name="logits")
        self.unflatten_choices = UnflattenChoices(dtype=logits_dtype(backbone), name="unflatten_choices")
        # === Config ===
        self.pooling = pooling
        self.dropout = dropout
        # === Functional Model ===
        inputs = {"token_ids": keras.Input(shape=(None, None), dtype="int32", name="token_ids"),
                  "padding_mask": keras.Input(shape=(None, None), dtype="int32", name="padding_mask"),
                  "segment_ids": keras.Input(shape=(None, None), dtype="int32", name="segment_ids", optional=True)}
        ids, mask, seg = self.flatten_choices(inputs["token_ids"], inputs["padding_mask"], inputs["segment_ids"])
        segments = backbone({"token_ids": ids, "padding_mask": mask, "segment_ids": seg})["segment_output"]
        pooled = self.pooler(segments, mask) if getattr(backbone, "compact", False) else self.pooler(segments)
        scores = self.output_dense(self.output_dropout(pooled))
        logits = self.unflatten_choices(scores, inputs["token_ids"])
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

    @classmethod
    def from_hat_config(cls, config, backbone, state=None, pooling=None, **kwargs):
        return cls(backbone, pooling=pooling or default_pooling(state, "last"),
                   dropout=config.classifier_dropout_rate, **kwargs)

    def head_ports(self):
        return pooler_ports(self.pooler) + dense_ports("classifier", self.output_dense)

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def default_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling, "dropout": self.dropout}
