"""Training any task of the registry that supports it (today MLM continued pre-training and document
classification) on one code path: strategy factory -> examples -> in-graph preprocessing -> `fit` in
checkpoint intervals -> best model as `.keras` and as an HF-format folder. What differs between tasks
(data fields, head, preprocessors, defaults) the task class says (`HATTask`); defaults are the original
recipe's (spec §1.3)."""
import dataclasses
import json
import logging
import math
import os
import warnings
from typing import Callable, Optional, Sequence, Union

import keras
import tensorflow as tf

from hat_keras.inference import segment_buckets
from hat_keras.loading import load
from hat_keras.models import HATMaskedLM, HATTask, HATTextClassifier
from hat_keras.models.metrics import ExactLoss
from hat_keras.tokenization.tokenizer import TOKENIZER_FILES
from hat_keras.training import callbacks as cb
from hat_keras.training import data as hd
from hat_keras.training import optimization as opt_lib
from hat_keras.training import preprocessing as pp
from hat_keras.training import run_record
from hat_keras.training import report as rp
from hat_keras.training.strategy import get_strategy, is_chief, is_multi_worker, multi_worker_fit_fixes, num_workers

logger = logging.getLogger("hat_keras")


@dataclasses.dataclass
class TrainArgs:
    """Everything a run needs; the CLI flags map one to one."""
    output_dir: str
    train_data: Sequence[str]
    model: Optional[str] = None            # HF-format HAT folder (warm-started or released)
    eval_data: Optional[Sequence[str]] = None
    text_field: Union[str, Sequence[str]] = "text"
    label_field: Union[str, Sequence[str], None] = "label"
    batch_size: int = 8                    # per replica; global = batch_size x replicas
    eval_batch_size: Optional[int] = None  # per replica
    epochs: Optional[float] = None
    max_steps: Optional[int] = None
    checkpoint_every: Optional[int] = None  # steps; default the task's (one data epoch classify, 1000 MLM)
    learning_rate: Optional[float] = None  # default the task's (1e-4 MLM, 3e-5 fine-tuning)
    warmup_ratio: float = opt_lib.WARMUP_RATIO
    weight_decay: float = opt_lib.WEIGHT_DECAY
    seed: int = 0
    strategy: str = "auto"
    tpu: Optional[str] = None
    precision: Optional[str] = None        # "mixed_bfloat16" on TPUs
    steps_per_execution: int = 1
    jit_compile: Union[bool, str, None] = None  # None: True on JAX (XLA is how it runs), False on TensorFlow
    pooling: str = "max"
    compact: bool = False                  # text_classifier: pool over real segments only, even when `model`
    #                                        is not compact (False: as the model's config.json says)
    bucketing: bool = True                 # compact models: batches grouped by real segment count, trimmed
    num_labels: Optional[int] = None       # when the data cannot tell (pre-tokenized without label names)
    mask_rate: float = pp.MASK_RATE
    monitor: Optional[str] = None
    tensorboard: bool = True
    verbose: Union[int, str] = "auto"
    overwrite: bool = False                # start fresh: delete an earlier run's outputs in output_dir


@dataclasses.dataclass
class TrainResult:
    model: keras.Model
    history: dict
    steps: int
    output_dir: str
    eval_results: Optional[dict] = None
    throughput: Optional[list] = None


# ------------------------------------------------------------------------------------------ models

def resolve_trainable(task):
    """A registry name, alias or class -> the task class; one-line error for a task `train()` cannot run."""
    names = ", ".join(t.task_names[0] for t in HATTask.trainable_tasks())
    try:
        cls = HATTask.resolve(task)
    except ValueError:
        raise ValueError(f"task={task!r} is not a task; trainable tasks: {names}") from None
    if not getattr(cls, "supports_training", False):
        name = cls.task_names[0] if issubclass(cls, HATTask) else "backbone"
        raise ValueError(f"task={name!r} does not support training yet; trainable tasks: {names}")
    return cls


def load_for_training(task, model_dir, overrides):
    """The head `task` trains, on an HF-format HAT folder; `overrides`: its `training_overrides`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(model_dir, task=task, load_tokenizer=False, new_head=True, **overrides)  # trained next


def load_classifier(model_dir, num_classes, multi_label=False, pooling="max", label_names=None):
    """A new HATTextClassifier head on the encoder of an HF-format HAT folder (any head there is ignored);
    `label_names` (the data's) travel with it into best.keras."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(model_dir, task=HATTextClassifier, num_labels=num_classes, pooling=pooling,
                    problem_type="multi_label_classification" if multi_label else "single_label_classification",
                    label_names=[str(n) for n in label_names] if label_names else None, load_tokenizer=False,
                    new_head=True)


