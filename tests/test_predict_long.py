"""Documents longer than the model: what `predict` reads of them (truncated, the default), and `--long windows`
against an independent reference, each window's text classified on its own. Tiny HAT: K=16, N=4, one token a
word, so a window holds 4 x 15 = 60 words."""
import json

import numpy as np
import pytest

from training_helpers import K, N, WORDS, write_tiny_hat

WINDOW = N * (K - 1)  # sub-word tokens a window holds ([CLS] starts each segment)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A tiny compact classifier (3 classes) whose random encoder and head tell texts apart, saved as `.keras`."""
    import hat_keras
    root = tmp_path_factory.mktemp("long")
    model = hat_keras.load(write_tiny_hat(str(root / "hat"), initializer_range=0.5), task="text_classifier",
                           num_labels=3, compact=True, new_head=True)
    kernel = model.output_dense.kernel
    kernel.assign(np.random.default_rng(0).normal(0, 1, tuple(kernel.shape)).astype("float32"))
    path = root / "clf.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def classifier(model_path):
    """`classifier(segmentation, long)`: one loaded Classifier per setting, shared by the tests."""
    from hat_keras.predict import Classifier
    loaded = {}

    def get(segmentation, long="truncate"):
        if (segmentation, long) not in loaded:
            loaded[segmentation, long] = Classifier.load(model_path, segmentation=segmentation, long=long)
        return loaded[segmentation, long]
    return get


def _words(n, seed):
    rng = np.random.default_rng(seed)
    return [WORDS[i] for i in rng.integers(0, len(WORDS), n)]


