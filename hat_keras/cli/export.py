"""`hat-keras export MODEL --format F -o OUT`: export a classifier and verify it against the Keras model."""
import argparse

from hat_keras.cli.common import (CLIError, UsageError, add_common, add_deprecated, add_label_names, add_output,
                                  add_segmentation, label_names, positive_int)

HELP = "export a classifier (keras, saved_model, tflite, onnx, web) and verify it"
QUANTIZE = ("float32", "float16", "dynamic", "w8a8", "w8a16", "mixed", "int8")


def add_parser(sub):
    from hat_keras.exporting import FORMATS

    p = sub.add_parser("export", help=HELP,
                       description="Export a HAT document classifier and verify the artifact against the Keras model. "
                                   "OUT receives the artifact and export_report.json (saved_model: "
                                   "OUT/MODEL_NAME/MODEL_VERSION/; web: a static page, OUT/index.html, on LiteRT.js).")
    p.add_argument("model", metavar="MODEL",
                   help=".keras file, checkpoint folder (config.json) or Keras preset folder")
    add_output(p, "output folder")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--quantize", choices=QUANTIZE, default=None,
                   help="tflite (default float32) and web (default dynamic; float only). Integer-only for NPUs: "
                        "w8a8 (int8 activations), w8a16 (int16 activations), mixed (int8 matmuls, the rest "
                        "float32, the most sensitive matmuls at int16); they need --calibration. int8 = w8a8")
    p.add_argument("--tokenizer", default=None, help="tokenizer folder with vocab.txt (default: MODEL's folder)")
    add_label_names(p, "class names in id order (default: config id2label)")
    add_deprecated(p, "--labels", use="--label-names", dest="label_names", type=label_names)
    add_segmentation(p, "how raw text is cut into segments (default: the tokenizer's)")
    p.add_argument("--samples", default=None,
                   help="documents to verify on: .jsonl or .json (JSON lines, or a JSON array) of objects with "
                        "`text` or of strings; any other file: one document per line")
    p.add_argument("--num-samples", type=positive_int, default=16, help="documents to verify on (default 16)")
    p.add_argument("--calibration", default=None,
                   help="calibration documents for w8a8/w8a16/mixed (read as --samples; the first "
                        "--num-calibration, in file order)")
    p.add_argument("--num-calibration", type=positive_int, default=64,
                   help="calibration documents (default 64)")
    p.add_argument("--litertjs", default=None, metavar="NODE_MODULES",
                   help="web: where the npm package @litertjs/core is installed (default: node_modules here or "
                        "in the hat-keras checkout)")
    p.add_argument("--model-name", default="hat", type=model_name,
                   help="saved_model: model name, one folder inside OUT (OUT/MODEL_NAME/MODEL_VERSION)")
    p.add_argument("--model-version", default="1", help="saved_model: integer version")
    add_deprecated(p, "--name", use="--model-name", dest="model_name", type=model_name)
    add_deprecated(p, "--version", use="--model-version", dest="model_version")
    p.add_argument("--max-abs-diff", type=float, default=None, help="override the max-abs-diff tolerance")
    p.add_argument("--min-agreement", type=float, default=None, help="override the agreement tolerance")
    add_common(p, writes=True, legacy_output="OUT")
    p.set_defaults(func=run, show=show, needs_output=True)
    return p


def model_name(value):
    """--model-name: one folder name (the SavedModel goes to OUT/MODEL_NAME/MODEL_VERSION)."""
    from hat_keras.exporting.saved_model import check_model_name

    try:
        return check_model_name(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def validate(args):
    """Combinations argparse cannot check: only the integer modes calibrate, so --calibration with another
    mode would be ignored."""
    from hat_keras.exporting.quantize import VARIANTS

    calibrated = VARIANTS + ("int8",)
    if args.calibration and args.quantize not in calibrated:
        mode = f"--quantize {args.quantize}" if args.quantize else f"--format {args.format} without --quantize"
        raise UsageError(f"--calibration {args.calibration}: only the integer modes calibrate (--quantize "
                         f"{', '.join(calibrated)}); {mode} does not use it")


def run(args):
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
        return export_model(args.model, args.output, args.format, args.quantize, labels=args.label_names,
                            tokenizer=args.tokenizer, name=args.model_name, version=args.model_version,
                            sample_texts=samples, calibration_texts=calibration, num_samples=args.num_samples,
                            tolerance=tolerance, segmentation=args.segmentation, litertjs=args.litertjs,
                            overwrite=args.overwrite)
    except ExportError as e:
        report = getattr(e, "report", None) or {}
        details = {k: report[k] for k in report if k in ("failures", "max_abs_diff", "prediction_agreement",
                                                         "worst_layers")}
        raise CLIError(str(e), details or None) from None


def show(report):
    print(report["report_path"])
