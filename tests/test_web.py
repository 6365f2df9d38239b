"""`hat-keras export --format web`: the page's files, its verified `.tflite` (logits + segment contributions),
`predict --explain` on it, and, in a real headless Chromium (`pytest -k browser`), the page itself against
Python LiteRT: float32 logits within 1e-4, the dynamic-range label, the contributions, the UI, a 5 MB
document, phone-sized layout and clear errors for a missing or corrupt model."""
import json
import os
import re
import shutil

import numpy as np
import pytest

from export_support import tiny_source
from harness import head_model

TEXTS_EXTRA = ["Café, naïve résumé. 東京 and 한국! Dr. Smith said \"no.\" [MASK] here.\n\nA second paragraph."]


@pytest.fixture(scope="module")
def tiny(fixtures_dir, data_dir, tmp_path_factory):
    return tiny_source(fixtures_dir, data_dir, tmp_path_factory)


@pytest.fixture(scope="module")
def litertjs():
    """The web export copies LiteRT.js from node_modules: without `npm ci` these tests skip, naming it."""
    from hat_keras.exporting import ExportError
    from hat_keras.exporting.web import find_litertjs
    try:
        return find_litertjs()
    except ExportError as e:
        pytest.skip(f"web export: {e}")


@pytest.fixture(scope="module")
def web_fp32(tiny, litertjs, tmp_path_factory):
    """tiny-e2, max pooling, float32, `sentences` segmentation."""
    from hat_keras.exporting import export_model
    from hat_keras.exporting.text import TextEncoder
    source, _, texts, _ = tiny
    out = tmp_path_factory.mktemp("web") / "fp32"
    report = export_model(source, out, "web", "float32", sample_texts=texts, num_samples=len(texts),
                          segmentation="sentences")
    return out, report, source, TextEncoder(source, "sentences"), texts + TEXTS_EXTRA


@pytest.fixture(scope="module")
def web_dynamic(tiny, litertjs, fixtures_dir, tmp_path_factory):
    """tiny-e2, attentive pooling, dynamic-range (the default), `uniform` segmentation."""
    from hat_keras.exporting import export_model, make_source
    from hat_keras.exporting.text import TextEncoder
    base, _, texts, _ = tiny
    source = make_source(head_model(fixtures_dir, "tiny-e2", "seqcls-attentive"),
                         tokenizer=os.path.dirname(base.vocab_path))
    out = tmp_path_factory.mktemp("web") / "dynamic"
    report = export_model(source, out, "web", sample_texts=texts, num_samples=len(texts), segmentation="uniform")
    return out, report, source, TextEncoder(source, "uniform"), texts + TEXTS_EXTRA


def source_checkpoint():
    from conftest import FIXTURES
    return FIXTURES / "tiny-e2" / "seqcls-max"


def python_litert(out, encoder, texts):
    from hat_keras.exporting.tflite import run_signature
    enc = encoder.encode(texts)
    outs, _ = run_signature(out / "model.tflite", enc["token_ids"], enc["padding_mask"])
    return enc, outs


# ---- the export (no browser) ------------------------------------------------------------------------
def test_web_export_files_and_report(web_fp32):
    from hat_keras.exporting.metadata import read_metadata
    from hat_keras.runtime import LiteRTRunner
    out, report, source, _, _ = web_fp32
    for name in ("index.html", "app.mjs", "style.css", "tokenizer.mjs", "tokenize.mjs", "unicode_tables.mjs",
                 "model.tflite", "config.json", "vocab.txt", "labels.txt", "web.json", "export_report.json", "serve.py",
                 "litert/core/index.js", "litert/wasm-utils/index.js", "litert/NOTICE.txt",
                 "litert/wasm/litert_wasm_internal.wasm", "litert/wasm/litert_wasm_threaded_internal.wasm",
                 "litert/wasm/litert_wasm_compat_internal.wasm"):
        assert (out / name).is_file(), name
    assert not list(out.parent.glob(".fp32.partial-*"))  # nothing half-written left beside OUT
    web = json.loads((out / "web.json").read_text())
    assert web["input_shape"] == [1, 128] and web["litertjs"] == "2.5.3" and web["pooling"] == "max"
    assert web["quantization"] == "float32" and web["labels"] == source.labels
    config = json.loads((out / "config.json").read_text())
    assert (config["max_sentences"], config["max_sentence_length"], config["model_max_length"]) == (4, 32, 128)
    assert report["passed"] and report["max_abs_diff"] <= 1e-4 and report["contributions_max_abs_diff"] <= 1e-5
    if shutil.which("node"):
        assert report["javascript_tokenizer"] == {"checked": 8, "identical": True}
    runner = LiteRTRunner(out / "model.tflite")
    assert sorted(runner.output_names) == ["logits", "segment_contributions"]
    assert list(runner.input_shapes.values()) == [[1, 128], [1, 128]]
    info, files = read_metadata(out / "model.tflite")
    assert info["outputs"] == ["logits", "segment_contributions"] and "vocab.txt" in files
    html = (out / "index.html").read_text()
    assert "http" not in html.replace("http-equiv", "")  # no CDN: everything from the page's own folder


