"""Exports under a Keras backend other than TensorFlow (JAX, e.g. a model trained on a Colab TPU).

SavedModel, TFLite, ONNX and the web page's TFLite are converted from TensorFlow graphs of the model, which
only the TensorFlow backend traces: under JAX, Keras' ExportArchive goes through jax2tf, where the TensorFlow
ops around the model (input checks, the in-graph tokenizer, the converters' own tracing) meet JAX tracers.
So these exports run in a fresh Python on the TensorFlow backend, from the model as a `.keras` file (it loads
under either backend), and report back as if they had run here: the same log lines, report and errors.
"""
import json
import os
import subprocess
import sys

from hat_keras import logs
from hat_keras.exporting.source import ExportError, ExportSource, write_json
from hat_keras.exporting.verify import ExportVerificationError
from hat_keras.staging import EXIT_WITH_PARENT

TF_GRAPH_FORMATS = ("saved_model", "tflite", "onnx", "web")

_RUNNER = EXIT_WITH_PARENT + r"""
import json, sys
from hat_keras import logs
from hat_keras.exporting import ExportError, export_model
from hat_keras.exporting.source import write_json

request, result = sys.argv[1:3]
with open(request, encoding="utf-8") as f:
    request = json.load(f)
logs.configure(verbose=request["verbose"])
try:
    out = {"report": export_model(**request["arguments"], log=lambda line: print(line, flush=True))}
except ExportError as e:
    out = {"error": str(e), "report": getattr(e, "report", None)}
write_json(result, out)
"""


def needs_tensorflow(format):
    """Whether exporting to `format` needs the TensorFlow backend, and this process runs another."""
    import keras

    return format in TF_GRAPH_FORMATS and keras.config.backend() != "tensorflow"


def export_under_tensorflow(staging, model, arguments, log=print):
    """`export_model(model, **arguments)` in a fresh Python on the TensorFlow backend; returns its report or
    raises its ExportError. `staging` (a `hat_keras.staging.Staging` of OUT) holds the `.keras` file of an
    in-memory model and the request; the child writes OUT through its own staging, as in one process."""
    import keras

    arguments = dict(arguments)
    if isinstance(model, ExportSource):  # what the source carries besides the model
        arguments["labels"] = arguments.get("labels") or model.labels
        arguments["tokenizer"] = arguments.get("tokenizer") or model.tokenizer_dir
        arguments["segmentation"] = arguments.get("segmentation") or model.segmentation
        arguments["name"] = model.name
        model = model.model
    if not isinstance(model, (str, os.PathLike)):
        path = os.path.join(staging.work, "model.keras")
        model.save(path)
        model = path
    for key in ("sample_texts", "calibration_texts"):
        if arguments.get(key) is not None:
            arguments[key] = [str(t) for t in arguments[key]]
    for key in ("tokenizer", "labels"):
        if isinstance(arguments.get(key), os.PathLike):
            arguments[key] = os.fspath(arguments[key])
    request = os.path.join(staging.work, "export_request.json")
    result = os.path.join(staging.work, "export_result.json")
    write_json(request, {"verbose": logs.verbose(),
                         "arguments": {**arguments, "model": os.fspath(model), "out_dir": staging.out}})
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "KERAS_BACKEND": "tensorflow",
           "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
    log(f"[export] {keras.config.backend()} backend: exporting in a TensorFlow process (the converters need "
        "TensorFlow graphs)")
    with open(os.path.join(staging.work, "export_stderr.txt"), "w+", encoding="utf-8", errors="replace") as err:
        proc = subprocess.Popen([sys.executable, "-c", _RUNNER, request, result], stdout=subprocess.PIPE,
                                stderr=err, text=True, env=env)
        for line in proc.stdout:
            log(line.rstrip("\n"))
        proc.wait()
        err.seek(0)
        stderr = err.read()
    if proc.returncode != 0 or not os.path.isfile(result):
        tail = [line for line in stderr.strip().splitlines() if line.strip()][-1:] or [f"exit status {proc.returncode}"]
        raise ExportError(f"the export in a TensorFlow process failed: {tail[0]}")
    if stderr:  # the child's warnings, where they would have appeared in one process
        sys.stderr.write(stderr)
    with open(result, encoding="utf-8") as f:
        out = json.load(f)
    if "error" in out:
        if out.get("report"):
            raise ExportVerificationError(out["error"], out["report"])
        raise ExportError(out["error"])
    return out["report"]
