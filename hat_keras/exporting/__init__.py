"""Exports users run: `.keras`, SavedModel for TF Serving, TFLite/LiteRT and ONNX, each verified before success."""
import os

from hat_keras.exporting.source import ExportError, ExportSource, make_source  # noqa: F401
from hat_keras.exporting.verify import (REPORT_NAME, TOLERANCES, ExportVerificationError,  # noqa: F401
                                        Samples, synthetic_documents, text_documents)

FORMATS = ("keras", "saved_model", "tflite", "onnx", "web")


def _log_default(msg):
    print(msg, flush=True)


def export_model(model, out_dir, format, quantize=None, *, labels=None, tokenizer=None, name="hat", version=1,
                 sample_texts=None, calibration_texts=None, num_samples=16, tolerance=None, segmentation=None,
                 litertjs=None, overwrite=False, log=_log_default):
    """Export `model` (object, `.keras` file, checkpoint or preset folder) to `out_dir` and verify it.

    quantize (tflite): float16, dynamic, or an integer-only variant for NPUs: w8a8, w8a16, mixed (calibrated on
    `calibration_texts`; see `hat_keras.exporting.quantize`). `web` writes a static page on LiteRT.js; its
    quantize defaults to "dynamic" (pass "float32" for none).
    Returns the export report (also written as `out_dir/export_report.json`); raises ExportVerificationError
    (nothing written) when the artifact disagrees with the Keras model beyond `tolerance`. An existing
    `out_dir` is refused unless `overwrite`; then it is replaced whole, in one rename, once the new export
    has passed. All temporary files live in `.OUT.partial-*` beside it (see `hat_keras.staging`).
    Under another Keras backend (JAX), every format but `keras` is exported in a TensorFlow process
    (`hat_keras.exporting.backend`).
    """
    from hat_keras.staging import OutputExists, Staging
    if format not in FORMATS:
        raise ExportError(f"format={format!r}; choose one of {', '.join(FORMATS)}")
    if quantize is not None and format not in ("tflite", "web"):
        raise ExportError(f"--quantize applies to tflite and web only (got format={format})")
    if format == "web" and quantize is None:
        from hat_keras.exporting.web import DEFAULT_QUANTIZE
        quantize = DEFAULT_QUANTIZE
    if quantize == "float32":
        quantize = None
    if quantize == "int8":  # the name earlier releases used for full-int8
        log("[export] --quantize int8 is w8a8 (int8 weights and activations)")
        quantize = "w8a8"
    if int(num_samples) < 1:
        raise ExportError(f"num_samples={num_samples}: verify on at least one document")
    if sample_texts is not None and not len(sample_texts):
        raise ExportError("no sample texts: give documents to verify on, or none for synthetic ones")
    try:
        staging = Staging(out_dir, overwrite)
    except OutputExists as e:
        raise ExportError(str(e)) from None
    if staging.removed_stale:
        log(f"[export] removed {len(staging.removed_stale)} unfinished export(s) of killed runs beside "
            f"{staging.out}")
    with staging:
        from hat_keras.exporting.backend import export_under_tensorflow, needs_tensorflow
        if needs_tensorflow(format):  # e.g. a model trained under Keras-JAX
            return export_under_tensorflow(staging, model, dict(
                format=format, quantize=quantize, labels=labels, tokenizer=tokenizer, name=name, version=version,
                sample_texts=sample_texts, calibration_texts=calibration_texts, num_samples=num_samples,
                tolerance=tolerance, segmentation=segmentation, litertjs=litertjs, overwrite=overwrite), log)
        return _export(staging, model, format, quantize, labels, tokenizer, name, version, sample_texts,
                       calibration_texts, num_samples, tolerance, segmentation, litertjs, log)


def _export(staging, model, format, quantize, labels, tokenizer, name, version, sample_texts, calibration_texts,
            num_samples, tolerance, segmentation, litertjs, log):
    from hat_keras.exporting import text as text_mod
    out_dir = staging
    source = model if isinstance(model, ExportSource) else make_source(model, labels=labels, tokenizer=tokenizer,
                                                                        name=name)
    source = source.with_tokenizer_files(os.path.join(staging.work, "tokenizer"))
    encoder = text_mod.TextEncoder(source, segmentation) if source.tokenizer_dir else None
    if encoder is None and format == "saved_model":
        log("[export] no tokenizer found (vocab.txt): the SavedModel gets serving_default only, no classify_text")
    if sample_texts is not None and encoder is None:
        raise ExportError("sample texts need a tokenizer: pass tokenizer=FOLDER (with vocab.txt)")
    if sample_texts:
        samples = text_documents(encoder, list(sample_texts)[:num_samples])
    else:
        samples = synthetic_documents(source, num_samples)
    if format == "keras":
        from hat_keras.exporting.keras_format import export_keras
        return export_keras(source, out_dir, samples, tolerance, log=log)
    if format == "saved_model":
        from hat_keras.exporting.saved_model import export_saved_model
        return export_saved_model(source, out_dir, encoder, version, samples, tolerance, log=log)
    if format == "onnx":
        from hat_keras.exporting.onnx import export_onnx
        return export_onnx(source, out_dir, samples, tolerance, log=log)
    from hat_keras.exporting import tflite
    if format == "web":
        from hat_keras.exporting.web import export_web
        return export_web(source, out_dir, quantize, samples, tolerance=tolerance, encoder=encoder,
                          litertjs=litertjs, log=log)
    calibration = None
    if quantize in tflite.integer.VARIANTS:
        texts = calibration_texts or (list(sample_texts)[num_samples:] if sample_texts else None)
        if not texts:
            raise ExportError(f"{quantize} needs calibration documents (--calibration FILE.jsonl, or more "
                              "--samples than --num-samples)")
        if encoder is None:
            raise ExportError(f"{quantize} calibrates on text: pass tokenizer=FOLDER (with vocab.txt)")
        calibration = text_documents(encoder, texts)
    return tflite.export_tflite(source, out_dir, quantize, samples, calibration, tolerance,
                                tokenizer_settings=encoder.settings() if encoder else None, log=log)
