"""HATTextClassifier: document classification (spec §3.2), single-/multi-label or regression."""
import keras
import numpy as np
from keras_hub.models import TextClassifier

from hat_keras.models.weight_map import dense_ports, pooler_ports
from hat_keras.layers import HATPooler
from hat_keras.models.backbone import hat_kernel_initializer, logits_dtype
from hat_keras.models.heads import classification_loss
from hat_keras.models.metrics import classification_metrics
from hat_keras.models.task import HATTask, check_problem_type, label_names_of
from hat_keras.tokenization.preprocessors import HATTextClassifierPreprocessor


@keras.saving.register_keras_serializable(package="hat_keras")
class HATTextClassifier(HATTask, TextClassifier):
    """pooling (`max` default, `attentive`, `first`, `last`) -> tanh(dense) -> dropout -> logits.

    `last` reads the first token of the last segment (upstream hard-codes index −128, which is −K for
    every released model). `problem_type` picks the default loss as transformers does. `label_names`
    (optional) travel with the model into `.keras` files and exports.
    """

    preprocessor_cls = HATTextClassifierPreprocessor
    task_names = ("text_classifier", "classifier", "seqcls", "classify")
    architectures = ("HATForSequenceClassification",)
    head_prefixes = ("classifier.",)
    # training: fine-tuning on labelled documents (a new head on the encoder); serving exports take it
    supports_training = True
    document_classifier = True
    train_options = ("label_field", "num_labels", "pooling", "compact")
    default_learning_rate = 3e-5

    def __init__(self, backbone, num_classes, pooling="max", problem_type="single_label_classification",
                 dropout=None, label_names=None, preprocessor=None, **kwargs):
        check_problem_type(problem_type)
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

    def predict(self, x, *args, **kwargs):
        """Keras' `predict`; a batch of no documents gives logits of shape (0, num_classes), as the exported
        SavedModel's signatures do (Keras' own fails on a dataset without a batch)."""
        if _empty_batch(x):
            return np.zeros((0, self.num_classes), np.float32)
        return super().predict(x, *args, **kwargs)

    @classmethod
    def from_hat_config(cls, config, backbone, state=None, pooling=None, label_names=None, **kwargs):
        return cls(backbone, config.num_labels, pooling=pooling or default_pooling(state, "max"),
                   problem_type=config.get("problem_type") or "single_label_classification",
                   dropout=config.classifier_dropout_rate, label_names=label_names or label_names_of(config),
                   **kwargs)

    @classmethod
    def training_overrides(cls, examples, args):
        """A new head sized to the data: their classes (or `args.num_labels`), multi-label when the label
        field is a list, `args.pooling`, a compact backbone with `args.compact` (else as the folder's config
        says); the data's label names travel with it into best.keras."""
        num_classes = examples.num_classes or args.num_labels
        if not num_classes:
            raise ValueError(f"{args.train_data}: the data do not name their labels; pass num_labels")
        return {"num_labels": num_classes, "pooling": args.pooling,
                "problem_type": "multi_label_classification" if examples.multi_label else "single_label_classification",
                "label_names": [str(n) for n in examples.label_names] if examples.label_names else None,
                **({"compact": True} if getattr(args, "compact", False) else {})}

    @classmethod
    def pretokenized_preprocessor(cls, backbone, args):
        from hat_keras.tokenization.pretokenized import PretokenizedClassifierInputs  # TensorFlow: only when training

        return PretokenizedClassifierInputs()

    @classmethod
    def default_checkpoint_interval(cls, steps_per_epoch):
        """One data epoch (fine-tuning runs are a few epochs), 1000 steps when the size is unknown."""
        return steps_per_epoch or 1000

    @classmethod
    def default_monitor(cls, evaluating):
        return "val_macro_f1" if evaluating else "loss"

    def head_ports(self):
        return pooler_ports(self.pooler) + dense_ports("classifier", self.output_dense)

    def default_loss(self):
        return classification_loss(self.problem_type)

    def default_metrics(self):
        return classification_metrics(self.num_classes, self.problem_type)

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "pooling": self.pooling,
                       "problem_type": self.problem_type, "dropout": self.dropout,
                       "label_names": self.label_names})
        config.pop("activation", None)
        return config


def default_pooling(state, fallback):
    """Attentive pooling where the checkpoint holds its weights (upstream's constructor argument)."""
    if state is not None and any(k.startswith("pooler.attentive_pooling.") for k in state):
        return "attentive"
    return fallback


def _empty_batch(x):
    """Whether `x` (a list of texts, an array, a dict of model inputs) holds zero examples."""
    if isinstance(x, dict):
        return bool(x) and all(_empty_batch(v) for v in x.values())
    if isinstance(x, (str, bytes)):
        return False
    shape = getattr(x, "shape", None)
    if shape is not None:
        return len(shape) > 0 and shape[0] == 0
    return isinstance(x, (list, tuple)) and len(x) == 0
