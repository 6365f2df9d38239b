"""`hat-keras warm-start BERT_MODEL -o OUT --layout L`: a HAT built from a flat BERT/RoBERTa checkpoint."""
from hat_keras.cli.common import add_common, add_compact, add_deprecated, add_output, check_output

HELP = "build a HAT from a flat BERT/RoBERTa checkpoint (grouped)"
INITS = ("grouped", "embeds-only")


def add_parser(sub):
    p = sub.add_parser("warm-start", help=HELP,
                       description="Build a HAT from a flat BERT/RoBERTa checkpoint the way the authors built "
                                   "theirs, and write it as an HF-format HAT folder (with the tokenizer files).")
    p.add_argument("model", metavar="BERT_MODEL",
                   help="flat BERT/RoBERTa folder (config.json + weights + tokenizer files)")
    add_output(p, "output HF-format HAT folder", legacy=("--output-dir",))
    p.add_argument("--layout", required=True, help='e.g. "S|SD|D|S|SD|S" (at most as many layers as BERT)')
    p.add_argument("--max-segments", type=int, default=8, help="segments per document")
    add_deprecated(p, "--max-sentences", use="--max-segments", dest="max_segments", type=int)
    p.add_argument("--segment-length", type=int, default=128, help="tokens per segment (K)")
    p.add_argument("--init", default="grouped", choices=INITS,
                   help="grouped: every HAT layer from a BERT layer; embeds-only: only the embeddings")
    add_deprecated(p, "--strategy", use="--init", dest="init", choices=INITS)
    add_compact(p, "a compact model: heads trained on it pool over real segments only (answers do not depend on "
                   "padding; short documents run on fewer segments)")
    add_common(p, writes=True, legacy_output="OUT")
    p.set_defaults(func=run, show=show, needs_output=True)
    return p


def run(args):
    from hat_keras.convert.warm_start import warm_start
    from hat_keras.staging import Staging

    check_output(args.output, args.overwrite)
    with Staging(args.output, args.overwrite) as staging:
        model = warm_start(args.model, args.layout, staging.path, args.max_segments, args.segment_length, args.init,
                           compact=args.compact)
        staging.commit()
    report = getattr(model, "load_report", None)
    return {"output": args.output, "layout": args.layout, "max_segments": args.max_segments,
            "segment_length": args.segment_length, "init": args.init, "compact": args.compact,
            "load_report": report.summary() if report is not None else None}


def show(r):
    if r["load_report"]:
        print(r["load_report"])
    print(f"wrote {r['output']}" + (" (compact: heads pool over real segments only)" if r.get("compact") else ""))
