"""ONNX: onnx.checker full check and onnxruntime against the Keras model (never the converter's exit code)."""
import json

import numpy as np

from export_support import tiny_source


def test_onnx(fixtures_dir, data_dir, tmp_path_factory, tmp_path):
    import onnx
    from hat_keras.exporting import export_model
    from hat_keras.exporting.onnx import run_onnx
    source, encoder, texts, _ = tiny_source(fixtures_dir, data_dir, tmp_path_factory)
    report = export_model(source, tmp_path / "out", "onnx", sample_texts=texts, num_samples=len(texts),
                          segmentation="uniform")
    path = tmp_path / "out" / "model.onnx"
    onnx.checker.check_model(str(path), full_check=True)
    assert "Erf" in report["ops"] and "Erfc" not in report["ops"]
    assert json.loads((tmp_path / "out" / "export_report.json").read_text())["max_abs_diff"] <= 1e-4
    enc = encoder.encode(texts)
    logits, _ = run_onnx(str(path), enc["token_ids"], enc["padding_mask"])  # dynamic batch
    np.testing.assert_allclose(logits, source.logits(enc["token_ids"], enc["padding_mask"]), atol=1e-4)
    names = [i.name for i in onnx.load(str(path)).graph.input]
    assert sorted(names) == ["padding_mask", "token_ids"]
