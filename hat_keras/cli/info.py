"""`hat-keras info MODEL`: a checkpoint's or model's layout, task and parameter counts."""
from hat_keras.cli.common import CLIError, add_common, load_any_model

HELP = "show a checkpoint's or model's layout, task and parameter counts"


def add_parser(sub):
    p = sub.add_parser("info", help=HELP,
                       description="Describe an HF checkpoint folder, a Keras preset or a .keras file.")
    p.add_argument("model", metavar="MODEL", help="HF-format checkpoint folder, Keras preset folder or .keras file")
    add_common(p)
    p.set_defaults(func=run)
    return p


def run(args):
    """Lines are printed as they are known (a checkpoint that fails to build still shows its layout)."""
    from hat_keras.config import HATConfig
    from hat_keras.convert import describe, layout_from_keys, read_state_dict
    from hat_keras.loading import ModelNotFound, model_format

    result = {}

    def emit(key, value, text=None):
        result[key] = value
        if not args.json:
            if text is None:
                text = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
            print(f"{key:>20}: {text}")

    try:
        kind = model_format(args.model)
    except ModelNotFound as e:
        raise CLIError(str(e)) from None
    result["format"] = kind
    if kind == "hf":
        cfg = HATConfig.from_pretrained(args.model)
        emit("config", repr(cfg))
        emit("architectures", cfg.get("architectures"))
        state = read_state_dict(args.model)
        emit("tensors", len(state), f"{len(state)} ({sum(v.size for v in state.values()):,} values)")
        emit("layout from keys", layout_from_keys(state))
        # Build it too: dtype, shape and key errors show here, as they would at convert or load time.
        model = load_any_model(args.model)
        emit("check", f"loads as {type(model).__name__}")
        emit("compact", bool(getattr(model, "backbone", model).compact))
        return result
    for k, v in describe(load_any_model(args.model)).items():
        emit(k, v)
    return result
