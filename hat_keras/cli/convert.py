"""`hat-keras convert MODEL -o OUT`: HF-format checkpoint -> `.keras` file or Keras preset folder."""
import os

from hat_keras.cli.common import CLIError, add_common, add_output, add_pooling, check_output, load_any_model, progress

HELP = "HF-format HAT checkpoint -> .keras file or Keras preset folder"


def add_parser(sub):
    p = sub.add_parser("convert", help=HELP,
                       description="Rebuild a HAT from an HF-format checkpoint folder (config.json + "
                                   "model.safetensors or pytorch_model.bin) and save it for Keras; nothing is left "
                                   "at OUT on failure.")
    p.add_argument("model", metavar="MODEL",
                   help="checkpoint folder (config.json + model.safetensors / pytorch_model.bin)")
    add_output(p, "a .keras file, or a folder for a Keras preset")
    p.add_argument("--task", help="backbone, masked_lm, text_classifier, sequential_sentence_classifier, "
                                  "multiple_choice, token_classifier (default: what the checkpoint holds)")
    add_pooling(p, "classifier pooling (default: max; last for multiple choice)")
    p.add_argument("--head-semantics", action="store_true",
                   help="add segment-position embeddings as GitHub HEAD does (not the released checkpoints)")
    add_common(p, writes=True, legacy_output="OUT")
    p.set_defaults(func=run, show=show, needs_output=True)
    return p


def run(args):
    from hat_keras.convert import describe
    from hat_keras.staging import Staging

    dst = os.fspath(args.output)
    if not os.path.exists(args.model):
        raise CLIError(f"{args.model}: no such file or folder")
    check_output(dst, args.overwrite)
    steps = progress(3, "convert", args.quiet)
    steps.set_postfix_str("reading checkpoint")
    model = load_any_model(args.model, task=args.task, pooling=args.pooling,
                           use_segment_position_embeddings=args.head_semantics)
    steps.update()
    report = getattr(model, "load_report", None)
    steps.set_postfix_str("checking")
    steps.update()
    try:  # built beside OUT and put in place in one rename (nothing half-written, see hat_keras.staging)
        with Staging(dst, args.overwrite) as staging:
            steps.set_postfix_str("writing")
            os.rmdir(staging.path)
            if dst.endswith(".keras"):
                model.save(staging.path + ".keras")
                os.rename(staging.path + ".keras", staging.path)
            else:
                model.save_to_preset(staging.path)
            staging.commit()
            steps.update()
    finally:
        steps.close()
    return {"output": dst, "load_report": report.summary() if report is not None else None, **describe(model)}


def show(result):
    if result["load_report"]:
        print(result["load_report"])
    for k, v in result.items():
        if k not in ("output", "load_report"):
            print(f"{k:>20}: {v:,}" if isinstance(v, int) else f"{k:>20}: {v}")
    print(f"{'written':>20}: {result['output']}")
