"""`hat-keras predict MODEL FILE...`: the label and probabilities of each text file."""
from hat_keras.cli.common import add_common, add_segmentation

HELP = "classify documents with a .keras, SavedModel or .tflite model"


def add_parser(sub):
    from hat_keras.predict import LONG

    p = sub.add_parser("predict", help=HELP,
                       description="Print the label and probabilities for each text file, and what was read of it: "
                                   "segments, and tokens read of the document's tokens.")
    p.add_argument("model", metavar="MODEL",
                   help=".keras file, SavedModel folder, .tflite file or HF checkpoint folder")
    p.add_argument("files", nargs="+", metavar="FILE", help="text files, one document each")
    add_segmentation(p)
    p.add_argument("--long", choices=LONG, default="truncate",
                   help="documents longer than max_segments x segment_length tokens: read their beginning (truncate, "
                        "the default) or classify consecutive windows of that size and average their probabilities, "
                        "weighted by their tokens (windows)")
    p.add_argument("--explain", action="store_true",
                   help="also each segment's contribution to the decision (max pooling: share of pooled features; "
                        "attentive: attention weight) and its text; compact models: real segments only")
    p.add_argument("--encoding", default=None,
                   help="text encoding of the files (default: from a byte-order mark, else UTF-8)")
    p.add_argument("--skip-bad", action="store_true",
                   help="classify the readable files and skip empty, binary or undecodable ones (exit 0)")
    add_common(p)
    p.set_defaults(func=run)
    return p


def run(args):
    from hat_keras.predict import predict_files

    rows = predict_files(args.model, args.files, segmentation=args.segmentation, encoding=args.encoding,
                         skip_bad=args.skip_bad, explain=args.explain, long=args.long,
                         out=(lambda line: None) if args.json else print)
    return {"predictions": rows}
