"""`hat-keras` command line: thin wrappers over the library. Errors are one line, not tracebacks."""
import argparse
import os
import sys



class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class OneLineErrorParser(argparse.ArgumentParser):
    """Wrong arguments: one line naming the problem (and where help is), not the usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _quiet_tf():
    """Later TensorFlow C++ lines (INFO, WARNING, ERROR) stay out of the output; `import hat_keras` has already
    muted the start-up ones."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def load_any_model(path, task=None, **overrides):
    """A `.keras` file, a Keras preset folder or an HF-format checkpoint folder -> Keras model
    (`hat_keras.load`; overrides left at their defaults are not passed)."""
    from hat_keras.loading import ModelNotFound, load

    overrides = {k: v for k, v in overrides.items() if v not in (None, False)}
    try:
        return load(path, task=task, **overrides)
    except ModelNotFound as e:
        raise CLIError(str(e)) from None


def _print_description(model):
    from hat_keras.convert import describe

    for k, v in describe(model).items():
        print(f"{k:>20}: {v:,}" if isinstance(v, int) else f"{k:>20}: {v}")


# ------------------------------------------------------------------------------------------- commands

def cmd_info(args):
    from hat_keras.config import HATConfig
    from hat_keras.convert import layout_from_keys, read_state_dict

    from hat_keras.loading import ModelNotFound, model_format

    try:
        kind = model_format(args.src)
    except ModelNotFound as e:
        raise CLIError(str(e)) from None
    if kind == "hf":
        cfg = HATConfig.from_pretrained(args.src)
        print(f"{'config':>20}: {cfg!r}")
        print(f"{'architectures':>20}: {cfg.get('architectures')}")
        state = read_state_dict(args.src)
        print(f"{'tensors':>20}: {len(state)} ({sum(v.size for v in state.values()):,} values)")
        print(f"{'layout from keys':>20}: {layout_from_keys(state)}")
        # Build it too: dtype, shape and key errors show here, as they would at convert or load time.
        model = load_any_model(args.src)
        print(f"{'check':>20}: loads as {type(model).__name__}")
        return
    model = load_any_model(args.src)
    _print_description(model)


def cmd_convert(args):
    """HF checkpoint -> `.keras` file or Keras preset folder; nothing is left at DST on failure."""
    _quiet_tf()
    from tqdm import tqdm

    from hat_keras.staging import OutputExists, Staging, check_destination

    dst = os.fspath(args.dst)
    if not os.path.exists(args.src):
        raise CLIError(f"{args.src}: no such file or folder")
    try:
        check_destination(os.path.abspath(dst), args.overwrite)
    except OutputExists as e:
        raise CLIError(str(e)) from None
    steps = tqdm(total=3, desc="convert", unit="step", disable=args.quiet)
    steps.set_postfix_str("reading checkpoint")
    model = load_any_model(args.src, task=args.task, pooling=args.pooling,
                           use_segment_position_embeddings=args.head_semantics)
    steps.update()
    report = getattr(model, "load_report", None)
    steps.set_postfix_str("checking")
    steps.update()
    try:  # built beside DST and put in place in one rename (nothing half-written, see hat_keras.staging)
        with Staging(dst, args.overwrite) as staging:
            steps.set_postfix_str("writing")
            if dst.endswith(".keras"):
                os.rmdir(staging.path)
                model.save(staging.path + ".keras")
                os.rename(staging.path + ".keras", staging.path)
            else:
                os.rmdir(staging.path)
                model.save_to_preset(staging.path)
            staging.commit()
            steps.update()
    finally:
        steps.close()
    if report is not None:
        print(report.summary())
    _print_description(model)
    print(f"{'written':>20}: {dst}")


def cmd_extend_context(args):
    from hat_keras.context import extend_checkpoint

    model = extend_checkpoint(args.src, args.dst, args.max_segments, args.fill)
    backbone = getattr(model, "backbone", model)
    print(f"{args.dst}: {type(model).__name__}, max_segments {backbone.max_segments} "
          f"({backbone.max_sequence_length} tokens), segment tables filled by {args.fill!r}")


def cmd_predict(args):
    from hat_keras.predict import predict_files

    predict_files(args.model, args.files, as_json=args.json, segmentation=args.segmentation,
                  encoding=args.encoding, skip_bad=args.skip_bad, explain=args.explain)


