"""TFLite / LiteRT export: builtin ops only, fixed `[1, N·K]` inputs, fp32 / float16 / dynamic-range / int8.

The model is converted from a SavedModel with a single fixed-shape signature through `TFLiteConverter`
restricted to TFLITE_BUILTINS, so a Flex (select TF) op fails the export instead of silently needing the
Flex runtime on the phone. Full int8 quantizes the attention logits too: float32-min masking would give
them an int8 scale of ~1e36, so the int8 model is built with a bounded mask (`INT8_MASK_VALUE`) and the
attention ops can be kept in float (`int8_float_ops`) through `QuantizationDebugger`.
"""
import os
import tempfile

import numpy as np

from hat_keras.exporting import metadata
from hat_keras.exporting.source import ExportError
from hat_keras.exporting.verify import TOLERANCES, verified_export

QUANTIZATIONS = (None, "float16", "dynamic", "int8")
INT8_MASK_VALUE = -30.0  # exp(-30) ~ 1e-13: masked keys still get no weight; the logit range stays int8-sized
# Ops left in float for int8 by default: the attention softmax path (see docs: int8 limits).
INT8_FLOAT_OPS = ("SOFTMAX", "BATCH_MATMUL")


def with_mask_value(model, mask_value):
    """A copy of a HAT task model whose backbone adds `mask_value` (not float32 min) for masked keys."""
    config = model.get_config()
    config["backbone"]["config"]["attention_mask_value"] = float(mask_value)
    clone = type(model).from_config(config)
    clone.set_weights(model.get_weights())
    return clone


def _fixed_saved_model(model, directory, sequence_length, batch_size=1, explain=False):
    """`explain`: a second output, the segments' contributions (`hat_keras.explain`)."""
    import keras
    import tensorflow as tf
    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = {"token_ids": tf.TensorSpec((batch_size, sequence_length), tf.int32, name="token_ids"),
            "padding_mask": tf.TensorSpec((batch_size, sequence_length), tf.int32, name="padding_mask")}

    def serve(inputs):
        x = {"token_ids": inputs["token_ids"], "padding_mask": inputs["padding_mask"]}
        if explain:
            from hat_keras.explain import CONTRIBUTIONS, classify_with_contributions
            logits, contributions = classify_with_contributions(model, x)
            return {"logits": logits, CONTRIBUTIONS: contributions}
        return {"logits": tf.cast(model(x, training=False), tf.float32)}

    archive.add_endpoint("serving_default", serve, input_signature=[spec])
    archive.write_out(directory, verbose=False)


def convert(model, sequence_length, quantize=None, calibration=None, batch_size=1, int8_float_ops=INT8_FLOAT_OPS,
            log=print, explain=False):
    """Keras model -> tflite bytes (builtin ops only). `calibration`: Samples for int8; `explain`: add the
    `segment_contributions` output."""
    import tensorflow as tf
    if quantize not in QUANTIZATIONS:
        raise ExportError(f"quantize={quantize!r}; choose one of float16, dynamic, int8")
    with tempfile.TemporaryDirectory() as tmp:
        _fixed_saved_model(model, tmp, sequence_length, batch_size, explain)
        conv = tf.lite.TFLiteConverter.from_saved_model(tmp)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize in ("float16", "dynamic", "int8"):
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            conv.target_spec.supported_types = [tf.float16]
        if quantize == "int8":
            if calibration is None or not len(calibration):
                raise ExportError("int8 needs calibration documents (--calibration FILE.jsonl)")
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]

            def representative():
                for i in range(len(calibration)):
                    yield {k: v for k, v in calibration.inputs(i).items()}
            conv.representative_dataset = representative
            if int8_float_ops:
                log(f"[export] int8 calibration on {len(calibration)} documents, keeping {list(int8_float_ops)} "
                    "in float")
                debugger = tf.lite.experimental.QuantizationDebugger(
                    converter=conv, debug_dataset=representative,
                    debug_options=tf.lite.experimental.QuantizationDebugOptions(
                        denylisted_ops=list(int8_float_ops)))
                return debugger.get_nondebug_quantized_model()
        try:
            return conv.convert()
        except Exception as e:  # converter errors are long; the first line says which op failed
            first = str(e).strip().splitlines()
            raise ExportError(f"TFLite conversion failed: {first[0] if first else type(e).__name__}") from e


def bundle_files(source):
    """Associated files that travel inside the `.tflite`."""
    import json
    files = {"labels.txt": ("\n".join(source.labels) + "\n").encode("utf-8"),
             "hat_export.json": json.dumps({**source.geometry(), "labels": source.labels}, indent=2).encode("utf-8"),
             "config.json": json.dumps(source.hf_config(), indent=2).encode("utf-8")}
    if source.tokenizer_dir:
        from hat_keras.exporting.text import tokenizer_files
        files.update(tokenizer_files(source.tokenizer_dir))
    return files


def interpreter(path, threads=2):
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=os.fspath(path), num_threads=threads)
    return it


