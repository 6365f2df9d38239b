"""`hat-keras extend-context MODEL --max-segments N -o OUT`: grow max_segments (longer documents)."""
from hat_keras.cli.common import add_common, add_output, check_output

HELP = "grow max_segments (longer documents) of a checkpoint"


def add_parser(sub):
    from hat_keras.context import FILLS

    p = sub.add_parser("extend-context", help=HELP,
                       description="Grow a HAT's max_segments beyond what it was trained with: only the D layers' "
                                   "segment-position tables grow (new rows tiled from the trained ones, or the last "
                                   "one repeated); outputs on shorter documents are unchanged.")
    p.add_argument("model", metavar="MODEL", help="HF-format HAT checkpoint folder")
    add_output(p, "output checkpoint folder")
    p.add_argument("--max-segments", type=int, required=True,
                   help="new max_segments (e.g. 32 for 4,096 tokens at K=128)")
    p.add_argument("--fill", choices=FILLS, default="tile",
                   help="new segment-table rows: tile the trained rows (default) or repeat the last one")
    add_common(p, writes=True, legacy_output="OUT")
    p.set_defaults(func=run, show=show, needs_output=True)
    return p


def run(args):
    from hat_keras.context import extend_checkpoint
    from hat_keras.staging import Staging

    check_output(args.output, args.overwrite)
    with Staging(args.output, args.overwrite) as staging:
        model = extend_checkpoint(args.model, staging.path, args.max_segments, args.fill)
        staging.commit()
    backbone = getattr(model, "backbone", model)
    return {"output": args.output, "task": type(model).__name__, "max_segments": backbone.max_segments,
            "max_sequence_length": backbone.max_sequence_length, "fill": args.fill,
            "compact": bool(backbone.compact)}


def show(r):
    print(f"{r['output']}: {r['task']}, max_segments {r['max_segments']} ({r['max_sequence_length']} tokens), "
          f"segment tables filled by {r['fill']!r}" + ("; compact" if r.get("compact") else ""))
