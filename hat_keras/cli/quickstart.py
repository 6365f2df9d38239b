"""`hat-keras quickstart [MODEL]`: warm-start (or load), fine-tune, export and run a HAT, offline."""
import argparse

from hat_keras.cli.common import (add_common, add_compact, add_deprecated, add_label_names, add_output, check_output,
                                  label_field)

HELP = "warm-start, fine-tune, export and run a HAT, offline"


def add_parser(sub):
    from hat_keras import quickstart

    p = sub.add_parser("quickstart", help=HELP, description=quickstart.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", nargs="?",
                   help="start from this HF-format HAT folder (default: warm-start the pretrained MiniLM)")
    add_deprecated(p, "--checkpoint", use="the MODEL argument", dest="model")
    p.add_argument("--train", nargs="+", metavar="FILE",
                   help="labelled JSONL/CSV (`text`, `label`); default: Hyperpartisan")
    p.add_argument("--eval", nargs="+", metavar="FILE", help="labelled JSONL/CSV to evaluate on")
    add_deprecated(p, "--test", use="--eval", dest="eval", nargs="+")
    add_output(p, "output folder (default: %(default)s)", default="quickstart_out", legacy=("--out",))
    p.add_argument("--text-field", default="text", help="text field of the data")
    p.add_argument("--label-field", type=label_field, default="label", help="label field of the data")
    add_label_names(p, "class names for integer labels 0..n-1 (default: the labels as they are; "
                       "mainstream,hyperpartisan for the shipped Hyperpartisan data)")
    p.add_argument("--layout", default=quickstart.DEFAULT_LAYOUT,
                   help="HAT layout for the warm start (default: %(default)s)")
    p.add_argument("--max-segments", type=int, default=4, help="segments of 128 tokens (default: %(default)s)")
    p.add_argument("--train-docs", type=int, default=640, help="training documents used (default: %(default)s)")
    p.add_argument("--eval-docs", type=int, default=96, help="evaluation documents used (default: %(default)s)")
    add_deprecated(p, "--test-docs", use="--eval-docs", dest="eval_docs", type=int)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=8)
    add_compact(p, "fine-tune a compact classifier: it pools over real segments only")
    add_common(p, writes=True)
    p.set_defaults(func=run, show=show)
    return p


def run(args):
    from hat_keras import quickstart

    check_output(args.output, args.overwrite)
    result = quickstart.run(out_dir=args.output, checkpoint=args.model, train_file=args.train, test_file=args.eval,
                            layout=args.layout, max_segments=args.max_segments, train_docs=args.train_docs,
                            test_docs=args.eval_docs, epochs=args.epochs, batch_size=args.batch_size,
                            label_names=args.label_names, text_field=args.text_field,
                            label_field=args.label_field, progress=not args.quiet, compact=args.compact)
    return {"output": args.output, **result}


def show(r):
    print(f"everything is in {r['output']}/; LiteRT model {r['tflite']}")
