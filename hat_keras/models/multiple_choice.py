"""HATMultipleChoice: inputs (B, C, N·K) -> logits (B, C) (spec §3.4)."""
import keras
from keras_hub.models import Task

from hat_keras.layers import HATPooler
from hat_keras.models.backbone import HATBackbone, OptionalSegmentIds, hat_kernel_initializer, logits_dtype
from hat_keras.models.heads import FlattenChoices, UnflattenChoices


@keras.saving.register_keras_serializable(package="hat_keras")
class HATMultipleChoice(OptionalSegmentIds, Task):
    """Each choice is encoded alone; pooling defaults to `last` (in QuALITY the option is the last segment)."""

    backbone_cls = HATBackbone
    preprocessor_cls = None

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
        self.output_dense = keras.layers.Dense(1, kernel_initializer=init(), dtype=logits_dtype(backbone), name="logits")
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

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        if optimizer == "auto":
            optimizer = keras.optimizers.AdamW(3e-5, weight_decay=0.01)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling, "dropout": self.dropout}