def run_signature(path, token_ids, padding_mask, threads=2):
    """Every output of `serving_default` ({name: (B, ...) float32}) and per-document seconds (batch 1)."""
    import time
    runner = interpreter(path, threads).get_signature_runner("serving_default")
    outs, secs = {}, []
    for i in range(len(token_ids)):
        args = {"token_ids": token_ids[i:i + 1], "padding_mask": padding_mask[i:i + 1]}
        if i == 0:
            runner(**args)
        t = time.perf_counter()
        out = runner(**args)
        secs.append(time.perf_counter() - t)
        for name, value in out.items():
            outs.setdefault(name, []).append(np.asarray(value, np.float32))
    return {name: np.concatenate(v) for name, v in outs.items()}, secs


def run_tflite(path, token_ids, padding_mask, threads=2):
    """Logits and per-document seconds (batch 1) on the standalone LiteRT runtime."""
    outs, secs = run_signature(path, token_ids, padding_mask, threads)
    return outs["logits"], secs


def write_tflite(source, path, quantize=None, calibration=None, int8_mask_value=INT8_MASK_VALUE,
                 int8_float_ops=INT8_FLOAT_OPS, tokenizer_settings=None, explain=False, log=print):
    """Convert, check for non-builtin ops, bundle the metadata and write `path`; returns report extras.
    `explain`: a second output, `segment_contributions` (the web export's)."""
    model, extra = source.model, {}
    if quantize == "int8" and int8_mask_value is not None:
        model = with_mask_value(source.model, int8_mask_value)
        extra = {"int8_mask_value": int8_mask_value, "int8_float_ops": list(int8_float_ops or ())}
    data = convert(model, source.sequence_length, quantize, calibration=calibration,
                   int8_float_ops=int8_float_ops, log=log, explain=explain)
    ops = metadata.operators(data)
    flex = [o for o in ops if o.startswith("CUSTOM")]
    if flex:
        raise ExportError(f"TFLite model needs non-builtin ops {flex}")
    outputs = ["logits", "segment_contributions"] if explain else ["logits"]
    info = {"format": "tflite", "quantization": quantize or "float32", "inputs": ["token_ids", "padding_mask"],
            "input_shape": [1, source.sequence_length], "outputs": outputs, **source.geometry(),
            "labels": source.labels, "tokenizer": tokenizer_settings or {}}
    with open(path, "wb") as f:
        f.write(metadata.add_metadata(data, info, bundle_files(source)))
    return {"ops": ops, "runtime": "ai_edge_litert.Interpreter", "threads": 2, **extra}


def export_tflite(source, out_dir, quantize=None, samples=None, calibration=None, tolerance=None,
                  int8_mask_value=INT8_MASK_VALUE, int8_float_ops=INT8_FLOAT_OPS, tokenizer_settings=None,
                  log=print):
    """`out_dir/model.tflite` (+ export_report.json), verified on LiteRT against the Keras model."""
    tolerance = dict(tolerance or TOLERANCES[quantize])
    artifact = "model.tflite"

    if quantize == "int8" and int8_mask_value is None:
        raise ExportError("int8 with the float32-min attention mask aborts the LiteRT calibration/runtime; "
                          "use a bounded int8_mask_value such as -30")

    def write(tmp):
        return write_tflite(source, os.path.join(tmp, artifact), quantize, calibration, int8_mask_value,
                            int8_float_ops, tokenizer_settings, log=log)

    def run(path, samples):
        logits, secs = run_tflite(path, samples.token_ids, samples.padding_mask)
        info, files = metadata.read_metadata(path)
        return logits, secs, {"associated_files": sorted(files)}

    return verified_export(out_dir, artifact, write, run, source, samples, tolerance, "tflite", quantize, log=log)


class TFLiteTextClassifier:
    """Host-side use of an exported `.tflite`: its bundled vocabulary -> the same ids as `classify_text`."""

    def __init__(self, path, threads=2):
        from hat_keras.tokenization import HATTokenizer
        self.info, files = metadata.read_metadata(path)
        self.labels = self.info["labels"]
        self.segmentation = self.info["tokenizer"]["segmentation"]
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in files.items():
                with open(os.path.join(tmp, name), "wb") as f:
                    f.write(data)
            self.tokenizer = HATTokenizer.from_pretrained(tmp, max_sentences=self.info["max_sentences"],
                                                          max_sentence_length=self.info["max_sentence_length"])
        self.runner = interpreter(path, threads).get_signature_runner("serving_default")

    def encode(self, texts):
        out = self.tokenizer([str(t) for t in texts], segmentation=self.segmentation)
        return {k: np.asarray(v, np.int32) for k, v in out.items()}

    def __call__(self, texts):
        """Probabilities (B, C), one document at a time as on a phone."""
        enc = self.encode(texts)
        logits = np.concatenate([self.runner(token_ids=enc["token_ids"][i:i + 1],
                                             padding_mask=enc["padding_mask"][i:i + 1])["logits"]
                                 for i in range(len(texts))])
        e = np.exp(logits - logits.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