# ------------------------------------------------------------------------------------------------ parser

def build_parser():
    parser = OneLineErrorParser(
        prog="hat-keras", description="Hierarchical Attention Transformer (HAT) for Keras: convert checkpoints, "
                                      "train, export and run long-document models.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("convert", help="HF-format HAT checkpoint -> .keras file or Keras preset folder",
                       description="Rebuild a HAT from an HF-format checkpoint folder (config.json + "
                                   "model.safetensors or pytorch_model.bin) and save it for Keras.")
    p.add_argument("src", help="checkpoint folder (config.json + model.safetensors / pytorch_model.bin)")
    p.add_argument("dst", help="a .keras file, or a folder for a Keras preset")
    p.add_argument("--task", help="backbone, masked_lm, text_classifier, sequential_sentence_classifier, "
                                  "multiple_choice, token_classifier (default: what the checkpoint holds)")
    p.add_argument("--pooling", choices=["max", "attentive", "first", "last"],
                   help="classifier pooling (default: max; last for multiple choice)")
    p.add_argument("--head-semantics", action="store_true",
                   help="add segment-position embeddings as GitHub HEAD does (not the released checkpoints)")
    p.add_argument("--overwrite", action="store_true", help="replace DST if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("info", help="show a checkpoint's or model's layout, task and parameter counts",
                       description="Describe an HF checkpoint folder, a Keras preset or a .keras file.")
    p.add_argument("src")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("predict", help="classify documents with a .keras, SavedModel or .tflite model",
                       description="Print the label and probabilities for each text file.")
    p.add_argument("model", help=".keras file, SavedModel folder, .tflite file or HF checkpoint folder")
    p.add_argument("files", nargs="+", help="text files, one document each")
    p.add_argument("--json", action="store_true", help="one JSON object per document")
    p.add_argument("--segmentation", choices=["uniform", "sentences"], default=None,
                   help="how documents are cut into segments (default: the model's)")
    p.add_argument("--explain", action="store_true",
                   help="also each segment's contribution to the decision (max pooling: share of pooled features; "
                        "attentive: attention weight) and its text")
    p.add_argument("--encoding", default=None,
                   help="text encoding of the files (default: from a byte-order mark, else UTF-8)")
    p.add_argument("--skip-bad", action="store_true",
                   help="classify the readable files and skip empty, binary or undecodable ones (exit 0)")
    p.set_defaults(func=cmd_predict)

    from hat_keras.context import FILLS

    p = sub.add_parser("extend-context", help="grow max_segments (longer documents) of a checkpoint",
                       description="Grow a HAT's max_segments beyond what it was trained with: only the D layers' "
                                   "segment-position tables grow (new rows tiled from the trained ones, or the last "
                                   "one repeated); outputs on shorter documents are unchanged.")
    p.add_argument("src", help="HF-format HAT checkpoint folder")
    p.add_argument("dst", help="output checkpoint folder")
    p.add_argument("--max-segments", type=int, required=True,
                   help="new max_segments (e.g. 32 for 4,096 tokens at K=128)")
    p.add_argument("--fill", choices=FILLS, default="tile",
                   help="new segment-table rows: tile the trained rows (default) or repeat the last one")
    p.set_defaults(func=cmd_extend_context)

    for module, hook in (("hat_keras.training.cli", "add_train_parsers"),
                         ("hat_keras.exporting.cli", "add_export_parser"),
                         ("hat_keras.quickstart", "add_quickstart_parser")):
        try:
            mod = __import__(module, fromlist=[hook])
        except ImportError:
            continue
        if hasattr(mod, hook):
            getattr(mod, hook)(sub)
    return parser


def main(argv=None, parser=None):
    _quiet_tf()
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("hat-keras: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001  one line for users; HAT_KERAS_DEBUG=1 shows the traceback
        if os.environ.get("HAT_KERAS_DEBUG"):
            raise
        msg = " ".join(str(e).split()) or type(e).__name__
        print(f"hat-keras {args.command}: error: {msg}", file=sys.stderr)
        return 2
    return result or 0


if __name__ == "__main__":
    sys.exit(main())
