"""TFLite / LiteRT export: builtin ops only, fixed `[1, N·K]` inputs; fp32, float16, dynamic-range and the
integer-only variants of `hat_keras.exporting.quantize` (w8a8, w8a16, mixed).

The model is converted from a SavedModel with a single fixed-shape signature through `TFLiteConverter`
restricted to TFLITE_BUILTINS, so a Flex (select TF) op fails the export instead of silently needing the
Flex runtime on the phone. Verification runs the `.tflite` on `hat_keras.runtime.LiteRTRunner`: LiteRT's
`CompiledModel` (the LiteRT 2.x API; the `Interpreter` is its CPU-only legacy path), on XNNPACK with 2 threads.
"""
import os
import tempfile

import numpy as np

from hat_keras import logs
from hat_keras.exporting import metadata, quantize as integer
from hat_keras.exporting.source import ExportError
from hat_keras.exporting.verify import TOLERANCES, verified_export
from hat_keras.runtime import BucketedLiteRT

QUANTIZATIONS = (None, "float16", "dynamic") + integer.VARIANTS


def with_mask_value(model, mask_value):
    """A copy of a HAT task model whose backbone adds `mask_value` (not float32 min) for masked keys."""
    config = model.get_config()
    config["backbone"]["config"]["attention_mask_value"] = float(mask_value)
    clone = type(model).from_config(config)
    clone.set_weights(model.get_weights())
    return clone


def _fixed_saved_model(model, directory, sequence_length, batch_size=1, explain=False, buckets=()):
    """`explain`: a second output, the segments' contributions (`hat_keras.explain`); `buckets`: segment
    counts below the full length that get their own `segments_{n}` signature (compact models)."""
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
    width = sequence_length // model.backbone.max_segments
    for n in buckets:
        archive.add_endpoint(f"segments_{n}", serve, input_signature=[
            {k: tf.TensorSpec((batch_size, n * width), tf.int32, name=k) for k in spec}])
    archive.write_out(directory, verbose=False)


def bucket_signatures(backbone, quantize, explain):
    """The buckets below full length a `.tflite` carries: a compact model's (`segment_buckets`), for the float
    and dynamic-range exports (the integer-only ones are calibrated and verified on one shape, and the web
    page runs one signature)."""
    from hat_keras.inference import segment_buckets

    if not getattr(backbone, "compact", False) or explain or quantize not in (None, "float16", "dynamic"):
        return []
    return segment_buckets(backbone.max_segments)[:-1]


def convert(model, sequence_length, quantize=None, batch_size=1, explain=False, buckets=()):
    """Keras model -> tflite bytes (builtin ops only): fp32, float16 or dynamic-range. `explain`: add the
    `segment_contributions` output; `buckets`: add a `segments_{n}` signature per bucket (the weight buffers
    are shared; the MiniLM 32 x 128 dynamic-range file grows from 29.8 to 37.8 MB with six signatures)."""
    import tensorflow as tf
    if quantize not in (None, "float16", "dynamic"):
        raise ExportError(f"quantize={quantize!r}; the converter makes float16 and dynamic (integer variants: "
                          "hat_keras.exporting.quantize)")
    with tempfile.TemporaryDirectory() as tmp:
        _fixed_saved_model(model, tmp, sequence_length, batch_size, explain, buckets)
        keys = ["serving_default"] + [f"segments_{n}" for n in buckets]
        conv = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=keys)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize:
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            conv.target_spec.supported_types = [tf.float16]
        try:
            with logs.native_stderr():  # the converter's W0000/I0000 lines (e.g. "Ignored output_format")
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


def run_signature(path, token_ids, padding_mask, threads=2, api="compiled"):
    """Every output ({name: (B, ...) float32}) and per-document seconds (batch 1); a compact model's export
    runs each document on its bucket's signature (`BucketedLiteRT`)."""
    import time
    runner = BucketedLiteRT(path, threads, api)
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