def test_web_export_default_is_dynamic_range_and_verified(web_dynamic):
    out, report, _, _, _ = web_dynamic
    web = json.loads((out / "web.json").read_text())
    assert web["quantization"] == "dynamic" and web["pooling"] == "attentive" and web["segmentation"] == "uniform"
    assert report["passed"] and report["prediction_agreement"] >= 0.99
    assert report["size_bytes"] < 0.6 * 2.0e6


def test_predict_explain_on_the_web_model(web_fp32, tmp_path):
    """`predict --explain` through Python LiteRT reports the Keras model's contributions."""
    from hat_keras.explain import classify_with_contributions
    from hat_keras.predict import predict_files
    out, _, source, encoder, texts = web_fp32
    doc = tmp_path / "doc.txt"
    doc.write_text(texts[-2], encoding="utf-8")
    lines = []
    row = predict_files(str(out / "model.tflite"), [str(doc)], as_json=True, explain=True, out=lines.append)[0]
    enc = encoder.encode([texts[-2]])
    logits, contributions = classify_with_contributions(source.model, enc)
    got = np.array([s["contribution"] for s in row["segments"]])
    np.testing.assert_allclose(got, np.asarray(contributions)[0], atol=1e-5)
    probs = np.exp(logits[0]) / np.exp(logits[0]).sum()
    np.testing.assert_allclose(list(row["probabilities"].values()), probs, atol=1e-5)
    assert any(s["text"] for s in row["segments"]) and json.loads(lines[0])["segments"] == row["segments"]
    # The Keras path (a checkpoint folder with its vocabulary) reports the same numbers and segment texts.
    ckpt = tmp_path / "ckpt"
    shutil.copytree(source_checkpoint(), ckpt)
    shutil.copy(source.vocab_path, ckpt / "vocab.txt")
    keras_row = predict_files(str(ckpt), [str(doc)], explain=True, segmentation="sentences", out=lines.append)[0]
    np.testing.assert_allclose([s["contribution"] for s in keras_row["segments"]], got, atol=1e-5)
    assert [s["text"] for s in keras_row["segments"]] == [s["text"] for s in row["segments"]]
    assert lines[-4].startswith("  segment 1\t")


def test_web_export_refuses_what_the_page_cannot_do(tiny, litertjs, tmp_path):
    from hat_keras.exporting import ExportError, export_model, make_source
    source, _, _, _ = tiny
    with pytest.raises(ExportError, match="sentences"):
        export_model(source, tmp_path / "a", "web", segmentation="presegmented")
    with pytest.raises(ExportError, match="tokenizer"):
        export_model(make_source(source.model), tmp_path / "b", "web")
    with pytest.raises(ExportError, match="no @litertjs/core"):
        export_model(source, tmp_path / "c", "web", litertjs=tmp_path)
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


# ---- in Chromium --------------------------------------------------------------------------------------
def browser(directory, steps, **kw):
    from benchmarks.browser import missing, run_page
    reason = missing()
    if reason:
        pytest.skip(f"browser test: {reason}")
    result = run_page(directory, steps, **kw)
    assert all(u.startswith("http://127.0.0.1:") for u in result["requests"]), result["requests"]
    return result


def page_results(result):
    assert result["ready"], result["error"]
    return result["steps"][0]["results"]