def load_masked_lm(model_dir):
    return load(model_dir, task=HATMaskedLM, load_tokenizer=False)


# ----------------------------------------------------------------------------------------- helpers

# TrainArgs field -> (the CLI flag that sets it, the admitted range, test)
_LIMITS = {
    "batch_size": ("--batch-size", "an integer >= 1", lambda v: _is_int(v) and v >= 1),
    "eval_batch_size": ("--eval-batch-size", "an integer >= 1", lambda v: _is_int(v) and v >= 1),
    "max_steps": ("--max-steps", "an integer >= 1", lambda v: _is_int(v) and v >= 1),
    "checkpoint_every": ("--checkpoint-every", "an integer >= 1", lambda v: _is_int(v) and v >= 1),
    "steps_per_execution": ("--steps-per-execution", "an integer >= 1", lambda v: _is_int(v) and v >= 1),
    "epochs": ("--epochs", "a number > 0", lambda v: _is_number(v) and 0 < v < math.inf),
    "learning_rate": ("--learning-rate", "a number > 0", lambda v: _is_number(v) and 0 < v < math.inf),
    "warmup_ratio": ("--warmup-ratio", "a number in [0, 1]", lambda v: _is_number(v) and 0 <= v <= 1),
    "weight_decay": ("--weight-decay", "a number in [0, 1]", lambda v: _is_number(v) and 0 <= v <= 1),
    "mask_rate": ("--mask-rate", "a number in (0, 1)", lambda v: _is_number(v) and 0 < v < 1),
    "seed": ("--seed", "an integer", lambda v: _is_int(v)),
}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)


def validate_args(args):
    """Refuse out-of-range settings before anything is read or written (a zero step count would train the
    epochs' default, a negative learning rate would train uphill), naming the field and its flag."""
    for field, (flag, admitted, ok) in _LIMITS.items():
        value = getattr(args, field)
        if value is None and field not in ("batch_size", "seed", "steps_per_execution"):
            continue
        if not ok(value):
            raise ValueError(f"{field}={value!r} ({flag}): must be {admitted}")


def check_options(task, args):
    """Refuse options the task would silently ignore (`--compact` only changes pooled heads)."""
    if args.compact and "compact" not in task.train_options:
        raise ValueError(f"compact=True (--compact): {task.task_names[0]} has no pooled head; only text_classifier "
                         "takes it")


def _steps(args, examples, global_batch, task):
    if examples.num_examples is not None:
        per_epoch = examples.num_examples // global_batch
        if per_epoch == 0:
            raise ValueError(f"{args.train_data}: {examples.num_examples} examples is less than one global "
                             f"batch ({global_batch})")
    else:
        per_epoch = None
    if args.max_steps:
        total = int(args.max_steps)
    elif args.epochs and per_epoch:
        total = max(1, math.ceil(args.epochs * per_epoch))
    else:
        raise ValueError("give max_steps (or epochs, when the data size is known)")
    interval = int(args.checkpoint_every or task.default_checkpoint_interval(per_epoch))
    interval = max(1, min(interval, total))
    intervals = math.ceil(total / interval)
    if intervals * interval != total:
        logger.info("training %d steps (%d intervals of %d) instead of %d", intervals * interval, intervals,
                    interval, total)
    return interval, intervals


def _copy_tokenizer_files(src, dst):
    if not src:
        return
    for name in TOKENIZER_FILES:
        path = os.path.join(src, name)
        if tf.io.gfile.exists(path):
            tf.io.gfile.copy(path, os.path.join(dst, name), overwrite=True)


def _set_precision(precision):
    if precision:
        keras.config.set_dtype_policy(precision)


# ----------------------------------------------------------------------------------------- recipes

def train(task, args: TrainArgs, strategy=None, model_fn: Callable = None, preprocess=None, examples=None,
          extra_callbacks=()):
    """Train one task. task: a registry name or alias ("masked_lm"/"mlm", "text_classifier"/"classify", ...)
    or class; one without `supports_training` is refused (see `HATTask.trainable_tasks()`).

    strategy: a tf.distribute strategy (default: `get_strategy(args.strategy, args.tpu)`).
    model_fn: builds the model inside `strategy.scope()` (default: from `args.model`).
    preprocess: per-example in-graph preprocessor (default: the tokenizer's, or the pre-tokenized one when
      the data are pre-tokenized TFRecords).
    examples: training `Examples` already read (instead of `args.train_data`).
    """
    task = resolve_trainable(task)
    validate_args(args)
    check_options(task, args)
    # --seed fixes everything random: head initialisation, dropout (Python/NumPy/backend seeds), data order
    keras.utils.set_random_seed(args.seed)
    strategy = strategy or get_strategy(args.strategy, args.tpu)
    with run_record.locked(args.output_dir, strategy):
        return _train(task, args, strategy, model_fn, preprocess, examples, extra_callbacks)


