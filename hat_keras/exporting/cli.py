"""`hat-keras export MODEL --format keras|saved_model|tflite|onnx|web [--quantize ...] OUT`."""
import json
import sys

from hat_keras.exporting import FORMATS


def add_export_parser(subparsers):
    p = subparsers.add_parser(
        "export", help="export a classifier (keras, saved_model, tflite, onnx, web) and verify it",
        description="Export a HAT document classifier and verify the artifact against the Keras model. "
                    "OUT receives the artifact and export_report.json (saved_model: OUT/NAME/VERSION/; "
                    "web: a static page, OUT/index.html, on LiteRT.js).")
    p.add_argument("model", metavar="MODEL", help=".keras file, checkpoint folder (config.json) or Keras preset folder")
    p.add_argument("out", metavar="OUT", help="output folder")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--quantize", choices=("float32", "float16", "dynamic", "w8a8", "w8a16", "mixed", "int8"),
                   default=None,
                   help="tflite (default float32) and web (default dynamic; float only). Integer-only for NPUs: "
                        "w8a8 (int8 activations), w8a16 (int16 activations), mixed (int8 matmuls, the rest "
                        "float32, the most sensitive matmuls at int16); they need --calibration. int8 = w8a8")
    p.add_argument("--tokenizer", default=None, help="tokenizer folder with vocab.txt (default: MODEL's folder)")
    p.add_argument("--labels", default=None, help="labels.txt, one class name per line (default: config id2label)")
    p.add_argument("--segmentation", choices=("uniform", "sentences", "presegmented"), default=None,
                   help="how raw text is cut into segments (default: the tokenizer's)")
    p.add_argument("--samples", default=None, help="documents to verify on (.jsonl with `text`, or .txt)")
    p.add_argument("--num-samples", type=int, default=16)
    p.add_argument("--calibration", default=None,
                   help="calibration documents for w8a8/w8a16/mixed (.jsonl with `text`, or .txt; the first "
                        "--num-calibration, in file order)")
    p.add_argument("--num-calibration", type=int, default=64)
    p.add_argument("--litertjs", default=None, metavar="NODE_MODULES",
                   help="web: where the npm package @litertjs/core is installed (default: node_modules here or "
                        "in the hat-keras checkout)")
    p.add_argument("--name", default="hat", help="saved_model: model name (OUT/NAME/VERSION)")
    p.add_argument("--version", default="1", help="saved_model: integer version")
    p.add_argument("--max-abs-diff", type=float, default=None, help="override the max-abs-diff tolerance")
    p.add_argument("--min-agreement", type=float, default=None, help="override the agreement tolerance")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing OUT (whole, in one rename, once the new export has passed)")
    p.set_defaults(func=run_export)
    return p


def run_export(args):
    from hat_keras.exporting import ExportError, export_model
    from hat_keras.exporting.text import read_texts
    from hat_keras.exporting.verify import TOLERANCES
    try:
        samples = read_texts(args.samples, args.num_samples + args.num_calibration)[0] if args.samples else None
        calibration = read_texts(args.calibration, args.num_calibration)[0] if args.calibration else None
        tolerance = None
        if args.max_abs_diff is not None or args.min_agreement is not None:
            key = None if args.quantize == "float32" else (
                args.quantize or ("dynamic" if args.format == "web" else None))
            tolerance = dict(TOLERANCES["w8a8" if key == "int8" else key])
            if args.max_abs_diff is not None:
                tolerance["max_abs_diff"] = args.max_abs_diff
            if args.min_agreement is not None:
                tolerance["min_agreement"] = args.min_agreement
        report = export_model(args.model, args.out, args.format, args.quantize, labels=args.labels,
                              tokenizer=args.tokenizer, name=args.name, version=args.version,
                              sample_texts=samples, calibration_texts=calibration, num_samples=args.num_samples,
                              tolerance=tolerance, segmentation=args.segmentation, litertjs=args.litertjs,
                              overwrite=args.overwrite)
    except (ExportError, OSError, ValueError) as e:
        print(f"hat-keras export: error: {e}", file=sys.stderr)
        report = getattr(e, "report", None)
        if report:
            print(json.dumps({k: report[k] for k in report if k in ("failures", "max_abs_diff",
                                                                    "prediction_agreement", "worst_layers")}),
                  file=sys.stderr)
        return 1
    print(report["report_path"])
    return 0
