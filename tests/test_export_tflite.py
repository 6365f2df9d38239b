"""TFLite / LiteRT: every quantization against the Keras model, builtins only, bundled metadata, host ids."""
import json

import numpy as np
import pytest

from export_support import tiny_source


@pytest.fixture(scope="module")
def tiny(fixtures_dir, data_dir, tmp_path_factory):
    return tiny_source(fixtures_dir, data_dir, tmp_path_factory)


def _export(tiny, tmp_path, quantize, **kw):
    from hat_keras.exporting import export_model
    source, _, texts, calib = tiny
    return export_model(source, tmp_path / "out", "tflite", quantize, sample_texts=texts, num_samples=len(texts),
                        calibration_texts=calib, segmentation="uniform", **kw)


def _check_artifact(tiny, tmp_path, report):
    from hat_keras import runtime
    from hat_keras.exporting import tflite
    from hat_keras.exporting.metadata import operators, read_metadata
    source, encoder, texts, _ = tiny
    path = tmp_path / "out" / "model.tflite"
    assert json.loads((tmp_path / "out" / "export_report.json").read_text())["passed"]
    assert not any(op.startswith("CUSTOM") for op in operators(str(path)))  # builtins only, no Flex
    info, files = read_metadata(str(path))
    assert info["labels"] == source.labels and info["input_shape"] == [1, 128]
    assert (info["max_segments"], info["segment_length"]) == (4, 32)
    assert sorted(files) == ["config.json", "hat_export.json", "labels.txt", "vocab.txt"]
    assert sorted(runtime.LiteRTRunner(path).input_shapes.values()) == [[1, 128], [1, 128]]
    # The host tokenizer rebuilt from the bundled files gives the in-graph ids.
    clf = runtime.TFLiteTextClassifier(path)
    host, ref = clf.encode(texts), encoder.encode(texts)
    np.testing.assert_array_equal(host["token_ids"], ref["token_ids"])
    np.testing.assert_array_equal(host["padding_mask"], ref["padding_mask"])
    logits, _ = tflite.run_tflite(path, ref["token_ids"], ref["padding_mask"])
    keras_logits = source.logits(ref["token_ids"], ref["padding_mask"])
    return logits, keras_logits, clf(texts)


def test_float32(tiny, tmp_path):
    report = _export(tiny, tmp_path, None)
    logits, ref, probs = _check_artifact(tiny, tmp_path, report)
    assert report["max_abs_diff"] <= 1e-4
    np.testing.assert_allclose(logits, ref, atol=1e-4)
    np.testing.assert_allclose(probs, np.exp(ref) / np.exp(ref).sum(-1, keepdims=True), atol=1e-5)


@pytest.mark.parametrize("quantize", ["float16", "dynamic"])
def test_float16_and_dynamic(tiny, tmp_path, quantize):
    report = _export(tiny, tmp_path, quantize)
    logits, ref, _ = _check_artifact(tiny, tmp_path, report)
    assert report["prediction_agreement"] >= 0.99
    assert np.mean(logits.argmax(-1) == ref.argmax(-1)) >= 0.99
    assert 0 < np.abs(logits - ref).max() < 0.2
    assert report["size_bytes"] < 0.6 * 2.0e6  # fp32 is ~2.1 MB
