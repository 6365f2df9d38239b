"""`hat-keras` command line: one grammar, `hat-keras VERB MODEL [inputs] -o OUT [options]`, thin over the library.

Every command is registered here, one module each; its `run(args)` returns the result as a dict, which `main`
prints as one JSON object (--json) or as short lines (the module's `show`). Exit status: 0 ok, 1 failure (one line
`hat-keras VERB: error: ...`; HAT_KERAS_DEBUG=1 shows the traceback), 2 usage.
"""
import argparse
import contextlib
import json
import os
import sys

from hat_keras.cli import convert, export, extend_context, info, predict, quickstart, train, warm_start
from hat_keras.cli.common import CLIError, UsageError, deprecated

COMMANDS = (convert, info, predict, export, train, warm_start, extend_context, quickstart)
_OLD_TRAIN_VERBOSE = {"auto": ["--progress", "auto"], "0": ["--quiet"], "1": ["--progress", "bar"],
                      "2": ["--progress", "lines"]}


class OneLineErrorParser(argparse.ArgumentParser):
    """Wrong arguments: one line naming the problem (and where help is), not the usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _quiet_tf():
    """Later TensorFlow C++ lines (INFO, WARNING, ERROR) stay out of the output; `import hat_keras` has already
    muted the start-up ones."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def build_parser():
    from hat_keras.config import __version__

    parser = OneLineErrorParser(
        prog="hat-keras", description="Hierarchical Attention Transformer (HAT) for Keras: convert checkpoints, "
                                      "train, export and run long-document models.")
    parser.add_argument("--version", action="version", version=f"hat-keras {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineErrorParser)
    for command in COMMANDS:
        p = command.add_parser(sub)
        p.set_defaults(subparser=p, validate=getattr(command, "validate", None))
    return parser


def _old_spellings(argv):
    """`train ... --verbose N` (Keras verbosity, now --progress / --quiet) -> the new flags, with one line."""
    argv = list(argv)
    if argv[:1] == ["train"] and "--verbose" in argv:
        i = argv.index("--verbose")
        if i + 1 < len(argv) and argv[i + 1] in _OLD_TRAIN_VERBOSE:
            new = _OLD_TRAIN_VERBOSE[argv[i + 1]]
            deprecated(f"--verbose {argv[i + 1]}", " ".join(new))
            argv[i:i + 2] = new
    return argv


def parse(parser, argv):
    """Parse; the old positional output (`convert SRC DST`) is read once, with one line."""
    args, extra = parser.parse_known_args(_old_spellings(argv))
    sub = getattr(args, "subparser", parser)
    legacy = getattr(args, "legacy_output", None)
    if extra and legacy and len(extra) == 1 and not extra[0].startswith("-"):
        if args.output:
            sub.error(f"{legacy} given twice (positional and -o/--output)")
        deprecated(f"the positional {legacy}", f"-o/--output {legacy}")
        args.output, extra = extra[0], []
    if extra:
        sub.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if getattr(args, "validate", None):  # a command's checks of argument combinations
            args.validate(args)
        if getattr(args, "needs_output", False) and not args.output:
            raise UsageError("the following arguments are required: -o/--output")
    except UsageError as e:
        sub.error(str(e))
    return args


def main(argv=None, parser=None):
    parser = parser or build_parser()
    args = parse(parser, sys.argv[1:] if argv is None else argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from hat_keras import logs

    logs.configure(verbose=args.verbose)
    if not args.verbose:
        _quiet_tf()
    try:
        with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
            result = args.func(args) or {}
    except KeyboardInterrupt:
        print("hat-keras: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001  one line for users; HAT_KERAS_DEBUG=1 shows the traceback
        if os.environ.get("HAT_KERAS_DEBUG"):
            raise
        msg = " ".join(str(e).split()) or type(e).__name__
        print(f"hat-keras {args.command}: error: {msg}", file=sys.stderr)
        if getattr(e, "details", None):
            print(json.dumps(e.details, default=str), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, default=str))
    elif getattr(args, "show", None):
        args.show(result)
    return 0
