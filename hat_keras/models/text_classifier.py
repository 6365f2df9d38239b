"""HATTextClassifier: document classification (spec §3.2), single-/multi-label or regression."""
import keras
from keras_hub.models import TextClassifier

from hat_keras.layers import HATPooler
from hat_keras.models.backbone import HATBackbone, OptionalSegmentIds, hat_kernel_initializer, logits_dtype
from hat_keras.models.heads import PROBLEM_TYPES, classification_loss, classification_metrics


@keras.saving.register_keras_serializable(package="hat_keras")
class HATTextClassifier(OptionalSegmentIds, TextClassifier):
    """pooling (`max` default, `attentive`, `first`, `last`) -> tanh(dense) -> dropout -> logits.

    `last` reads the first token of the last segment (upstream hard-codes index −128, which is −K for
    every released model). `problem_type` picks the default loss as transformers does. `label_names`
    (optional) travel with the model into `.keras` files and exports.
    """

    backbone_cls = HATBackbone
    preprocessor_cls = None

    def __init__(self, backbone, num_classes, pooling="max", problem_type="single_label_classification",
                 dropout=None, label_names=None, preprocessor=None, **kwargs):
        if problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type={problem_type!r}; choose one of {PROBLEM_TYPES}")
        dropout = backbone.dropout if dropout is None else dropout
        init = lambda: hat_kernel_initializer(backbone.initializer_range)  # noqa: E731
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.pooler = HATPooler(backbone.hidden_dim, pooling, backbone.segment_length, kernel_initializer=init(),
                                dtype=backbone.dtype_policy, name="pooler")
        self.output_dropout = keras.layers.Dropout(dropout, dtype=backbone.dtype_policy, name="output_dropout")
        self.output_dense = keras.layers.Dense(num_classes, kernel_initializer=init(), dtype=logits_dtype(backbone),
                                               name="logits")
        # === Config === (before the Functional init: Task.__init__ compiles, and compile reads these)
        self.num_classes = num_classes
        self.pooling = pooling
        self.problem_type = problem_type
        self.dropout = dropout
        self.label_names = None if label_names is None else [str(n) for n in label_names]
        self.activation = None
        # === Functional Model ===
        inputs = backbone.input
        segments = backbone(inputs)["segment_output"]  # pooling reads the segments' first tokens only
        pooled = self.pooler(segments, inputs["padding_mask"]) if getattr(backbone, "compact", False) \
            else self.pooler(segments)
        logits = self.output_dense(self.output_dropout(pooled))
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        if optimizer == "auto":
            optimizer = keras.optimizers.AdamW(3e-5, weight_decay=0.01)
        if loss == "auto":
            loss = classification_loss(self.problem_type)
        if metrics == "auto":
            metrics = classification_metrics(self.problem_type, self.num_classes)
        keras.Model.compile(self, optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "pooling": self.pooling,
                       "problem_type": self.problem_type, "dropout": self.dropout,
                       "label_names": self.label_names})
        config.pop("activation", None)
        return config
