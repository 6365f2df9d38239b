"""Integer-only TFLite (ai-edge-quantizer): op precision read from the flatbuffer, float logits out, the gate."""
import json

import numpy as np
import pytest

from export_support import hyperpartisan, tiny_source, tiny_vocab

pytest.importorskip("ai_edge_quantizer")


@pytest.fixture(scope="module")
def tiny(fixtures_dir, data_dir, tmp_path_factory):
    return tiny_source(fixtures_dir, data_dir, tmp_path_factory)


@pytest.fixture(scope="module")
def w8a16(tiny, tmp_path_factory):
    from hat_keras.exporting import export_model
    source, _, texts, calib = tiny
    out = tmp_path_factory.mktemp("w8a16") / "out"
    return out, export_model(source, out, "tflite", "w8a16", sample_texts=texts, num_samples=len(texts),
                             calibration_texts=calib[:8], segmentation="uniform")


def test_integer_only_variant_is_verified_and_reported(tiny, w8a16):
    from hat_keras.exporting.metadata import read_metadata
    from hat_keras.exporting.quantize import op_precision
    from hat_keras.exporting.tflite import run_tflite
    source, encoder, texts, _ = tiny
    out, report = w8a16
    precision = op_precision(str(out / "model.tflite"))
    assert report["passed"] and report["op_precision"] == precision and precision["integer_only"]
    assert precision["ops"]["FULLY_CONNECTED"].keys() == precision["ops"]["BATCH_MATMUL"].keys() == {"int16"}
    assert report["calibration_documents"] == 8 and report["worst_layers"]
    assert read_metadata(str(out / "model.tflite"))[0]["integer_only"] is True
    enc = encoder.encode(texts)
    logits, _ = run_tflite(out / "model.tflite", enc["token_ids"], enc["padding_mask"])
    assert logits.dtype == np.float32  # dequantized in the graph
    ref = source.logits(enc["token_ids"], enc["padding_mask"])
    assert np.mean(logits.argmax(-1) == ref.argmax(-1)) >= 0.99


def test_float_model_is_not_integer_only(tiny, tmp_path):
    from hat_keras.exporting.quantize import op_precision
    from hat_keras.exporting.tflite import convert
    source = tiny[0]
    precision = op_precision(convert(source.model, source.sequence_length))
    assert not precision["integer_only"] and precision["ops"]["BATCH_MATMUL"].keys() == {"float32"}
    assert precision["float_matmuls"] == sum(precision["ops"][op]["float32"] for op in ("FULLY_CONNECTED",
                                                                                       "BATCH_MATMUL"))


def test_gate_refuses_and_names_the_worst_layers(fixtures_dir, data_dir, tmp_path, capsys):
    from hat_keras.cli import main
    docs, _ = hyperpartisan(data_dir, "train", 200)
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "vocab.txt").write_text("\n".join(tiny_vocab(docs)) + "\n", encoding="utf-8")
    texts = tmp_path / "docs.jsonl"
    texts.write_text("".join(json.dumps({"text": t}) + "\n" for t in docs[:6]))
    model = str(fixtures_dir / "tiny-e2" / "seqcls-max")
    args = ["export", model, str(tmp_path / "out"), "--format", "tflite", "--quantize", "w8a8", "--samples",
            str(texts), "--num-samples", "2", "--calibration", str(texts), "--tokenizer", str(tmp_path / "tok"),
            "--segmentation", "uniform", "--max-abs-diff", "1e-9"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "max abs diff" in err and '"worst_layers"' in err and '"prediction_agreement"' in err
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.partial-*"))