def test_browser_float32_matches_python_litert(web_fp32):
    out, _, source, encoder, texts = web_fp32
    result = browser(out, [{"do": "classify", "texts": texts}])
    rows = page_results(result)
    enc, ref = python_litert(out, encoder, texts)
    np.testing.assert_array_equal(np.array([r["token_ids"] for r in rows]), enc["token_ids"])
    np.testing.assert_allclose(np.array([r["logits"] for r in rows]), ref["logits"], atol=1e-4)
    np.testing.assert_allclose(np.array([r["contributions"] for r in rows]), ref["segment_contributions"], atol=1e-5)
    assert [r["label"] for r in rows] == [source.labels[i] for i in ref["logits"].argmax(-1)]
    assert result["info"]["crossOriginIsolated"] and result["info"]["threads"] >= 1
    # LiteRT.js's C++ log lines go to console.debug / console.warn, not console.error (quiet by default).
    assert not [e for e in result["console_errors"] if re.match(r"(INFO|VERBOSE|WARNING): \[", e)], \
        result["console_errors"]


def test_browser_dynamic_range_label_and_attention_agree(web_dynamic):
    out, _, source, encoder, texts = web_dynamic
    rows = page_results(browser(out, [{"do": "classify", "texts": texts}], isolated=False))
    enc, ref = python_litert(out, encoder, texts)
    np.testing.assert_array_equal(np.array([r["token_ids"] for r in rows]), enc["token_ids"])
    assert [r["label"] for r in rows] == [source.labels[i] for i in ref["logits"].argmax(-1)]
    # Dynamic-range kernels differ between the two LiteRT builds: attention weights agree closely, not exactly.
    np.testing.assert_allclose(np.array([r["contributions"] for r in rows]), ref["segment_contributions"], atol=0.02)


def test_browser_page_ui_phone_and_5mb(web_fp32, tmp_path):
    out, _, _, _, texts = web_fp32
    shots = os.environ.get("HAT_WEB_SCREENSHOTS") or str(tmp_path)
    desktop = browser(out, [{"do": "type", "text": "   \n "},
                            {"do": "type", "text": texts[3]},
                            {"do": "screenshot", "path": os.path.join(shots, "web_desktop.png")},
                            {"do": "drop", "name": "big.txt", "bytes": 5_000_000,
                             "repeat_text": "The committee met again. It said nothing new!\n"},
                            {"do": "last"}])
    empty, typed, shot, dropped, last = desktop["steps"]
    assert empty["error"] and "Nothing to classify" in empty["status"] and empty["label"] is None
    assert not typed["error"] and typed["label"] and len(typed["segments"]) == 4 and "inference" in typed["timing"]
    assert os.path.getsize(shot["path"]) > 10_000
    assert dropped["status"] == "Classified big.txt." and dropped["textLength"] == 200_000  # a preview only
    assert last["result"]["textLength"] == 5_000_000 and last["result"]["charsRead"] < 2_000  # a prefix is read
    assert "Read the first" in dropped["readNote"]
    phone = browser(out, [{"do": "type", "text": texts[5]},
                          {"do": "screenshot", "path": os.path.join(shots, "web_phone.png")}], viewport=(390, 844))
    typed, _ = phone["steps"]
    assert typed["label"] and typed["scrollWidth"] <= typed["clientWidth"]  # no sideways scrolling on a phone


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated"])
def test_browser_missing_or_corrupt_model(web_fp32, tmp_path, damage):
    out = web_fp32[0]
    page = tmp_path / "page"
    page.mkdir()
    for entry in out.iterdir():
        if entry.name != "model.tflite":
            (page / entry.name).symlink_to(entry)
    data = (out / "model.tflite").read_bytes()
    if damage == "garbage":
        (page / "model.tflite").write_bytes(os.urandom(4096))
    elif damage == "truncated":
        (page / "model.tflite").write_bytes(data[:len(data) // 3])
    result = browser(page, [{"do": "type", "text": "some text"}])
    assert not result["ready"]
    status = result["initial"]["status"]
    assert result["initial"]["error"] and status.startswith("The classifier could not start: model.tflite")
    want = {"missing": "could not be loaded (HTTP 404", "garbage": "is not a LiteRT model",
            "truncated": "could not be loaded by LiteRT.js"}[damage]
    assert want in status, status
