"""`HATTask`: the base of every HAT task model, and the one registry of tasks.

A task class says everything the rest of the package needs to know about its head, so the converter,
exporters, CLI and training find tasks here instead of keeping their own tables:
- `task_names`: the names `load(task=...)` and `--task` accept (the first is canonical);
- `architectures`: upstream class names in config.json `architectures` (the first is written back);
- `head_prefixes`: state-dict key prefixes that identify the head when `architectures` is absent (all must
  occur; the task with most prefixes wins);
- `from_hat_config`: build from a `HATConfig` (and the checkpoint's keys, for choices like pooling);
- `head_ports`: the head's weights as HF names (`hat_keras.convert.weight_map`);
- `default_loss` / `default_metrics`: what `compile()` uses for "auto" (and training compiles with);
- for training (`hat_keras.training.recipes.train`): `supports_training`, `train_options`, `data_fields`,
  `training_overrides`, `text_preprocessor`, `pretokenized_preprocessor`, `default_learning_rate`,
  `default_checkpoint_interval`, `default_monitor`;
- `document_classifier`: one prediction per document, what serving exports and `predict` take.
Adding a head = one model file deriving from `HATTask` (+ its import in `models/__init__.py`).
"""
import keras

from hat_keras.models.backbone import HATBackbone, OptionalSegmentIds

PROBLEM_TYPES = ("single_label_classification", "multi_label_classification", "regression")


