"""Quiet by default: a command prints its own progress lines and its result, and framework logs only on --verbose.

The lowest layer of the package (it imports nothing from hat_keras). `configure(verbose=...)` is called once by
the CLI; library code asks `verbose()` and wraps native calls in `native_stderr()`. HAT_KERAS_DEBUG=1 in the
environment counts as verbose everywhere.

Why file descriptor 2 and not a log level: LiteRT's C++ logger (environment creation, accelerator
registration, `DestroyAccelerator` at process exit) ignores TF_CPP_MIN_LOG_LEVEL, and its severity setter
(`LiteRtSetMinLoggerSeverity`) is neither exported nor bound in the ai-edge-litert 2.3.0 wheel; TensorFlow's
start-up lines and the TFLite converter's W0000/I0000 lines are written before absl logging is initialised,
where no Python setting reaches them.
"""
import atexit
import contextlib
import logging
import os
import sys
import tempfile
import warnings

# Python packages whose warnings and loggers are framework noise for a user of the CLI.
FRAMEWORKS = ("tensorflow", "tensorflow_text", "tf_keras", "keras", "jax", "jaxlib", "absl", "ai_edge_litert",
              "ai_edge_quantizer", "google.protobuf", "h5py", "transformers", "torch")

_verbose = False
_exit_muted = False
_held = []  # native lines captured before configure() ran (TensorFlow's start-up at `import hat_keras`)


def verbose():
    """True when framework and C++ log lines should reach the terminal (--verbose or HAT_KERAS_DEBUG=1)."""
    return _verbose or bool(os.environ.get("HAT_KERAS_DEBUG"))


def configure(verbose=False):
    """Remember the flag; unless verbose, silence TensorFlow's C++ INFO/WARNING lines (TF_CPP_MIN_LOG_LEVEL, kept
    when the user set it), absl's and the frameworks' Python loggers below ERROR, and the frameworks' Python
    warnings (hat-keras's own warnings still show)."""
    global _verbose
    _verbose = bool(verbose)
    if _verbose or os.environ.get("HAT_KERAS_DEBUG"):
        if _held:  # what the import hid, now that --verbose asks for it
            sys.stderr.write("".join(_held))
            sys.stderr.flush()
            _held.clear()
        return
    _held.clear()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in FRAMEWORKS:
        logging.getLogger(name).setLevel(logging.ERROR)
    if "absl.logging" in sys.modules:
        sys.modules["absl.logging"].set_verbosity("error")
    pattern = "|".join(name.replace(".", r"\.") for name in FRAMEWORKS)
    warnings.filterwarnings("ignore", module=rf"({pattern})(\.|$)")


@contextlib.contextmanager
def native_stderr(hold=False):
    """Capture what C/C++ code writes to file descriptor 2 during the block, unless verbose.

    The captured text is written back to stderr only if the block raises (so a native error message is not
    lost); Python's own `sys.stderr` writes in the block are captured the same way. `hold=True` (for code that
    runs before the CLI has called `configure`, such as TensorFlow's import): keep the text, so that a later
    `configure(verbose=True)` prints it."""
    if verbose():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    capture = tempfile.TemporaryFile()
    failed = False
    try:
        os.dup2(capture.fileno(), 2)
        yield
    except BaseException:
        failed = True
        raise
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        if failed or hold:
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace")
            if text and failed:
                sys.stderr.write(text)
                sys.stderr.flush()
            elif text:
                _held.append(text)
        capture.close()


def mute_native_stderr_at_exit():
    """At interpreter exit, point file descriptor 2 at /dev/null, unless verbose: LiteRT's accelerator registry
    logs `DestroyAccelerator` lines from C++ static destructors, after Python has finished and no release call
    can reach. Python's `sys.stderr` keeps the real terminal, so a traceback from a later exit handler still
    shows. Idempotent; call it once LiteRT has been used."""
    global _exit_muted
    if _exit_muted:
        return
    _exit_muted = True
    atexit.register(_mute_now)


def _mute_now():
    if verbose():
        return
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
        sys.stderr = os.fdopen(terminal, "w", buffering=1, errors="backslashreplace")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except (OSError, ValueError):  # no stderr at all (a daemon): nothing to keep quiet
        pass