def _document(segmentation, n_tokens, seed=0):
    """(the text, its part in each window): uniform cuts a window every 60 words; `sentences` packs whole
    sentences, so each sentence here is exactly one segment (14 words and '.')."""
    if segmentation == "uniform":
        words = _words(n_tokens, seed)
        parts = [words[i:i + WINDOW] for i in range(0, n_tokens, WINDOW)]
        return " ".join(words), [" ".join(p) for p in parts]
    sentences = [" ".join(_words(K - 2, seed + i)) + " ." for i in range(n_tokens // (K - 1))]
    return " ".join(sentences), [" ".join(sentences[i:i + N]) for i in range(0, len(sentences), N)]


@pytest.mark.parametrize("segmentation", ["uniform", "sentences"])
@pytest.mark.parametrize("n_tokens", [2 * WINDOW, WINDOW + WINDOW // 2])
def test_windows_are_the_token_weighted_mean_of_the_parts_classified_alone(classifier, segmentation, n_tokens):
    from hat_keras.predict import Reading

    text, parts = _document(segmentation, n_tokens)
    assert len(parts) == 2
    truncate, windows = classifier(segmentation), classifier(segmentation, "windows")
    alone = truncate(parts)[1]  # the reference: each window's text as a document of its own
    assert np.abs(alone[0] - alone[1]).max() > 1e-2  # the two parts disagree, so the weights matter
    weights = np.array([WINDOW, n_tokens - WINDOW], np.float64)
    expected = (weights[:, None] * alone).sum(0) / weights.sum()
    label, probs = windows(text)
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    assert label == windows.labels[int(expected.argmax())]
    assert windows.read(text) == Reading(segments=n_tokens // (K - 1), tokens=n_tokens, document_tokens=n_tokens,
                                         windows=2)
    # Truncated (the default), the model reads the first window: its counts say so.
    np.testing.assert_allclose(truncate(text)[1], alone[0], atol=1e-5)
    assert truncate.read(text) == Reading(segments=N, tokens=WINDOW, document_tokens=n_tokens, windows=1)
    # A document that fits is one window, classified as truncation classifies it.
    np.testing.assert_allclose(windows(parts[0])[1], alone[0], atol=1e-5)
    assert windows.read(parts[0]) == truncate.read(parts[0]) == Reading(N, WINDOW, WINDOW, 1)


def test_predict_cli_reports_what_was_read(model_path, classifier, tmp_path, capsys):
    """`predict`: the counts in text and --json; `--long windows` classifies the whole text; --explain on a
    compact model lists real segments only, window by window; a bad --long value is a usage error."""
    from hat_keras.cli import main

    text, parts = _document("uniform", WINDOW + WINDOW // 2)
    doc, short = tmp_path / "doc.txt", tmp_path / "short.txt"
    doc.write_text(text)
    short.write_text(" ".join(_words(20, 5)))
    assert main(["predict", str(model_path), str(doc), str(short), "--segmentation", "uniform", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["predictions"]
    assert rows[0]["read"] == {"segments": 4, "tokens": 60, "document_tokens": 90, "windows": 1}
    assert rows[1]["read"] == {"segments": 2, "tokens": 20, "document_tokens": 20, "windows": 1}

    assert main(["predict", str(model_path), str(doc), "--segmentation", "uniform", "--long", "windows"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.endswith("\tread 6 segments, 90 of 90 tokens in 2 windows"), line
    expected = classifier("uniform", "windows")(text)[1]
    shown = [float(kv.split("=")[1]) for kv in line.split("\t")[2].split("  ")]
    np.testing.assert_allclose(shown, expected, atol=1e-4)

    assert main(["predict", str(model_path), str(doc), "--segmentation", "uniform", "--long", "windows",
                 "--explain", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["predictions"][0]
    assert [(s["window"], s["segment"]) for s in row["segments"]] == [(1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 2)]
    assert all(s["text"] for s in row["segments"])  # no padding segment shown for a compact model
    assert abs(sum(s["contribution"] for s in row["segments"]) - 1) < 1e-5
    window_share = sum(s["contribution"] for s in row["segments"] if s["window"] == 2)
    assert abs(window_share - 30 / 90) < 1e-5  # each window's contributions scaled by its share of the tokens

    assert main(["predict", str(model_path), str(short), "--explain"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split("\t")[0] for ln in lines[1:]] == ["  segment 1", "  segment 2"]  # real segments only

    with pytest.raises(SystemExit) as e:
        main(["predict", str(model_path), str(doc), "--long", "all"])
    assert e.value.code == 2
    assert "argument --long: invalid choice: 'all' (choose from 'truncate', 'windows')" in capsys.readouterr().err


def test_explain_lists_a_compact_models_real_segments_only(model_path, tmp_path, capsys):
    """--explain: a compact model's rows are its real segments (its padding cannot contribute), with the
    contributions of the whole padded input; the same weights in the default mode list every segment, padding
    included, since padding enters their pooling."""
    import hat_keras
    from hat_keras.cli import main
    from hat_keras.explain import classify_with_contributions
    from hat_keras.inference import make_compact

    model = hat_keras.load(model_path)
    default_path = tmp_path / "default.keras"
    make_compact(model, False).save(default_path)
    text = " ".join(_words(20, 5))  # 2 of 4 segments
    (tmp_path / "short.txt").write_text(text)
    reference = np.asarray(classify_with_contributions(model, model.preprocessor.tokenizer([text],
                                                                                           segmentation="uniform"))[1])
    rows = {}
    for name, path in (("compact", model_path), ("default", default_path)):
        assert main(["predict", str(path), str(tmp_path / "short.txt"), "--segmentation", "uniform", "--explain",
                     "--json"]) == 0
        rows[name] = json.loads(capsys.readouterr().out)["predictions"][0]
    compact, default = rows["compact"]["segments"], rows["default"]["segments"]
    assert [s["segment"] for s in compact] == [1, 2] and all(s["text"] for s in compact)
    np.testing.assert_allclose([s["contribution"] for s in compact], reference[0, :2], atol=1e-5)
    np.testing.assert_allclose(reference[0, 2:], 0, atol=1e-7)  # what is left out contributes nothing
    assert [s["segment"] for s in default] == [1, 2, 3, 4] and [s["text"] for s in default][2:] == ["", ""]
    assert abs(sum(s["contribution"] for s in default) - 1) < 1e-5
    assert main(["predict", str(default_path), str(tmp_path / "short.txt"), "--segmentation", "uniform",
                 "--explain"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].endswith("\t(padding)")