def _train(task, args, strategy, model_fn, preprocess, examples, extra_callbacks):
    _set_precision(args.precision)
    text_field, label_field = task.data_fields(args)
    train_ex = examples or hd.read_examples(args.train_data, text_field, label_field)
    eval_ex = (hd.read_examples(args.eval_data, text_field, label_field, train_ex.label_names, count=True,
                                label_kind_of=train_ex.label_kind) if args.eval_data else None)
    if model_fn is None:
        overrides = task.training_overrides(train_ex, args)  # the head, sized to the data (or a one-line error)
        if not args.model:
            raise ValueError("give a model folder (HF-format HAT checkpoint, e.g. from `hat-keras warm-start`)")

    with strategy.scope():
        model = model_fn() if model_fn is not None else load_for_training(task, args.model, overrides)
    multi_worker_fit_fixes(model, strategy)
    backbone = model.backbone
    seq_len = backbone.segment_length * backbone.max_segments
    buckets = _buckets(args, backbone, strategy)
    if preprocess is None:
        preprocess = _default_preprocess(task, args, backbone, train_ex)
        if isinstance(preprocess, keras.layers.Layer) and getattr(model, "preprocessor", False) is None:
            model.preprocessor = preprocess  # saved with best.keras, which then takes raw text on any backend

    replicas = strategy.num_replicas_in_sync
    global_batch = args.batch_size * replicas
    run_info = rp.describe_strategy(strategy)
    rp.announce(run_info, global_batch)
    interval, intervals = _steps(args, train_ex, global_batch, task)
    total_steps = interval * intervals
    # The same run or none: refuse an output folder holding a run of other settings (see run_record).
    run_record.prepare(args.output_dir, run_record.run_settings(task, args, model, train_ex, global_batch,
                                                                replicas, interval, total_steps, buckets is not None),
                       overwrite=args.overwrite, strategy=strategy)
    eval_ds, eval_steps = None, None
    if eval_ex is not None:
        eval_global = (args.eval_batch_size or args.batch_size) * replicas
        if label_field is not None:  # labelled evaluation counts every example: pad with weight-0 copies
            eval_ex = hd.pad_to_batches(eval_ex, 1 if buckets else eval_global)  # (buckets: per batch)
        eval_ds = hd.distribute(strategy, eval_ex, preprocess, eval_global, shuffle=False, buckets=buckets)
        eval_steps = eval_ex.num_examples // eval_global if eval_ex.num_examples and not buckets else None

    lr = args.learning_rate or task.default_learning_rate
    with strategy.scope():
        optimizer = opt_lib.create_optimizer(total_steps, lr, args.warmup_ratio, args.weight_decay)
        loss = model.default_loss()
        # exact means over the real examples (padded eval rows have weight 0), see ExactLoss
        weighted = [ExactLoss(loss)] + list(model.default_metrics() or [])
        spe = args.steps_per_execution
        jit = args.jit_compile if args.jit_compile is not None else bool(getattr(strategy, "feeds_global_batches",
                                                                                 False))
        if is_multi_worker(strategy) and (spe != 1 or jit is not False):
            # Keras 3 + tf.distribute fails on CPU with steps_per_execution > 1 (keras#19246) and with XLA
            # (variables on another device), so multi-worker runs always use 1 and False
            logger.warning("multi-worker training: using steps_per_execution=1 and jit_compile=False")
            spe, jit = 1, False
        keras.Model.compile(model, optimizer=optimizer, loss=loss, weighted_metrics=weighted,
                            steps_per_execution=spe, jit_compile=jit)

    # Resume from the step the newest checkpoint actually holds: the input skips exactly its examples.
    resumed = cb.restore_checkpoint(model, os.path.join(args.output_dir, "backup"), strategy)
    step = int(resumed["step"]) if resumed else 0
    if step % interval:
        raise run_record.ResumeError(f"{args.output_dir}: the checkpoint at step {step} is not at an interval "
                                     f"end (interval {interval}); {run_record.FRESH}")
    if resumed:
        logger.info("resuming at step %d of %d (interval %d of %d)", step, total_steps, step // interval + 1,
                    intervals)
    train_ds = hd.distribute(strategy, train_ex, preprocess, global_batch, shuffle=True, seed=args.seed,
                             repeat=True, skip_steps=step, buckets=buckets)

    monitor = args.monitor or task.default_monitor(eval_ds is not None)
    mode = "min" if monitor.endswith("loss") else "max"
    callbacks = cb.standard_callbacks(args.output_dir, strategy, monitor, mode, args.tensorboard, global_batch,
                                      None if buckets else seq_len, interval=interval,
                                      resumed=resumed) + list(extra_callbacks)
    # first: an interval's losses are on disk before its backup is, so a kill in between loses neither
    callbacks.insert(0, rp.TrainingReport(rp.report_path(args.output_dir), {
        **run_info, "task": task.task_names[0], "global_batch_size": global_batch, "steps_per_execution": spe,
        "jit_compile": jit, "dtype_policy": keras.config.dtype_policy().name}, enabled=is_chief(strategy)))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Gradients do not exist.*")
        if buckets:  # bucketed evaluation has no known batch count: Keras finds it by running out, and says so
            warnings.filterwarnings("ignore", message=".*Your input ran out of data.*")
        history = keras.Model.fit(model, train_ds, epochs=intervals, steps_per_epoch=interval,
                                  initial_epoch=step // interval, validation_data=eval_ds,
                                  validation_steps=eval_steps, callbacks=callbacks, verbose=args.verbose,
                                  shuffle=False)
    throughput = next((c.history for c in callbacks if isinstance(c, cb.Throughput)), None)
    whole_run = next(c.history for c in callbacks if isinstance(c, cb.IntervalCheckpoint))  # resumed part too
    result = TrainResult(model, whole_run or history.history, int(model.optimizer.iterations.numpy()),
                         args.output_dir, throughput=throughput)
    _finish(task, args, model, strategy, eval_ds, eval_steps, train_ex, result)
    return result


