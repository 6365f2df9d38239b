"""`hat-keras train mlm`, `hat-keras train classify` and `hat-keras warm-start` (wired by hat_keras.cli)."""
import json
import logging
import os


def _labels(value):
    """"label" -> "label"; "a,b,c" -> ["a", "b", "c"] (multi-label: one 0/1 field per class)."""
    parts = [p.strip() for p in value.split(",") if p.strip()]
    return parts[0] if len(parts) == 1 else parts


def _jit(value):
    return {"true": True, "false": False, "auto": "auto"}[value.lower()]


def _add_common(p, task):
    p.add_argument("--model", required=True, help="HF-format HAT folder (e.g. from `hat-keras warm-start`)")
    p.add_argument("--train", nargs="+", required=True, metavar="PATH",
                   help="training data: .jsonl, .csv, .tsv, .txt, .tfrecord, folders or globs (gs:// works)")
    p.add_argument("--eval", nargs="+", metavar="PATH", help="evaluation data (same formats)")
    p.add_argument("--output-dir", required=True, help="checkpoints, logs, best.keras and hf/")
    p.add_argument("--text-field", default="text", help="text field (comma-separated fields are joined)")
    p.add_argument("--batch-size", type=int, default=8, help="per replica; global = this x replicas")
    p.add_argument("--eval-batch-size", type=int)
    p.add_argument("--epochs", type=float, default=None if task == "mlm" else 3.0)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (a resume point)")
    p.add_argument("--learning-rate", type=float, help="default 1e-4 (mlm) / 3e-5 (classify)")
    p.add_argument("--warmup-ratio", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strategy", default="auto", choices=["auto", "cpu", "one_device", "mirrored", "multiworker", "tpu",
                                                           "data_parallel"],
                   help="auto: tpu / mirrored / cpu under TensorFlow, data_parallel (every JAX device) under "
                        "KERAS_BACKEND=jax")
    p.add_argument("--tpu", help='TPU name / grpc address; "local" on TPU VMs (Colab, Kaggle)')
    p.add_argument("--precision", choices=["float32", "mixed_bfloat16", "mixed_float16"])
    p.add_argument("--steps-per-execution", type=int, default=1)
    p.add_argument("--jit-compile", type=_jit, help="true / false / auto (default: true on JAX, false on TensorFlow)")
    p.add_argument("--no-tensorboard", action="store_true")
    p.add_argument("--monitor", help="metric that picks the best model (default val_macro_f1 / val_loss / loss)")
    p.add_argument("--verbose", default="auto", help="auto, 0, 1 (progress bar) or 2 (one line per interval)")
    p.add_argument("--overwrite", action="store_true",
                   help="start fresh: delete the checkpoints, logs and results of an earlier run in --output-dir "
                        "(by default a rerun resumes it, or refuses when its settings differ)")


def add_train_parsers(subparsers):
    """Register `train {mlm,classify}` and `warm-start` on an argparse subparsers object."""
    train = subparsers.add_parser("train", help="train a HAT (MLM or classification) with tf.distribute")
    tsub = train.add_subparsers(dest="train_task", required=True)
    mlm = tsub.add_parser("mlm", help="continue masked-language-model pre-training")
    _add_common(mlm, "mlm")
    mlm.add_argument("--mask-rate", type=float, default=0.15)
    mlm.set_defaults(func=_run_train, task="mlm")
    cls = tsub.add_parser("classify", help="fine-tune a document classifier")
    _add_common(cls, "classify")
    cls.add_argument("--label-field", type=_labels, default="label",
                     help='label field, or comma-separated 0/1 fields for multi-label ("a,b,c")')
    cls.add_argument("--num-labels", type=int, help="when pre-tokenized data do not name their labels")
    cls.add_argument("--pooling", default="max", choices=["max", "attentive", "first", "last"])
    cls.set_defaults(func=_run_train, task="classify")

    ws = subparsers.add_parser("warm-start", help="build a HAT from a flat BERT/RoBERTa checkpoint (grouped)")
    ws.add_argument("bert_dir", help="flat BERT/RoBERTa folder (config.json + weights + tokenizer files)")
    ws.add_argument("output_dir")
    ws.add_argument("--layout", required=True, help='e.g. "S|SD|D|S|SD|S" (at most as many layers as BERT)')
    ws.add_argument("--max-segments", "--max-sentences", dest="max_segments", type=int, default=8,
                    help="segments per document")
    ws.add_argument("--segment-length", type=int, default=128, help="tokens per segment (K)")
    ws.add_argument("--strategy", default="grouped", choices=["grouped", "embeds-only"])
    ws.set_defaults(func=_run_warm_start)
    return train, ws


def args_from_namespace(ns):
    from hat_keras.training.recipes import TrainArgs

    verbose = ns.verbose if ns.verbose == "auto" else int(ns.verbose)
    return TrainArgs(
        output_dir=ns.output_dir, train_data=ns.train, model=ns.model, eval_data=ns.eval,
        text_field=_labels(ns.text_field), label_field=getattr(ns, "label_field", None),
        batch_size=ns.batch_size, eval_batch_size=ns.eval_batch_size, epochs=ns.epochs, max_steps=ns.max_steps,
        checkpoint_every=ns.checkpoint_every, learning_rate=ns.learning_rate, warmup_ratio=ns.warmup_ratio,
        weight_decay=ns.weight_decay, seed=ns.seed, strategy=ns.strategy, tpu=ns.tpu,
        precision=None if ns.precision == "float32" else ns.precision,
        steps_per_execution=ns.steps_per_execution, jit_compile=ns.jit_compile,
        pooling=getattr(ns, "pooling", "max"), num_labels=getattr(ns, "num_labels", None),
        mask_rate=getattr(ns, "mask_rate", 0.15), monitor=ns.monitor, tensorboard=not ns.no_tensorboard,
        verbose=verbose, overwrite=ns.overwrite)


def _run_train(ns):
    from hat_keras.training.recipes import train

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = train(ns.task, args_from_namespace(ns))
    print(json.dumps({"steps": result.steps, "eval": result.eval_results,
                      "best_keras": os.path.join(result.output_dir, "best.keras"),
                      "hf": os.path.join(result.output_dir, "hf")}, indent=1))
    return 0


def _run_warm_start(ns):
    from hat_keras.convert.warm_start import warm_start

    model = warm_start(ns.bert_dir, ns.layout, ns.output_dir, ns.max_segments, ns.segment_length, ns.strategy)
    report = getattr(model, "load_report", None)
    if report is not None:
        print(report.summary())
    print(f"wrote {ns.output_dir}")
    return 0