class HATTask(OptionalSegmentIds):
    """Mixed in before a keras-hub task class (`Task`, `TextClassifier`, `MaskedLM`): a mixin, not a `Task`
    subclass, because Keras' Functional-class injection fails on diamond inheritance."""

    backbone_cls = HATBackbone
    preprocessor_cls = None
    task_names = ()
    architectures = ()
    head_prefixes = ()
    _registry = []
    # ---- what training and serving read (not `trainable`: that is every Keras layer's weight switch) ----
    supports_training = False     # `train()` accepts the task; the others are refused, naming these
    document_classifier = False   # one label (set) per document: what serving exports and `predict` take
    train_options = ()            # TrainArgs fields only this task reads (others are ignored, not recorded)
    default_learning_rate = 3e-5  # peak AdamW learning rate when TrainArgs.learning_rate is not given

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.task_names:
            HATTask._registry.append(cls)

    # ---- the registry ------------------------------------------------------------------------------
    @classmethod
    def tasks(cls):
        """Every registered task class, in definition order."""
        return list(HATTask._registry)

    @classmethod
    def names(cls):
        return ["backbone"] + [t.task_names[0] for t in HATTask._registry]

    @classmethod
    def trainable_tasks(cls):
        """The task classes `train()` accepts."""
        return [t for t in HATTask._registry if t.supports_training]

    @classmethod
    def resolve(cls, task):
        """A task name, alias or class -> the class (`HATBackbone` for "backbone")."""
        if isinstance(task, type) and issubclass(task, (HATTask, HATBackbone)):
            return task
        if task == "backbone":
            return HATBackbone
        for t in HATTask._registry:
            if task in t.task_names:
                return t
        raise ValueError(f"task={task!r}; choose one of {cls.names()}")

    @classmethod
    def for_architecture(cls, architecture):
        """Upstream class name -> task class (`HATBackbone` for HATModel), or None."""
        if architecture in HATBackbone.architectures:
            return HATBackbone
        return next((t for t in HATTask._registry if architecture in t.architectures), None)

    @classmethod
    def for_state(cls, state):
        """The task whose head keys the state dict holds (all its prefixes; the most specific task wins),
        or None (an encoder-only checkpoint)."""
        def holds(prefix):
            return any(k.startswith(prefix) for k in state)
        found = [t for t in HATTask._registry if t.head_prefixes and all(holds(p) for p in t.head_prefixes)]
        return max(found, key=lambda t: len(t.head_prefixes), default=None)

    @classmethod
    def architecture_of(cls, model):
        if type(model).architectures:
            return type(model).architectures[0]
        raise TypeError(f"{type(model).__name__} is not a HAT model")

    # ---- what each task defines --------------------------------------------------------------------
    @classmethod
    def from_hat_config(cls, config, backbone, state=None, pooling=None, **kwargs):
        """A new (randomly initialised) head on `backbone` for a HATConfig."""
        raise NotImplementedError(cls.__name__)

    def head_ports(self):
        raise NotImplementedError(type(self).__name__)

    def default_loss(self):
        raise NotImplementedError(type(self).__name__)

    def default_metrics(self):
        return None

    # ---- what training asks the task (classmethods: they run before the model exists) ----------------
    @classmethod
    def data_fields(cls, args):
        """(text field, label field(s) or None) to read from the data: labels only where the task takes
        `label_field`, so unlabelled data (MLM) need no label column."""
        return args.text_field, (args.label_field if "label_field" in cls.train_options else None)

    @classmethod
    def training_overrides(cls, examples, args):
        """`hat_keras.load` overrides that put the head to train on an HF-format folder, from the training
        `examples` and `args` (e.g. the classifier's class count); {} loads the head as saved."""
        return {}

    @classmethod
    def text_preprocessor(cls, tokenizer, backbone, args=None, **options):
        """`preprocessor_cls` for raw text, sized to the backbone (every example max_segments x
        segment_length tokens, so batches are static); `options` go to its constructor."""
        if cls.preprocessor_cls is None:
            raise ValueError(f"{cls.__name__} has no text preprocessor")
        return cls.preprocessor_cls(tokenizer, sequence_length=backbone.max_segments * backbone.segment_length,
                                    **options)

    @classmethod
    def pretokenized_preprocessor(cls, backbone, args):
        """The per-example preprocessor for pre-tokenized TFRecords ({"token_ids", "padding_mask"})."""
        raise ValueError(f"{cls.__name__} does not train on pre-tokenized data")

    @classmethod
    def default_checkpoint_interval(cls, steps_per_epoch):
        """Steps between checkpoints when TrainArgs.checkpoint_every is not given (`steps_per_epoch` is
        None when the data size is unknown)."""
        return 1000

    @classmethod
    def default_monitor(cls, evaluating):
        """The metric that picks the best checkpoint when TrainArgs.monitor is not given."""
        return "val_loss" if evaluating else "loss"

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """keras-hub's convention: "auto" picks AdamW(3e-5) and the task's own loss and metrics."""
        if optimizer == "auto":
            optimizer = keras.optimizers.AdamW(3e-5, weight_decay=0.01)
        if loss == "auto":
            loss = self.default_loss()
        if metrics == "auto":
            metrics = self.default_metrics()
        keras.Model.compile(self, optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)


def check_problem_type(problem_type, allowed=PROBLEM_TYPES):
    if problem_type not in allowed:
        raise ValueError(f"problem_type={problem_type!r}; choose one of {allowed}")
    return problem_type


def label_names_of(config):
    """Class names from config.json `id2label` (keys may be strings or ints), LABEL_i where absent."""
    id2label = config.get("id2label") or {}
    return [str(id2label.get(str(i), id2label.get(i, f"LABEL_{i}"))) for i in range(config.num_labels)]


def model_label_names(model, num_classes):
    """A classifier's class names, index order: its `label_names`, else its config's `id2label`, else LABEL_i
    (what exports and `predict` show)."""
    names = getattr(model, "label_names", None)
    if names and len(names) == num_classes:
        return [str(n) for n in names]
    config = getattr(model, "hat_config", None)
    id2label = config.get("id2label") if config is not None else None
    if id2label and len(id2label) == num_classes:
        return [str(id2label[str(i)] if str(i) in id2label else id2label[i]) for i in range(num_classes)]
    return [f"LABEL_{i}" for i in range(num_classes)]
