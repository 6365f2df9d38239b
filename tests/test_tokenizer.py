"""HATTokenizer against the upstream tokenizer's recorded outputs (fixtures/hat_reference/tokenizer).

Every case must match exactly (ids, attention mask, token types) in the three modes, eagerly and in
tf.data; the pure-Python reference in `segmentation` must agree with both and is then used as the oracle
for other geometries.
"""
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

import hat_keras
from hat_keras.tokenization import HATTokenizer, HATTokenizerNotFound, tokenizer_files_present
from hat_keras.tokenization import segmentation as seg
from conftest import need

MODES = ("uniform", "sentences", "presegmented")
EC2 = {"max_sentences": 8, "max_sentence_length": 128, "model_max_length": 1024, "pad_token_id": 0}
SMALL = {"max_sentences": 5, "max_sentence_length": 64, "model_max_length": 320, "pad_token_id": 0}


def make_folder(path, vocab, geometry, tokenizer_config=None):
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(vocab, path / "vocab.txt")
    (path / "config.json").write_text(json.dumps(geometry))
    if tokenizer_config is not None:
        (path / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    return path


@pytest.fixture(scope="module")
def tok_dir(fixtures_dir):
    return need(fixtures_dir / "tokenizer")


@pytest.fixture(scope="module")
def cases(tok_dir):
    data = json.loads((tok_dir / "cases.json").read_text(encoding="utf-8"))
    assert data["meta"]["configs"]["ec2"]["max_sentence_length"] == EC2["max_sentence_length"]
    return data["cases"]


@pytest.fixture(scope="module")
def tok(tok_dir, tmp_path_factory):
    return hat_keras.HATTokenizer.from_pretrained(make_folder(tmp_path_factory.mktemp("ec2"), tok_dir / "vocab.txt", EC2))


@pytest.fixture(scope="module")
def small_tok(tok_dir, tmp_path_factory):
    return HATTokenizer.from_pretrained(make_folder(tmp_path_factory.mktemp("small"), tok_dir / "vocab.txt", SMALL))


def expected(case, mode):
    ref = case["outputs"]["ec2"][mode]
    if "error" in ref:  # upstream crashed (empty text): an all-padding row
        return [0] * 1024, [0] * 1024, [0] * 1024
    return ref["input_ids"], ref["attention_mask"], ref["token_type_ids"]


def mode_input(case, mode):
    return case["segments"] if mode == "presegmented" else case["text"]


def assert_row(out, i, want, what):
    ids, mask, types = want
    for key, ref in zip(("token_ids", "padding_mask", "segment_ids"), (ids, mask, types)):
        got = np.asarray(out[key][i])
        assert got.dtype == np.int32, (what, key, got.dtype)
        np.testing.assert_array_equal(got, ref, err_msg=f"{what}: {key}")


# ---- flat WordPiece ---------------------------------------------------------------------------------
def test_flat_wordpiece_ids_match_bert_tokenizer(tok, cases):
    ids = tok.tokenize([c["text"] for c in cases]).to_list()
    for case, got in zip(cases, ids):
        assert got == case["wordpiece_ids"], case["name"]
        assert tok.word_tokenizer.tokenize_python_reference(case["text"]) == case["wordpiece_ids"], case["name"]


def test_special_token_literals(tok):
    ids = tok.tokenize(["[MASK]. [mask] x[CLS]y [PAD]"]).to_list()[0]
    cls_, pad, mask = tok.cls_token_id, tok.pad_token_id, tok.mask_token_id
    assert ids[:2] == [mask, tok.token_to_id(".")]
    assert ids[2:5] == [tok.token_to_id(t) for t in ("[", "mask", "]")]
    assert cls_ in ids[5:8] and ids[-1] == pad


# ---- the three modes against the reference ------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_cases_match_upstream_eagerly(tok, cases, mode):
    out = tok([mode_input(c, mode) for c in cases], segmentation=mode)
    for key in out:
        assert out[key].shape == (len(cases), 1024)
    for i, case in enumerate(cases):
        assert_row(out, i, expected(case, mode), f"{mode}/{case['name']}")


@pytest.mark.parametrize("mode", MODES)
def test_cases_match_upstream_in_tf_data(tok, cases, mode):
    if mode == "presegmented":
        data = tf.ragged.constant([c["segments"] or [] for c in cases], dtype=tf.string, ragged_rank=1)
        ds = tf.data.Dataset.from_tensor_slices(data).batch(4).map(lambda x: tok(x, segmentation=mode))
    else:
        ds = tf.data.Dataset.from_tensor_slices([c["text"] for c in cases]).map(
            lambda x: tok(x, segmentation=mode)).batch(4)
    assert ds.element_spec["token_ids"].shape[1:] == (1024,)
    rows = [{k: v.numpy() for k, v in b.items()} for b in ds]
    out = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    for i, case in enumerate(cases):
        assert_row(out, i, expected(case, mode), f"tf.data {mode}/{case['name']}")


def test_presplit_sentences_and_raw_presegmented_text(tok, cases):
    """Lists of sentences are grouped as given; raw text in presegmented mode follows the fixture rule."""
    sents = tok([c["sentences"] for c in cases], segmentation="sentences")
    raw = tok([c["text"] for c in cases], segmentation="presegmented")
    for i, case in enumerate(cases):
        assert_row(sents, i, expected(case, "sentences"), f"presplit/{case['name']}")
        assert_row(raw, i, expected(case, "presegmented"), f"raw presegmented/{case['name']}")


def test_single_string_is_unbatched(tok, cases):
    case = cases[1]
    out = tok(case["text"], segmentation="uniform")
    assert out["token_ids"].shape == (1024,)
    np.testing.assert_array_equal(out["token_ids"], expected(case, "uniform")[0])


# ---- splitter and grouping ----------------------------------------------------------------------------
def test_sentence_splitter_python_and_graph(cases):
    texts = [c["text"] for c in cases]
    graph = seg.split_sentences(tf.constant(texts)).to_list()
    segments = seg.default_segments(tf.constant(texts)).to_list()
    for case, g, s in zip(cases, graph, segments):
        assert seg.split_sentences_py(case["text"]) == case["sentences"], case["name"]
        assert [x.decode() for x in g] == case["sentences"], case["name"]
        assert seg.default_segments_py(case["text"]) == case["segments"], case["name"]
        assert [x.decode() for x in s] == case["segments"], case["name"]


def test_grouping_on_recorded_sentence_ids(cases):
    """`sentence_grouping` receives exactly `sentence_wordpiece_ids`: test it apart from the splitter."""
    ragged = tf.ragged.constant([c["sentence_wordpiece_ids"] or [] for c in cases], dtype=tf.int32,
                                ragged_rank=2)
    ids, mask, types = (t.numpy() for t in seg.pack_sentences(ragged, 8, 128, 101, 0))
    for i, case in enumerate(cases):
        want = expected(case, "sentences")
        assert seg.sentences_py(case["sentence_wordpiece_ids"], 8, 128, 101, 0) == tuple(want), case["name"]
        assert_row({"token_ids": ids, "padding_mask": mask, "segment_ids": types}, i, want, case["name"])


def test_python_reference_uniform_and_presegmented(tok, cases):
    for case in cases:
        assert seg.uniform_py(case["wordpiece_ids"], 8, 128, 1024, 101, 0) == expected(case, "uniform"), case["name"]
        seg_ids = tok.tokenize(case["segments"]).to_list() if case["segments"] else []
        assert seg.presegmented_py(seg_ids, 8, 128, 101, 0) == expected(case, "presegmented"), case["name"]


# ---- other geometries (K=64, 5 segments) against the validated Python reference -----------------------
@pytest.mark.parametrize("mode", MODES)
def test_other_geometry_matches_reference(small_tok, cases, mode):
    n, k, m = SMALL["max_sentences"], SMALL["max_sentence_length"], SMALL["model_max_length"]
    out = small_tok([mode_input(c, mode) for c in cases], segmentation=mode)
    ds = tf.data.Dataset.from_tensor_slices([c["text"] for c in cases]).map(
        lambda x: small_tok(x, segmentation=mode)).batch(len(cases))
    graph = {k_: v.numpy() for k_, v in next(iter(ds)).items()}
    for i, case in enumerate(cases):
        if mode == "uniform":
            want = seg.uniform_py(case["wordpiece_ids"], n, k, m, 101, 0)
        elif mode == "sentences":
            want = seg.sentences_py(case["sentence_wordpiece_ids"], n, k, 101, 0)
        else:
            seg_ids = small_tok.tokenize(case["segments"]).to_list() if case["segments"] else []
            want = seg.presegmented_py(seg_ids, n, k, 101, 0)
        assert_row(out, i, want, f"small {mode}/{case['name']}")
        assert_row(graph, i, want, f"small tf.data {mode}/{case['name']}")  # raw text, same segments rule


def test_prefix_shortcut_never_changes_ids(tok_dir, tmp_path, cases):
    """Reading only a prefix of long documents gives the whole text's result, also with a tiny budget
    that forces the fallback; and with a budget of 0 (off)."""
    folder = make_folder(tmp_path, tok_dir / "vocab.txt", EC2)
    full = HATTokenizer.from_pretrained(folder, prefix_chars_per_token=0)
    tight = HATTokenizer.from_pretrained(folder, prefix_chars_per_token=1)
    texts = [c["text"] for c in cases]
    for mode in MODES:
        a, b = full(texts, segmentation=mode), tight(texts, segmentation=mode)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{mode}/{key}")


def test_mismatched_model_max_length(tok_dir, tmp_path, cases):
    """model_max_length below N*K keeps upstream's cut at model_max_length - N and pads segments."""
    geometry = dict(EC2, model_max_length=700)
    t = HATTokenizer.from_pretrained(make_folder(tmp_path, tok_dir / "vocab.txt", geometry))
    out = t([c["text"] for c in cases[:3]], segmentation="uniform")
    for i, case in enumerate(cases[:3]):
        want = seg.uniform_py(case["wordpiece_ids"], 8, 128, 700, 101, 0)
        assert_row(out, i, want, case["name"])


# ---- loading ------------------------------------------------------------------------------------------
def test_from_pretrained_files(tok_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps(EC2))
    assert not tokenizer_files_present(empty)
    assert HATTokenizer.from_pretrained(empty, missing_ok=True) is None
    with pytest.raises(HATTokenizerNotFound, match="vocab.txt"):
        HATTokenizer.from_pretrained(empty)
    cased = make_folder(tmp_path / "cased", tok_dir / "vocab.txt", EC2,
                        {"do_lower_case": False, "strip_accents": False})
    assert tokenizer_files_present(cased)
    t = HATTokenizer.from_pretrained(cased)
    ids = t.tokenize(["Hello hello"]).to_list()[0]
    assert ids[0] == t.token_to_id("[UNK]") and ids[-1] == t.token_to_id("hello")
    assert (t.max_sentences, t.max_sentence_length, t.model_max_length) == (8, 128, 1024)


def test_tokenizer_json_wordpiece(tok_dir, tmp_path):
    """A folder with only tokenizer.json (WordPiece model) gives the same ids as vocab.txt."""
    vocab = (tok_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    spec = {"model": {"type": "WordPiece", "vocab": {t: i for i, t in enumerate(vocab)}},
            "normalizer": {"type": "BertNormalizer", "lowercase": True, "strip_accents": None,
                           "handle_chinese_chars": True}}
    folder = tmp_path / "tj"
    folder.mkdir()
    (folder / "tokenizer.json").write_text(json.dumps(spec))
    (folder / "config.json").write_text(json.dumps(SMALL))
    t = HATTokenizer.from_pretrained(folder)
    ref = HATTokenizer.from_pretrained(make_folder(tmp_path / "vt", tok_dir / "vocab.txt", SMALL))
    text = "Café [MASK]. 東京 naïve"
    assert t.tokenize([text]).to_list() == ref.tokenize([text]).to_list()
