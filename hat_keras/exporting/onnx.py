"""ONNX through tf2onnx, validated by `onnx.checker` (full check) and onnxruntime, never by the exit code.

TF's exact gelu is written with Erfc, which tf2onnx cannot map; HAT's gelu is written with erf
(hat_keras/layers/activations.py), so the graph converts to plain ONNX ops. The batch axis is dynamic,
the sequence axis fixed at N·K.
"""
import os
import time

import numpy as np

from hat_keras import compat
from hat_keras.exporting.source import ExportError
from hat_keras.exporting.verify import TOLERANCES, verified_export
from hat_keras.runtime import onnx_session

DEFAULT_OPSET = 17


def convert(model, sequence_length, path, opset=DEFAULT_OPSET):
    """Keras model -> `path` (.onnx). Raises ExportError when tf2onnx leaves ops unconverted."""
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec((None, sequence_length), tf.int32, name="token_ids"),
            tf.TensorSpec((None, sequence_length), tf.int32, name="padding_mask"))

    @tf.function(input_signature=spec)
    def logits(token_ids, padding_mask):
        out = model({"token_ids": token_ids, "padding_mask": padding_mask}, training=False)
        return {"logits": tf.cast(out, tf.float32)}

    compat.patch_tf2onnx()
    try:
        model_proto, _ = tf2onnx.convert.from_function(logits, input_signature=spec, opset=opset, output_path=path)
    except Exception as e:
        first = str(e).strip().splitlines()
        raise ExportError(f"ONNX conversion failed: {first[0] if first else type(e).__name__}") from e
    return model_proto


def check(path):
    """`onnx.checker` full check (types and shapes); returns the op types used."""
    import onnx
    try:
        onnx.checker.check_model(path, full_check=True)
    except Exception as e:
        raise ExportError(f"{os.path.basename(path)} is not a valid ONNX model: {str(e).splitlines()[0]}") from e
    model = onnx.load(path, load_external_data=False)
    return sorted({n.op_type for n in model.graph.node}), int(model.opset_import[0].version)


def run_onnx(path, token_ids, padding_mask, threads=2):
    """Logits of the whole batch and per-document seconds at batch 1 on onnxruntime."""
    sess = onnx_session(path, threads)
    full = sess.run(["logits"], {"token_ids": token_ids, "padding_mask": padding_mask})[0]
    secs = []
    for i in range(len(token_ids)):
        feed = {"token_ids": token_ids[i:i + 1], "padding_mask": padding_mask[i:i + 1]}
        if i == 0:
            sess.run(["logits"], feed)
        t = time.perf_counter()
        sess.run(["logits"], feed)
        secs.append(time.perf_counter() - t)
    return np.asarray(full, np.float32), secs


def export_onnx(source, out_dir, samples=None, tolerance=None, opset=DEFAULT_OPSET, log=print):
    """`out_dir/model.onnx` (+ export_report.json), checked and run on onnxruntime against the Keras model."""
    import onnxruntime
    tolerance = dict(tolerance or TOLERANCES[None])
    artifact = "model.onnx"

    def write(tmp):
        convert(source.model, source.sequence_length, os.path.join(tmp, artifact), opset)
        return {}

    def run(path, samples):
        ops, opset_used = check(path)
        logits, secs = run_onnx(path, samples.token_ids, samples.padding_mask)
        return logits, secs, {"ops": ops, "opset": opset_used, "onnx_checker": "full_check passed",
                              "runtime": f"onnxruntime {onnxruntime.__version__} (CPUExecutionProvider)",
                              "threads": 2}

    return verified_export(out_dir, artifact, write, run, source, samples, tolerance, "onnx", log=log)
