"""SavedModel for TF Serving: layout, signatures in a fresh TF-only process, REST and gRPC payloads."""
import importlib.util
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from export_support import RUN_SIGNATURE, tiny_source

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _client():
    spec = importlib.util.spec_from_file_location("serving_client", ROOT / "export" / "serving_client.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def exported(fixtures_dir, data_dir, tmp_path_factory):
    from hat_keras.exporting import export_model
    source, encoder, texts, _ = tiny_source(fixtures_dir, data_dir, tmp_path_factory)
    out = tmp_path_factory.mktemp("serving") / "models"
    report = export_model(source, out, "saved_model", sample_texts=texts, num_samples=len(texts),
                          segmentation="uniform")
    return source, encoder, texts, out, report


def test_layout_and_report(exported):
    source, _, _, out, report = exported
    version = out / "hat" / "1"
    assert (version / "saved_model.pb").exists() and (version / "variables").is_dir()
    assert sorted(p.name for p in (version / "assets").iterdir()) == ["config.json", "hat_export.json",
                                                                      "labels.txt", "vocab.txt"]
    assert (version / "assets" / "labels.txt").read_text().split() == source.labels
    geo = json.loads((version / "assets" / "hat_export.json").read_text())
    assert (geo["max_segments"], geo["segment_length"]) == (4, 32)
    saved = json.loads((out / "export_report.json").read_text())
    assert saved["passed"] and saved["max_abs_diff"] <= 1e-4 and saved["prediction_agreement"] == 1.0
    assert saved["in_graph_ids_match_host_tokenizer"] is True
    assert saved["classify_text_max_abs_diff_probabilities"] < 1e-5
    assert saved["loaded_signatures"] == ["classify_text", "serving_default", "tokenize"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no partial folders left


def test_rest_and_grpc_payloads_in_fresh_process(exported, tmp_path):
    source, encoder, texts, out, _ = exported
    client = _client()
    docs = texts[:3]
    enc = encoder.encode(docs)
    requests = {
        "row": {"kind": "rest", "payload": client.rest_row_payload(enc["token_ids"], enc["padding_mask"])},
        "columnar": {"kind": "rest", "payload": client.rest_columnar_payload(enc["token_ids"], enc["padding_mask"])},
        "text_row": {"kind": "rest", "payload": client.rest_text_payload(docs)},
        "text_columnar": {"kind": "rest", "payload": client.rest_text_payload(docs, columnar=True)},
        "grpc": {"kind": "grpc", "hex": client.grpc_request(
            {"token_ids": enc["token_ids"], "padding_mask": enc["padding_mask"]}).SerializeToString().hex()},
        "grpc_text": {"kind": "grpc", "hex": client.grpc_request(
            {"text": np.asarray(docs)}, signature="classify_text").SerializeToString().hex()},
    }
    json.loads(json.dumps(requests))  # REST payloads are plain JSON
    (tmp_path / "req.json").write_text(json.dumps(requests))
    proc = subprocess.run([sys.executable, "-c", RUN_SIGNATURE, str(out / "hat" / "1"), str(tmp_path / "req.json"),
                           str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = np.load(tmp_path / "out.npz")
    assert list(res["modules"]) == []  # served with tensorflow + tensorflow_text only
    ref = source.logits(enc["token_ids"], enc["padding_mask"])
    probs = np.exp(ref) / np.exp(ref).sum(-1, keepdims=True)
    for name in ("row", "columnar", "grpc"):
        np.testing.assert_allclose(res[f"{name}/logits"], ref, atol=1e-4)
    for name in ("text_row", "text_columnar", "grpc_text"):
        np.testing.assert_allclose(res[f"{name}/probabilities"], probs, atol=1e-5)
        assert list(res[f"{name}/label"]) == [source.labels[i] for i in ref.argmax(-1)]
        assert res[f"{name}/label_names"].shape == (3, len(source.labels))


def test_client_host_tokenizer_matches_in_graph(exported):
    _, encoder, texts, out, _ = exported
    tok, geo = _client().host_tokenizer(str(out / "hat" / "1"))
    host = tok(texts, segmentation="uniform")
    ref = encoder.encode(texts)
    np.testing.assert_array_equal(host["token_ids"], ref["token_ids"])
    np.testing.assert_array_equal(host["padding_mask"], ref["padding_mask"])
    assert geo["sequence_length"] == 128
