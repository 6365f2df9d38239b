"""What every `hat-keras` command shares: the common flags, the deprecated spellings, label and path helpers."""
import argparse
import os
import sys

from hat_keras.models import POOLINGS
from hat_keras.tokenization.segmentation import SEGMENTATIONS

__all__ = ["POOLINGS", "SEGMENTATIONS"]


class CLIError(Exception):
    """A user-facing failure: one line on stderr, exit status 1. `details` (a dict) follows as one JSON line."""

    def __init__(self, message, details=None):
        super().__init__(message)
        self.details = details


class UsageError(Exception):
    """A bad combination of arguments found after parsing: exit status 2, like argparse's own errors."""


def deprecated(old, new):
    """The one stderr line an old spelling prints."""
    print(f"hat-keras: {old} is deprecated; use {new}", file=sys.stderr)


class Deprecated(argparse.Action):
    """An old option spelling: hidden from --help, still sets the new option's value, prints one line."""

    def __init__(self, option_strings, dest, use=None, **kwargs):
        kwargs.setdefault("default", argparse.SUPPRESS)
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)
        self.use = use

    def __call__(self, parser, namespace, values, option_string=None):
        deprecated(option_string, self.use)
        setattr(namespace, self.dest, values)


def add_deprecated(p, *options, use, dest, **kwargs):
    p.add_argument(*options, action=Deprecated, use=use, dest=dest, **kwargs)


def add_common(p, writes=False, legacy_output=None):
    """--quiet, --verbose and --json on every command; --overwrite on those that write. `legacy_output`: the old
    name of the positional output argument (still read, see `hat_keras.cli.main`)."""
    g = p.add_argument_group("common options")
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    g.add_argument("--verbose", action="store_true", help="show framework (TensorFlow, Keras, C++) log lines")
    g.add_argument("--json", action="store_true",
                   help="print exactly one JSON object, the command's result, on stdout (progress goes to stderr)")
    if writes:
        g.add_argument("--overwrite", action="store_true",
                       help="replace OUT if it exists (the old one is kept until the new one is complete)")
    p.set_defaults(legacy_output=legacy_output)


def add_output(p, help, default=None, legacy=()):
    """-o/--output OUT (required unless a default is given or the old positional spelling is used)."""
    p.add_argument("-o", "--output", metavar="OUT", default=default, help=help)
    for old in legacy:
        add_deprecated(p, old, use="--output", dest="output", metavar="OUT")


def label_names(value):
    """--label-names: "a,b,c", or a file with one name per line."""
    if os.path.isfile(value):
        with open(value, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip()]
    else:
        names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{value!r}: no label names")
    return names


def _number(value, cast, ok, admitted):
    """An argparse type: `value` as `cast` (int or float) where `ok(number)`, else argparse names the flag,
    the value and what is admitted in its one-line error."""
    try:
        number = cast(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not {'an integer' if cast is int else 'a number'}") from None
    if not ok(number):
        raise argparse.ArgumentTypeError(f"{value!r}: must be {admitted}")
    return number


def positive_int(value):
    """An integer >= 1 (counts of documents, steps, batch sizes)."""
    return _number(value, int, lambda n: n >= 1, "at least 1")


def positive_float(value):
    """A finite float > 0 (learning rates, epochs)."""
    return _number(value, float, lambda n: 0 < n < float("inf"), "a number greater than 0")


def unit_interval(value):
    """A float in [0, 1] (warm-up ratio, weight decay)."""
    return _number(value, float, lambda n: 0 <= n <= 1, "between 0 and 1")


def label_field(value):
    """"label" -> "label"; "a,b,c" -> ["a", "b", "c"] (multi-label: one 0/1 field per class)."""
    parts = [p.strip() for p in value.split(",") if p.strip()]
    return parts[0] if len(parts) == 1 else parts


def add_label_names(p, help):
    p.add_argument("--label-names", type=label_names, metavar="NAMES",
                   help=f"{help}: comma-separated, or a file with one name per line")


def add_segmentation(p, help="how documents are cut into segments (default: the model's)"):
    p.add_argument("--segmentation", choices=SEGMENTATIONS, default=None, help=help)


def add_pooling(p, help, default=None):
    p.add_argument("--pooling", choices=POOLINGS, default=default, help=help)


def add_compact(p, help):
    """--compact: heads pool over real segments only (`HATBackbone(compact=True)`, config.json `"compact": true`)."""
    p.add_argument("--compact", action="store_true", help=help)


def require_output(args):
    if not args.output:
        raise UsageError("the following arguments are required: -o/--output")
    return os.fspath(args.output)


def check_output(path, overwrite):
    """Refuse an existing, non-empty OUT unless --overwrite."""
    from hat_keras.staging import OutputExists, check_destination

    try:
        check_destination(os.path.abspath(path), overwrite)
    except OutputExists as e:
        raise CLIError(str(e).replace(" (overwrite=True)", "")) from None


def load_any_model(path, task=None, **overrides):
    """A `.keras` file, a Keras preset folder or an HF-format checkpoint folder -> Keras model
    (`hat_keras.load`; overrides left at their defaults are not passed)."""
    from hat_keras.loading import ModelNotFound, load

    overrides = {k: v for k, v in overrides.items() if v not in (None, False)}
    try:
        return load(path, task=task, **overrides)
    except ModelNotFound as e:
        raise CLIError(str(e)) from None


def progress(total, desc, quiet):
    """A tqdm bar on stderr (none with --quiet)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=quiet, file=sys.stderr)
