"""HAT preprocessors: (x, y, sample_weight) contracts, static shapes in tf.data, eager == graph,
serialization, and raw strings through a task's fit/predict."""
import json
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

import hat_keras
from harness import LayerHolder
from hat_keras.tokenization import (HATMaskedLMPreprocessor, HATMultipleChoicePreprocessor,
                                    HATSequentialSentenceClassifierPreprocessor, HATTextClassifierPreprocessor,
                                    HATTokenizer)
from hat_keras.tokenization import segmentation as seg
from conftest import need

N, K = 4, 32
L = N * K
GEOMETRY = {"max_sentences": N, "max_sentence_length": K, "model_max_length": L, "pad_token_id": 0}


@pytest.fixture(scope="module")
def tok(fixtures_dir, tmp_path_factory):
    vocab = need(fixtures_dir / "tokenizer" / "vocab.txt")
    folder = tmp_path_factory.mktemp("pre")
    shutil.copy(vocab, folder / "vocab.txt")
    (folder / "config.json").write_text(json.dumps(GEOMETRY))
    return HATTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def texts(fixtures_dir):
    data = json.loads(need(fixtures_dir / "tokenizer" / "cases.json").read_text(encoding="utf-8"))
    wanted = ("hp_test_0000857", "hp_test_0000812", "special_token_strings", "empty", "whitespace_only",
              "grouping_long_first", "abbreviations_quotes", "sotu_1790_george_washington_n")
    return [c["text"] for c in data["cases"] if c["name"] in wanted]


def numpy_tree(ds):
    return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in ds]


def assert_tree_equal(a, b):
    tf.nest.map_structure(np.testing.assert_array_equal, a, b)


# ---- text classification ------------------------------------------------------------------------------
def test_text_classifier_eager_and_tf_data_agree(tok, texts):
    pre = HATTextClassifierPreprocessor(tok)
    assert pre.segmentation == "sentences" and pre.sequence_length == L
    labels = np.arange(len(texts), dtype="int32") % 2
    x, y = pre(texts, labels)
    assert_tree_equal(x, tok(texts, segmentation="sentences"))
    np.testing.assert_array_equal(y, labels)
    per_example = tf.data.Dataset.from_tensor_slices((texts, labels)).map(pre).batch(len(texts))
    assert per_example.element_spec[0]["token_ids"].shape[1:] == (L,)
    assert_tree_equal(numpy_tree(per_example)[0], (x, y))
    batched = tf.data.Dataset.from_tensor_slices((texts, labels)).batch(3).map(pre)
    rows = numpy_tree(batched)
    assert_tree_equal({k: np.concatenate([r[0][k] for r in rows]) for k in x}, x)
    single = pre(texts[0])
    assert single["token_ids"].shape == (L,)
    np.testing.assert_array_equal(single["token_ids"], x["token_ids"][0])


def test_text_classifier_segmentation_and_sequence_length(tok, texts):
    pre = HATTextClassifierPreprocessor(tok, segmentation="uniform", sequence_length=2 * K)
    x = pre(texts)
    assert x["token_ids"].shape == (len(texts), 2 * K)
    for i, ids in enumerate(tok.tokenize(texts).to_list()):
        want = seg.uniform_py(ids, 2, K, 2 * K, tok.cls_token_id, tok.pad_token_id)
        np.testing.assert_array_equal(x["token_ids"][i], want[0])
        np.testing.assert_array_equal(x["padding_mask"][i], want[1])
    pre.sequence_length = L
    assert pre(texts)["token_ids"].shape == (len(texts), L)
    with pytest.raises(ValueError, match="multiple"):
        pre.sequence_length = L + 1
    with pytest.raises(ValueError, match="segmentation"):
        HATTextClassifierPreprocessor(tok, segmentation="paragraphs")


# ---- masked LM ----------------------------------------------------------------------------------------
def test_masked_lm_contract_and_static_shapes(tok, texts):
    pre = HATMaskedLMPreprocessor(tok, segmentation="uniform")
    sel = pre.mask_selection_length
    assert sel == int(np.ceil(0.15 * L))
    ds = tf.data.Dataset.from_tensor_slices(texts * 8).map(pre).batch(8, drop_remainder=True)
    spec = ds.element_spec
    assert spec[0]["token_ids"].shape == (8, L) and spec[0]["mask_positions"].shape == (8, sel)
    assert spec[1].shape == (8, sel) and spec[2].shape == (8, sel)
    plain = tok(texts * 8, segmentation="uniform")
    special = set(tok.special_token_ids)
    picked = selectable = 0
    outcomes = {"mask": 0, "random": 0, "same": 0}
    for b, (x, y, w) in enumerate(numpy_tree(ds)):
        rows = slice(8 * b, 8 * b + 8)
        original = plain["token_ids"][rows]
        np.testing.assert_array_equal(x["padding_mask"], plain["padding_mask"][rows])
        np.testing.assert_array_equal(x["segment_ids"], plain["segment_ids"][rows])
        for i in range(8):
            n_sel = int(w[i].sum())
            pos = x["mask_positions"][i][:n_sel]
            assert np.all(w[i][n_sel:] == 0) and len(set(pos.tolist())) == n_sel
            assert not set(original[i][pos].tolist()) & special  # never CLS, PAD or another special
            np.testing.assert_array_equal(y[i][:n_sel], original[i][pos])
            untouched = np.ones(L, bool)
            untouched[pos] = False
            np.testing.assert_array_equal(x["token_ids"][i][untouched], original[i][untouched])
            new = x["token_ids"][i][pos]
            outcomes["mask"] += int(np.sum(new == tok.mask_token_id))
            outcomes["same"] += int(np.sum(new == original[i][pos]))
            outcomes["random"] += int(np.sum((new != tok.mask_token_id) & (new != original[i][pos])))
            picked += n_sel
            selectable += int(np.sum(~np.isin(original[i], list(special))))
    assert 0.10 < picked / selectable < 0.20
    assert outcomes["mask"] > 0.6 * picked and outcomes["random"] > 0 and outcomes["same"] > 0
    x, y, w = pre(texts)  # eager, batched
    assert x["token_ids"].shape == (len(texts), L) and y.shape == (len(texts), sel)
    assert x["mask_positions"].dtype == np.int32 and y.dtype == np.int32 and w.dtype == np.float32