def _buckets(args, backbone, strategy):
    """`(segment_length, segment counts)` when batches are bucketed: a compact model (whose outputs do not
    depend on trailing padding) with `bucketing`, fed by one input pipeline (Keras-JAX, or one TF replica).
    TF's multi-replica and TPU strategies get fixed shapes: each replica would otherwise draw its own bucket."""
    if not (args.bucketing and getattr(backbone, "compact", False)):
        return None
    single = strategy.num_replicas_in_sync == 1 or getattr(strategy, "feeds_global_batches", False)
    if not single or isinstance(strategy, tf.distribute.TPUStrategy):
        logger.info("bucketing off: %s feeds fixed-shape batches (%d segments)", type(strategy).__name__,
                    backbone.max_segments)
        return None
    buckets = segment_buckets(backbone.max_segments)
    logger.info("compact model: batches bucketed by real segments (%s; --no-bucketing: full length)",
                ", ".join(map(str, buckets)))
    return backbone.segment_length, buckets


def _default_preprocess(task, args, backbone, examples):
    if examples.pretokenized:
        return task.pretokenized_preprocessor(backbone, args)
    if not args.model:
        raise ValueError("text data need a model folder with the tokenizer files (vocab.txt, ...)")
    return pp.text_preprocessor(task, args.model, backbone, args)


def _finish(task, args, model, strategy, eval_ds, eval_steps, examples, result):
    """Reload the best weights, evaluate, and write `best.keras` + `hf/` (chief) and eval_results.json."""
    best = os.path.join(args.output_dir, "best.keras")
    if tf.io.gfile.exists(best) and num_workers(strategy) == 1:
        model.load_weights(best)  # (with several workers the weights stay the last ones, identical everywhere)
    if eval_ds is not None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Your input ran out of data.*")  # bucketed: see above
            logs = keras.Model.evaluate(model, eval_ds, steps=eval_steps, return_dict=True, verbose=0)
        result.eval_results = {k: float(v) for k, v in logs.items()}
    if not is_chief(strategy):
        return
    if not tf.io.gfile.exists(best):
        cb.write_atomically(model.save, best)
    from hat_keras.convert import save_pretrained

    extra = {}
    if examples.label_names:  # labelled data (only tasks that read a label field have names)
        extra["id2label"] = {str(i): n for i, n in enumerate(examples.label_names)}
        extra["label2id"] = {n: i for i, n in enumerate(examples.label_names)}
    hf_dir = os.path.join(args.output_dir, "hf")
    save_pretrained(model, hf_dir, **extra)
    _copy_tokenizer_files(args.model, hf_dir)
    summary = {"task": task.task_names[0], "steps": result.steps, "history": result.history,
               "eval": result.eval_results, "throughput": result.throughput}
    path = os.path.join(args.output_dir, "results.json")
    with tf.io.gfile.GFile(f"{path}.tmp", "w") as f:
        f.write(json.dumps(summary, indent=1, default=float))
    tf.io.gfile.rename(f"{path}.tmp", path, overwrite=True)


def train_mlm(args: TrainArgs, **kwargs):
    """Continued MLM pre-training (lr 1e-4 by default)."""
    return train(HATMaskedLM, args, **kwargs)


def finetune_classifier(args: TrainArgs, **kwargs):
    """Document classification fine-tuning (lr 3e-5 by default); multi-label when `label_field` is a list."""
    return train(HATTextClassifier, args, **kwargs)
