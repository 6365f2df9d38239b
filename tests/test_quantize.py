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


def test_mixed_quantizes_only_the_matmuls(tiny, tmp_path):
    from hat_keras.exporting import export_model
    from hat_keras.exporting.quantize import MATMUL_OPS, op_precision
    source, encoder, texts, calib = tiny
    report = export_model(source, tmp_path / "out", "tflite", "mixed", sample_texts=texts,
                          num_samples=len(texts), calibration_texts=calib[:8], segmentation="uniform")
    precision = op_precision(str(tmp_path / "out" / "model.tflite"))
    assert report["passed"] and precision["integer_only"] and report["prediction_agreement"] >= 0.99
    integer = {op: c for op, c in precision["ops"].items() if {"int8", "int16"} & c.keys()}
    assert integer.keys() - {"QUANTIZE", "DEQUANTIZE"} == set(MATMUL_OPS)  # the rest computes in float32
    assert precision["ops"]["SOFTMAX"].keys() == precision["ops"]["MEAN"].keys() == {"float32"}
    searched = {e["int16"][0] for e in report["mixed_search"] if len(e["int16"]) == 1}
    assert set(report["int16_matmuls"]) <= searched and "BATCH_MATMUL:segment_encoder" in searched
    int16 = sum(c.get("int16", 0) for op, c in precision["ops"].items() if op in MATMUL_OPS)
    assert (int16 > 0) == bool(report["int16_matmuls"])


def test_recipe_raises_one_matmul_kind_to_int16(tiny):
    import re
    from hat_keras.exporting import quantize as q
    from hat_keras.exporting.text import TextEncoder
    from hat_keras.exporting.tflite import convert, with_mask_value
    from hat_keras.exporting.verify import text_documents
    source, _, _, calib = tiny
    float_model = convert(with_mask_value(source.model, q.MASK_VALUE), source.sequence_length)
    quantizer = q.IntegerQuantizer(float_model, text_documents(TextEncoder(source, "uniform"), calib[:2]),
                                   log=lambda m: None)
    schema = q._schema()
    model = schema.Model.GetRootAs(float_model, 0)
    names = [model.Subgraphs(0).Tensors(op.Outputs(0)).Name().decode()
             for name, op in q._operators(model) if name == "BATCH_MATMUL"]
    # the attention products of the segment encoders, not those of the Keras einsum layers inside them
    in_segments = sum(bool(re.search(r"/segment_encoder_\d+/", n) and not re.search(r"/einsum_\d+/", n))
                      for n in names)
    data = quantizer.quantize(8, matmuls_only=True, wide=["BATCH_MATMUL:segment_encoder"])
    ops = q.op_precision(data)["ops"]
    assert 0 < in_segments < len(names)
    assert ops["BATCH_MATMUL"] == {"int16": in_segments, "int8": len(names) - in_segments}


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
    args = ["export", model, "-o", str(tmp_path / "out"), "--format", "tflite", "--quantize", "w8a8", "--samples",
            str(texts), "--num-samples", "2", "--calibration", str(texts), "--tokenizer", str(tmp_path / "tok"),
            "--segmentation", "uniform", "--max-abs-diff", "1e-9"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "max abs diff" in err and '"worst_layers"' in err and '"prediction_agreement"' in err
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.partial-*"))