# ---- multiple choice -----------------------------------------------------------------------------------
def test_multiple_choice(tok, texts):
    pre = HATMultipleChoicePreprocessor(tok)
    choices = [texts[:3], texts[3:6]]
    x, y = pre(choices, [2, 0])
    assert x["token_ids"].shape == (2, 3, L)
    flat = tok([t for row in choices for t in row], segmentation="sentences")
    for key in flat:
        np.testing.assert_array_equal(x[key].reshape(6, L), flat[key])
    np.testing.assert_array_equal(y, [2, 0])
    one = pre(texts[:3])
    np.testing.assert_array_equal(one["token_ids"], x["token_ids"][0])
    ds = tf.data.Dataset.from_tensor_slices((choices, [2, 0])).map(pre).batch(2)
    assert ds.element_spec[0]["token_ids"].shape[1:] == (3, L)
    assert_tree_equal(numpy_tree(ds)[0], (x, np.array([2, 0], "int32")))


# ---- sequential sentence classification ----------------------------------------------------------------
def test_sequential_sentence_classifier(tok):
    pre = HATSequentialSentenceClassifierPreprocessor(tok)
    docs = [["First sentence here.", "A second one!", "Third.", "Fourth.", "Fifth is cut."], ["Only one."]]
    labels = [[1, 2, 3, 0, 1], [2]]
    x, y = pre(docs, labels)
    np.testing.assert_array_equal(y, [[1, 2, 3, 0], [2, -1, -1, -1]])
    assert_tree_equal(x, tok(docs, segmentation="presegmented"))
    x1, y1 = pre(docs[1], labels[1])
    np.testing.assert_array_equal(y1, [2, -1, -1, -1])
    np.testing.assert_array_equal(x1["token_ids"], x["token_ids"][1])
    ds = tf.data.Dataset.from_tensor_slices((tf.ragged.constant(docs), tf.ragged.constant(labels))).map(pre).batch(2)
    assert ds.element_spec[0]["token_ids"].shape[1:] == (L,) and ds.element_spec[1].shape[1:] == (N,)
    assert_tree_equal(numpy_tree(ds)[0], (x, y))
    with pytest.raises(ValueError, match="presegmented"):
        HATSequentialSentenceClassifierPreprocessor(tok, segmentation="sentences")


# ---- serialization ------------------------------------------------------------------------------------


def test_preprocessors_survive_keras_files(tok, texts, tmp_path):
    made = [HATTextClassifierPreprocessor(tok, segmentation="uniform", sequence_length=2 * K),
            HATMaskedLMPreprocessor(tok, mask_selection_length=7),
            HATMultipleChoicePreprocessor(tok, segmentation="presegmented"),
            HATSequentialSentenceClassifierPreprocessor(tok)]
    inputs = [texts, texts, [texts[:2]], [texts[:3]]]
    for i, (pre, x) in enumerate(zip(made, inputs)):
        clone = type(pre).from_config(pre.get_config())
        assert clone.get_config() == pre.get_config()
        holder = LayerHolder(pre)
        holder(np.zeros((1, 1), "float32"))
        holder.save(tmp_path / f"p{i}.keras")
        loaded = keras.saving.load_model(tmp_path / f"p{i}.keras").layer
        assert type(loaded) is type(pre) and loaded.get_config() == pre.get_config()
        a, b = pre(x), loaded(x)
        if isinstance(pre, HATMaskedLMPreprocessor):  # random masking: compare the deterministic parts
            a, b = {k: a[0][k] for k in ("padding_mask", "segment_ids")}, {k: b[0][k] for k in ("padding_mask",
                                                                                                "segment_ids")}
            assert loaded.mask_selection_length == 7
        assert_tree_equal(a, b)


# ---- a task takes raw strings ---------------------------------------------------------------------------
def test_text_classifier_task_fits_on_raw_strings(tok, texts):
    backbone = hat_keras.HATBackbone(vocabulary_size=tok.vocabulary_size(), hidden_dim=16, num_heads=2,
                                     intermediate_dim=32, layout="SD|S", segment_length=K, max_segments=N)
    pre = HATTextClassifierPreprocessor(tok, segmentation="uniform")
    model = hat_keras.HATTextClassifier(backbone, num_classes=2, preprocessor=pre)
    labels = np.arange(len(texts)) % 2
    history = model.fit(x=texts, y=labels, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    logits = model.predict(texts, batch_size=4, verbose=0)
    assert logits.shape == (len(texts), 2)
