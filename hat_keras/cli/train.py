"""`hat-keras train TASK MODEL --train FILES [--eval FILES] -o OUT`: MLM pre-training or classifier fine-tuning
with tf.distribute (or JAX data parallelism)."""
import logging
import os

from hat_keras.cli.common import (UsageError, add_common, add_compact, add_deprecated, add_label_names, add_output,
                                  add_pooling, deprecated, label_field, positive_float, positive_int, unit_interval)
from hat_keras.models import HATTask

HELP = "train a HAT (masked_lm or text_classifier) with tf.distribute"
TRAINABLE = tuple(t.task_names[0] for t in HATTask.trainable_tasks())  # the registry's, in definition order
STRATEGIES = ("auto", "cpu", "one_device", "mirrored", "multiworker", "tpu", "data_parallel")
OLD_TASKS = {"mlm": "masked_lm", "classify": "text_classifier"}  # the old `train mlm|classify` verbs
PROGRESS = {"auto": "auto", "bar": 1, "lines": 2}


def _jit(value):
    return {"true": True, "false": False, "auto": "auto"}[value.lower()]


def add_parser(sub):
    p = sub.add_parser("train", help=HELP, description=__doc__.replace("\n", " "))
    p.add_argument("task", metavar="TASK", help=f"what to train: {', '.join(TRAINABLE)}")
    p.add_argument("model", metavar="MODEL", nargs="?",
                   help="HF-format HAT folder (e.g. from `hat-keras warm-start`)")
    add_deprecated(p, "--model", use="the MODEL argument", dest="model")
    p.add_argument("--train", nargs="+", required=True, metavar="FILE",
                   help="training data: .jsonl, .csv, .tsv, .txt, .tfrecord, folders or globs (gs:// works)")
    p.add_argument("--eval", nargs="+", metavar="FILE", help="evaluation data (same formats)")
    add_output(p, "checkpoints, logs, best.keras and hf/", legacy=("--output-dir",))
    p.add_argument("--text-field", default="text", help="text field (comma-separated fields are joined)")
    p.add_argument("--label-field", type=label_field, default="label",
                   help='text_classifier: label field, or comma-separated 0/1 fields for multi-label ("a,b,c")')
    add_label_names(p, "text_classifier: class names when pre-tokenized data do not name their labels")
    add_deprecated(p, "--num-labels", use="--label-names", dest="num_labels", type=int)
    add_pooling(p, "text_classifier: pooling", default="max")
    add_compact(p, "text_classifier: pool over real segments only, even when MODEL is not compact (default: as "
                   "MODEL's config.json says)")
    p.add_argument("--no-bucketing", action="store_true",
                   help="compact models: feed every batch at the full length (default: batches of documents "
                        "with the same bucket of 1, 2, 4, ... segments, trimmed to it)")
    p.add_argument("--mask-rate", type=unit_interval, default=0.15, help="masked_lm: share of tokens masked")
    p.add_argument("--batch-size", type=positive_int, default=8, help="per replica; global = this x replicas")
    p.add_argument("--eval-batch-size", type=positive_int)
    p.add_argument("--epochs", type=positive_float, default=None, help="default: 3 (text_classifier), none (masked_lm)")
    p.add_argument("--max-steps", type=positive_int)
    p.add_argument("--checkpoint-every", type=positive_int, help="steps between checkpoints (a resume point)")
    p.add_argument("--learning-rate", type=positive_float, help="default 1e-4 (masked_lm) / 3e-5 (text_classifier)")
    p.add_argument("--warmup-ratio", type=unit_interval, default=0.1)
    p.add_argument("--weight-decay", type=unit_interval, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strategy", default="auto", choices=STRATEGIES,
                   help="distribution strategy. auto: tpu / mirrored / cpu under TensorFlow, data_parallel (every "
                        "JAX device) under KERAS_BACKEND=jax")
    p.add_argument("--tpu", help='TPU name / grpc address; "local" on TPU VMs (Colab, Kaggle)')
    p.add_argument("--precision", choices=["float32", "mixed_bfloat16", "mixed_float16"])
    p.add_argument("--steps-per-execution", type=positive_int, default=1)
    p.add_argument("--jit-compile", type=_jit, help="true / false / auto (default: true on JAX, false on TensorFlow)")
    p.add_argument("--no-tensorboard", action="store_true")
    p.add_argument("--monitor", help="metric that picks the best model (default val_macro_f1 / val_loss / loss)")
    p.add_argument("--progress", choices=PROGRESS, default="auto",
                   help="Keras progress: a bar, or one line per interval (--quiet: none)")
    add_common(p, writes=True)
    p.set_defaults(func=run, show=show, needs_output=True)
    return p


def task_name(name):
    """A registry name or alias -> the canonical name of a trainable task (old aliases print one line)."""
    try:
        canonical = HATTask.resolve(OLD_TASKS.get(name, name)).task_names[0]
    except (ValueError, IndexError, AttributeError):
        canonical = None
    if canonical not in TRAINABLE:
        raise UsageError(f"argument TASK: invalid choice: {name!r} (choose from {', '.join(TRAINABLE)})")
    if name in OLD_TASKS:
        deprecated(f"train {name}", f"train {canonical}")
    return canonical


def args_from_namespace(ns):
    from hat_keras.training.recipes import TrainArgs

    classify = ns.task == "text_classifier"
    num_labels = len(ns.label_names) if getattr(ns, "label_names", None) else getattr(ns, "num_labels", None)
    epochs = ns.epochs if ns.epochs is not None else (3.0 if classify else None)
    return TrainArgs(
        output_dir=ns.output, train_data=ns.train, model=ns.model, eval_data=ns.eval,
        text_field=label_field(ns.text_field), label_field=ns.label_field if classify else None,
        batch_size=ns.batch_size, eval_batch_size=ns.eval_batch_size, epochs=epochs, max_steps=ns.max_steps,
        checkpoint_every=ns.checkpoint_every, learning_rate=ns.learning_rate, warmup_ratio=ns.warmup_ratio,
        weight_decay=ns.weight_decay, seed=ns.seed, strategy=ns.strategy, tpu=ns.tpu,
        precision=None if ns.precision == "float32" else ns.precision,
        steps_per_execution=ns.steps_per_execution, jit_compile=ns.jit_compile,
        pooling=ns.pooling, compact=ns.compact, bucketing=not ns.no_bucketing, num_labels=num_labels,
        mask_rate=ns.mask_rate, monitor=ns.monitor,
        tensorboard=not ns.no_tensorboard, verbose=0 if ns.quiet else PROGRESS[ns.progress],
        overwrite=ns.overwrite)


def validate(ns):
    ns.task = task_name(ns.task)
    if not ns.model:
        raise UsageError("the following arguments are required: MODEL")
    if ns.compact and ns.task != "text_classifier":
        raise UsageError(f"--compact: only text_classifier pools segments ({ns.task} has no pooled head)")


def run(ns):
    from hat_keras.training.recipes import train

    if not ns.quiet:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = train(ns.task, args_from_namespace(ns))
    return {"output": result.output_dir, "steps": result.steps, "eval": result.eval_results,
            "best_keras": os.path.join(result.output_dir, "best.keras"), "hf": os.path.join(result.output_dir, "hf")}


def show(r):
    print(f"trained {r['steps']} steps; eval {r['eval']}")
    print(f"wrote {r['best_keras']} and {r['hf']}")
