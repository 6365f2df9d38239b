"""Property-based tests: arbitrary unicode, empty, whitespace-only and 100k-character inputs never raise,
shapes stay static, segments are well formed, and every in-graph piece equals its Python reference."""
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hat_keras.tokenization import HATTokenizer
from hat_keras.tokenization import segmentation as seg
from conftest import need

N, K = 3, 16
MODES = ("uniform", "sentences", "presegmented")
# HAT_HYPOTHESIS_EXAMPLES raises the example count for a longer search.
SETTINGS = settings(max_examples=int(os.environ.get("HAT_HYPOTHESIS_EXAMPLES", 40)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2007\u2028\u2029\u202f\u205f\u3000"
SPECIALS = ["[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "[mask]", "[MA\u200bSK]"]
PIECES = ["word", "Wörd", "ΣΟΦΙΑ", "東京", "한국", "x" * 120, ".", "!", "?", "\"", "'", "\u201d", ")", "]",
          "\n", "\n\n", " ", "  ", "\u0301", "\x00", "\ufffd", "\ue000", "\U0001F600", "İ", "ﬁ"] + SPECIALS


def long_text(chunk):
    chunk = chunk or "a"
    return (chunk * (100_000 // len(chunk) + 1))[:100_000]


texts = st.one_of(
    st.text(max_size=300),
    st.just(""),
    st.text(alphabet=WHITESPACE, max_size=50),
    st.lists(st.sampled_from(PIECES), max_size=80).map("".join),
    st.text(max_size=40).map(long_text),
)


@pytest.fixture(scope="module")
def folder(fixtures_dir, tmp_path_factory):
    vocab = need(fixtures_dir / "tokenizer" / "vocab.txt")
    path = tmp_path_factory.mktemp("props")
    shutil.copy(vocab, path / "vocab.txt")
    (path / "config.json").write_text(json.dumps({"max_sentences": N, "max_sentence_length": K,
                                                  "model_max_length": N * K, "pad_token_id": 0}))
    return path


@pytest.fixture(scope="module")
def tight(folder):
    """Reads a prefix of only 1 character per token: the prefix and fallback paths run all the time."""
    return HATTokenizer.from_pretrained(folder, prefix_chars_per_token=1)


@pytest.fixture(scope="module")
def full(folder):
    return HATTokenizer.from_pretrained(folder, prefix_chars_per_token=0)


def check_well_formed(tok, out, batch):
    cls_id, pad = tok.cls_token_id, tok.pad_token_id
    for key in ("token_ids", "padding_mask", "segment_ids"):
        assert out[key].shape == (batch, N * K) and out[key].dtype == np.int32
    ids = out["token_ids"].reshape(batch, N, K)
    mask = out["padding_mask"].reshape(batch, N, K)
    assert np.all((ids[:, :, 0] == cls_id) | np.all(ids == pad, axis=-1))  # segment start, or all padding
    assert np.all(ids[mask == 0] == pad)  # masked-out positions hold padding
    assert np.all(np.isin(mask, (0, 1))) and np.all(out["segment_ids"] == 0)
    assert np.all(np.diff(mask[:, :, 1:], axis=-1) <= 0)  # real tokens, then padding
    assert np.all(mask[:, :, 0] >= mask[:, :, 1])


@SETTINGS
@given(batch=st.lists(texts, min_size=1, max_size=3), mode=st.sampled_from(MODES))
def test_any_text_gives_well_formed_segments(tight, full, batch, mode):
    out = tight(batch, segmentation=mode)
    check_well_formed(tight, out, len(batch))
    ref = full(batch, segmentation=mode)
    for key in out:
        np.testing.assert_array_equal(out[key], ref[key], err_msg=key)


@SETTINGS
@given(docs=st.lists(st.lists(texts, max_size=4), min_size=1, max_size=3), mode=st.sampled_from(MODES))
def test_any_lists_give_well_formed_segments(full, docs, mode):
    check_well_formed(full, full(docs, segmentation=mode), len(docs))


@SETTINGS
@given(text=st.one_of(st.text(max_size=200), st.lists(st.sampled_from(PIECES), max_size=60).map("".join)))
def test_wordpiece_graph_equals_python_reference(full, text):
    assert full.tokenize([text]).to_list()[0] == full.word_tokenizer.tokenize_python_reference(text)


splitter_text = st.lists(st.sampled_from(["a", "Bc", " ", "  ", ".", "!", "?", "\"", "'", "\u201d", "\u2019", ")",
                                          "]", "\n", "\n \n", "\t", "\r", "\x0b", "\x1c", "\x85", "\xa0",
                                          "\u2028", "\u3000", "\x00"]), max_size=60).map("".join)


@SETTINGS
@given(batch=st.lists(st.one_of(splitter_text, st.text(max_size=80)), min_size=1, max_size=4))
def test_sentence_and_paragraph_splitters_equal_python(batch):
    graph = [[s.decode("utf-8") for s in row] for row in seg.split_sentences(tf.constant(batch)).to_list()]
    assert graph == [seg.split_sentences_py(t) for t in batch]
    graph = [[s.decode("utf-8") for s in row] for row in seg.default_segments(tf.constant(batch)).to_list()]
    assert graph == [seg.default_segments_py(t) for t in batch]


def ids_for(lengths, start=1000):
    """Distinct ids for sentences of the given lengths (so every misplaced token shows)."""
    out, nxt = [], start
    for n in lengths:
        out.append(list(range(nxt, nxt + n)))
        nxt += n
    return out


def ragged_ids(docs):
    """[[[ids of a sentence], ...], ...] -> ragged int32 [B, S, T] (also when every list is empty)."""
    flat = [t for d in docs for s in d for t in s]
    return tf.RaggedTensor.from_nested_row_lengths(tf.constant(flat, tf.int32, shape=[len(flat)]),
                                                   [[len(d) for d in docs], [len(s) for d in docs for s in d]])


geometry = st.tuples(st.integers(1, 5), st.integers(2, 12))


@SETTINGS
@given(docs=st.lists(st.lists(st.integers(0, 30), max_size=12), min_size=1, max_size=4), geo=geometry,
       extra=st.integers(-4, 12))
def test_packers_equal_python_reference(docs, geo, extra):
    n, k = geo
    m = max(n * k + extra, n + 1)
    sentences = [ids_for(d) for d in docs]
    ragged = ragged_ids(sentences)
    got = [t.numpy() for t in seg.pack_sentences(ragged, n, k, 7, 0)]
    pre = [t.numpy() for t in seg.pack_presegmented(ragged, n, k, 7, 0)]
    uni = [t.numpy() for t in seg.pack_uniform(ragged.merge_dims(1, 2), n, k, m, 7, 0)]
    for i, sents in enumerate(sentences):
        flat = [t for s in sents for t in s]
        for name, graph, ref in (("sentences", got, seg.sentences_py(sents, n, k, 7, 0)),
                                 ("presegmented", pre, seg.presegmented_py(sents, n, k, 7, 0)),
                                 ("uniform", uni, seg.uniform_py(flat, n, k, m, 7, 0))):
            for a, b in zip(graph, ref):
                assert a[i].tolist() == b, (name, i)
