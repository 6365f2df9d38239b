"""Self-verification: `.keras` export, failures on corrupted artifacts and tight tolerances, no partial output, CLI."""
import json

import numpy as np
import pytest

from export_support import tiny_source


@pytest.fixture(scope="module")
def tiny(fixtures_dir, data_dir, tmp_path_factory):
    return tiny_source(fixtures_dir, data_dir, tmp_path_factory)


def _leftovers(parent):
    return sorted(p.name for p in parent.iterdir())


def test_keras_format(tiny, tmp_path):
    from hat_keras.exporting import export_model
    source, _, texts, _ = tiny
    report = export_model(source, tmp_path / "out", "keras", sample_texts=texts, num_samples=4)
    assert report["passed"] and report["max_abs_diff"] <= 1e-6 and report["prediction_agreement"] == 1.0
    assert _leftovers(tmp_path / "out") == ["export_report.json", "model.keras"]
    assert json.loads((tmp_path / "out" / "export_report.json").read_text())["samples"] == "text"


def test_too_tight_tolerance_fails_and_leaves_nothing(tiny, tmp_path):
    from hat_keras.exporting import ExportVerificationError, export_model
    source, _, texts, _ = tiny
    with pytest.raises(ExportVerificationError, match="max abs diff") as e:
        export_model(source, tmp_path / "out", "keras", sample_texts=texts, num_samples=4,
                     tolerance={"max_abs_diff": -1.0})
    assert e.value.report["passed"] is False and e.value.report["failures"]
    assert _leftovers(tmp_path) == []  # neither OUT nor a hidden partial folder


def test_corrupted_onnx_fails(tiny, tmp_path, monkeypatch):
    """A converter that writes a valid but wrong model (one weight changed) is caught by the comparison."""
    import onnx
    from onnx import numpy_helper
    from hat_keras.exporting import ExportVerificationError, export_model
    from hat_keras.exporting import onnx as onnx_export
    real_convert = onnx_export.convert

    def corrupt(model, sequence_length, path, opset=onnx_export.DEFAULT_OPSET):
        real_convert(model, sequence_length, path, opset)
        m = onnx.load(path)
        init = max(m.graph.initializer, key=lambda t: int(np.prod(t.dims)))  # the largest weight
        arr = numpy_helper.to_array(init).copy()
        arr += np.random.default_rng(0).normal(0, 1, arr.shape).astype(arr.dtype)
        init.CopyFrom(numpy_helper.from_array(arr, init.name))
        onnx.save(m, path)

    monkeypatch.setattr(onnx_export, "convert", corrupt)
    source, _, texts, _ = tiny
    with pytest.raises(ExportVerificationError, match="verification failed"):
        export_model(source, tmp_path / "out", "onnx", sample_texts=texts, num_samples=4)
    assert _leftovers(tmp_path) == []


def test_unloadable_artifact_fails(tiny, tmp_path, monkeypatch):
    """A truncated artifact fails the ONNX full check; nothing is left behind."""
    from hat_keras.exporting import ExportError, export_model
    from hat_keras.exporting import onnx as onnx_export
    real_convert = onnx_export.convert

    def truncate(model, sequence_length, path, opset=onnx_export.DEFAULT_OPSET):
        real_convert(model, sequence_length, path, opset)
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])

    monkeypatch.setattr(onnx_export, "convert", truncate)
    source, _, texts, _ = tiny
    with pytest.raises(ExportError):
        export_model(source, tmp_path / "out", "onnx", sample_texts=texts, num_samples=2)
    assert _leftovers(tmp_path) == []


def test_cli(fixtures_dir, tmp_path, capsys):
    from hat_keras.cli import main
    model = str(fixtures_dir / "tiny-e2" / "seqcls-max")
    assert main(["export", model, "-o", str(tmp_path / "k"), "--format", "keras", "--num-samples", "2"]) == 0
    assert (tmp_path / "k" / "model.keras").exists()
    assert main(["export", str(tmp_path / "missing"), "-o", str(tmp_path / "x"), "--format", "onnx"]) == 1
    assert "no such model" in capsys.readouterr().err
    assert main(["export", model, "-o", str(tmp_path / "y"), "--format", "keras", "--quantize", "int8"]) == 1
    assert "tflite and web only" in capsys.readouterr().err
    assert main(["export", model, "-o", str(tmp_path / "z"), "--format", "tflite", "--quantize", "int8"]) == 1
    assert "calibration" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", model, "-o", str(tmp_path / "w"), "--format", "pb"])
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists() and not (tmp_path / "z").exists()