def write_tflite(source, path, quantize=None, calibration=None, tokenizer_settings=None, explain=False,
                 log=print):
    """Convert (and for the integer variants quantize on `calibration`), check for non-builtin ops, bundle
    the metadata and write `path`; returns report extras (ops, op precision, for integer variants the
    recipe and the worst layers). `explain`: a second output, `segment_contributions` (the web export's)."""
    extra = {}
    if quantize in integer.VARIANTS:
        data, extra = _integer_variant(source, quantize, calibration, explain, log)
    else:
        buckets = bucket_signatures(source.backbone, quantize, explain)
        data = convert(source.model, source.sequence_length, quantize, explain=explain, buckets=buckets)
        if buckets:
            extra["bucket_signatures"] = [f"segments_{n}" for n in buckets] + ["serving_default"]
            log(f"[export] compact model: signatures for {', '.join(map(str, buckets))} and "
                f"{source.backbone.max_segments} segments (each document runs on the smallest that holds it)")
    ops = metadata.operators(data)
    flex = [o for o in ops if o.startswith("CUSTOM")]
    if flex:
        raise ExportError(f"TFLite model needs non-builtin ops {flex}")
    precision = integer.op_precision(data)
    log(f"[export] op precision: {integer.precision_line(precision)}")
    if quantize in integer.VARIANTS and not precision["integer_only"]:
        raise ExportError(f"{quantize}: {precision['float_matmuls']} FULLY_CONNECTED/BATCH_MATMUL ops still "
                          "take float inputs; the model would not run on an integer-only accelerator")
    outputs = ["logits", "segment_contributions"] if explain else ["logits"]
    info = {"format": "tflite", "quantization": quantize or "float32", "inputs": ["token_ids", "padding_mask"],
            "input_shape": [1, source.sequence_length], "outputs": outputs, **source.geometry(),
            "labels": source.labels, "tokenizer": tokenizer_settings or {},
            "integer_only": precision["integer_only"]}
    with open(path, "wb") as f:
        f.write(metadata.add_metadata(data, info, bundle_files(source)))
    return {"ops": ops, "op_precision": precision, "runtime": "ai_edge_litert.CompiledModel", "threads": 2,
            **extra}


def _integer_variant(source, variant, calibration, explain, log):
    """(tflite bytes, report extras) of an integer-only variant, from the bounded-mask float model."""
    model = with_mask_value(source.model, integer.MASK_VALUE)
    float_model = convert(model, source.sequence_length, None, explain=explain)
    padding = integer.padding_document(calibration, int(source.backbone.pad_token_id), source.segment_length)
    quantizer = integer.IntegerQuantizer(float_model, calibration, padding, log=log)

    def logits(data):  # on LiteRT, the calibration documents
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.tflite")
            with open(path, "wb") as f:
                f.write(data)
            return run_signature(path, calibration.token_ids, calibration.padding_mask)[0]["logits"]

    reference = logits(float_model)

    top2 = np.sort(reference, axis=-1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]

    def check(data):
        """(share of documents whose prediction is safe: every logit off by less than 1/MIXED_SAFETY of the
        float model's margin between its top two, mean abs logit diff)."""
        out = logits(data)
        error = np.abs(out - reference)
        return float(np.mean(integer.MIXED_SAFETY * error.max(-1) < margin)), float(np.mean(error))

    data, extra = quantizer.variant(variant, check)
    worst = quantizer.layer_errors(data, calibration.head(min(2, len(calibration))), top=5)
    return data, {**extra, "mask_value": integer.MASK_VALUE, "calibration_documents": len(calibration),
                  "worst_layers": worst}


def export_tflite(source, out_dir, quantize=None, samples=None, calibration=None, tolerance=None,
                  tokenizer_settings=None, log=print):
    """`out_dir/model.tflite` (+ export_report.json), verified on LiteRT against the Keras model."""
    tolerance = dict(tolerance or TOLERANCES[quantize])
    artifact = "model.tflite"

    def write(tmp):
        return write_tflite(source, os.path.join(tmp, artifact), quantize, calibration, tokenizer_settings,
                            log=log)

    def run(path, samples):
        logits, secs = run_tflite(path, samples.token_ids, samples.padding_mask)
        info, files = metadata.read_metadata(path)
        return logits, secs, {"associated_files": sorted(files)}

    try:
        return verified_export(out_dir, artifact, write, run, source, samples, tolerance, "tflite", quantize,
                               log=log)
    except ExportError as e:
        worst = (getattr(e, "report", None) or {}).get("worst_layers")
        if worst:
            log("[export] worst layers (relative error of their int outputs): " + ", ".join(
                f"{w['op']} {w['relative_error']:.3g} ({w['tensor']})" for w in worst))
        raise
