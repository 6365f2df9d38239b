"""HATTokenizer against the upstream tokenizer's recorded outputs (fixtures/hat_reference/tokenizer).

Every case must match exactly (ids, attention mask, token types) in the three modes, eagerly and in
tf.data; the pure-Python reference in `segmentation` must agree with both and is then used as the oracle
for other geometries.
"""
import json
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

import hat_keras
from harness import LayerHolder
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
    folder = make_folder(tmp_path_factory.mktemp("ec2"), tok_dir / "vocab.txt", EC2)
    return hat_keras.HATTokenizer.from_pretrained(folder)


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
    """Reading only a prefix of long documents gives the whole text's result: with a tiny budget most
    long documents take the fallback, some the prefix, and all must still match upstream."""
    tight = HATTokenizer.from_pretrained(make_folder(tmp_path, tok_dir / "vocab.txt", EC2), prefix_chars_per_token=1)
    texts = [c["text"] for c in cases]
    for mode in MODES:
        out = tight(texts, segmentation=mode)
        for i, case in enumerate(cases):
            assert_row(out, i, expected(case, mode), f"prefix {mode}/{case['name']}")


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
    assert (t.max_segments, t.segment_length, t.model_max_length) == (8, 128, 1024)


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



# ---- serialization and export --------------------------------------------------------------------------


def some_texts(cases):
    names = ("hp_test_0000857", "special_token_strings", "pad_token_literal", "control_chars", "empty",
             "grouping_long_first", "sotu_1790_george_washington_n")
    return [c["text"] for c in cases if c["name"] in names]


def test_keras_file_round_trip(tok, cases, tmp_path):
    texts = some_texts(cases)
    holder = LayerHolder(tok)
    holder(np.zeros((1, 1), "float32"))
    holder.save(tmp_path / "tok.keras")
    loaded = keras.saving.load_model(tmp_path / "tok.keras").layer
    assert isinstance(loaded, HATTokenizer) and loaded.get_config() == tok.get_config()
    clone = HATTokenizer.from_config(tok.get_config())  # vocabulary travels as an asset, not in the config
    assert clone.word_tokenizer.vocabulary is None
    for mode in MODES:
        a, b = tok(texts, segmentation=mode), loaded(texts, segmentation=mode)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{mode}/{key}")


class _Exported(tf.Module):
    def __init__(self, tokenizer):
        super().__init__()
        self.tokenizer = tokenizer

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def uniform(self, x):
        return self.tokenizer(x, segmentation="uniform")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def sentences(self, x):
        return self.tokenizer(x, segmentation="sentences")

    @tf.function(input_signature=[tf.RaggedTensorSpec([None, None], tf.string, ragged_rank=1)])
    def presegmented(self, x):
        return self.tokenizer(x, segmentation="presegmented")


def test_saved_model_export(tok, cases, tmp_path):
    texts = some_texts(cases)
    tf.saved_model.save(_Exported(tok), str(tmp_path / "sm"))
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    for mode in ("uniform", "sentences"):
        a, b = tok(texts, segmentation=mode), getattr(loaded, mode)(tf.constant(texts))
        for key in a:
            np.testing.assert_array_equal(a[key], b[key].numpy(), err_msg=f"{mode}/{key}")
    segments = [c["segments"] for c in cases if c["text"] in texts]
    a = tok(segments, segmentation="presegmented")
    b = loaded.presegmented(tf.ragged.constant(segments, dtype=tf.string, ragged_rank=1))
    np.testing.assert_array_equal(a["token_ids"], b["token_ids"].numpy())

    archive = keras.export.ExportArchive()
    archive.track(tok)
    archive.add_endpoint("serve", lambda x: tok(x, segmentation="sentences"),
                         input_signature=[tf.TensorSpec([None], tf.string)])
    archive.write_out(str(tmp_path / "archive"))
    served = tf.saved_model.load(str(tmp_path / "archive")).serve(tf.constant(texts))
    a = tok(texts, segmentation="sentences")
    for key in a:
        np.testing.assert_array_equal(a[key], served[key].numpy(), err_msg=key)


# ---- RoBERTa-style byte-level BPE ----------------------------------------------------------------------
BPE_GEOMETRY = {"max_sentences": 3, "max_sentence_length": 16, "model_max_length": 48, "pad_token_id": 1}
BPE_TEXTS = ["The quick brown fox. Jumps over the lazy dog!", "Hello <mask> world", "", "héllo 123 #$%",
             "Numbers 12345 and symbols. It was a sunny day! " * 4]


@pytest.fixture(scope="module")
def bpe(tmp_path_factory):
    tokenizers = pytest.importorskip("tokenizers")
    corpus = ["The quick brown fox jumps over the lazy dog. It was a sunny day!",
              "Hello world, héllo wörld. Numbers 12345 and symbols #$%."] * 20
    ref = tokenizers.ByteLevelBPETokenizer()
    ref.train_from_iterator(corpus, vocab_size=400, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    folder = tmp_path_factory.mktemp("bpe")
    ref.save_model(str(folder))
    (folder / "config.json").write_text(json.dumps(BPE_GEOMETRY))
    json_folder = tmp_path_factory.mktemp("bpe_json")
    ref.save(str(json_folder / "tokenizer.json"))
    (json_folder / "config.json").write_text(json.dumps(BPE_GEOMETRY))
    return ref, folder, json_folder


def check_roberta_segments(tok, out, n, k):
    """`<s>` starts every segment that is not all `<pad>`; masked-out positions hold `<pad>`."""
    seg_ids = out["token_ids"].reshape(-1, n, k)
    assert np.all((seg_ids[:, :, 0] == tok.cls_token_id) | np.all(seg_ids == tok.pad_token_id, axis=-1))
    assert np.all(out["token_ids"][out["padding_mask"] == 0] == tok.pad_token_id)


def test_bpe_ids_and_uniform_segments(bpe):
    ref, folder, _ = bpe
    tok = HATTokenizer.from_pretrained(folder)
    assert type(tok.word_tokenizer).__name__ == "HATBytePairTokenizer"
    assert (tok.cls_token_id, tok.pad_token_id, tok.mask_token_id) == (0, 1, 4)
    ids = tok.tokenize(BPE_TEXTS).to_list()
    assert ids == [ref.encode(t).ids for t in BPE_TEXTS]
    n, k, m = 3, 16, 48
    out = tok(BPE_TEXTS, segmentation="uniform")
    check_roberta_segments(tok, out, n, k)
    assert np.all(out["token_ids"][2] == 1) and np.all(out["padding_mask"][2] == 0)  # empty text
    for i, row in enumerate(ids):
        want = seg.uniform_py(row, n, k, m, 0, 1)
        np.testing.assert_array_equal(out["token_ids"][i], want[0])
        np.testing.assert_array_equal(out["padding_mask"][i], want[1])


@pytest.mark.slow
def test_bpe_tokenizer_json_and_other_modes(bpe):
    """Slow: every keras-hub BPE graph takes seconds to trace."""
    ref, folder, json_folder = bpe
    tok = HATTokenizer.from_pretrained(json_folder)
    ids = tok.tokenize(BPE_TEXTS).to_list()
    assert ids == [ref.encode(t).ids for t in BPE_TEXTS]
    for mode in ("sentences", "presegmented"):
        out = tok(BPE_TEXTS, segmentation=mode)
        check_roberta_segments(tok, out, 3, 16)
        want = (seg.sentences_py(tok.tokenize(seg.split_sentences_py(BPE_TEXTS[4])).to_list(), 3, 16, 0, 1)
                if mode == "sentences" else
                seg.presegmented_py(tok.tokenize(seg.default_segments_py(BPE_TEXTS[4])).to_list(), 3, 16, 0, 1))
        np.testing.assert_array_equal(out["token_ids"][4], want[0])
        np.testing.assert_array_equal(out["padding_mask"][4], want[1])
