"""The JavaScript HAT tokenizer (`node hat_keras/exporting/web/tokenize.mjs`) against the upstream outputs
(fixtures) and the Python `HATTokenizer`: fixture cases, held-out documents, two geometries, tokenizer
settings and random unicode texts, in both segmentations."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, need
from hat_keras.tokenization import HATTokenizer

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (apt-get install nodejs)")
TOKENIZE = ROOT / "hat_keras" / "exporting" / "web" / "tokenize.mjs"
MODES = ("uniform", "sentences")
EC2 = {"max_sentences": 8, "max_sentence_length": 128, "model_max_length": 1024, "pad_token_id": 0}
SMALL = {"max_sentences": 5, "max_sentence_length": 64, "model_max_length": 320, "pad_token_id": 0}
TIGHT = {"max_sentences": 3, "max_sentence_length": 16, "model_max_length": 48, "pad_token_id": 0}
KEYS = ("token_ids", "padding_mask", "segment_ids")


def js_encode(folder, texts, mode):
    proc = subprocess.run([NODE, str(TOKENIZE), "--model-dir", str(folder), "--segmentation", mode],
                          input=json.dumps(texts), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    return {k: np.asarray(out[k], np.int32).reshape(len(texts), -1) for k in KEYS}


def make_folder(path, vocab, geometry, tokenizer_config=None):
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(vocab, path / "vocab.txt")
    (path / "config.json").write_text(json.dumps(geometry))
    if tokenizer_config is not None:
        (path / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    return path


def assert_same(js, py, texts, what):
    for key in KEYS:
        got, want = np.asarray(js[key]), np.asarray(py[key])
        assert got.shape == want.shape, (what, key, got.shape, want.shape)
        bad = np.flatnonzero((got != want).any(-1))
        assert not len(bad), f"{what}: {key} differs on {len(bad)} texts, first {texts[bad[0]]!r}"


@pytest.fixture(scope="module")
def vocab(fixtures_dir):
    return need(fixtures_dir / "tokenizer" / "vocab.txt")


@pytest.fixture(scope="module")
def cases(fixtures_dir):
    return json.loads(need(fixtures_dir / "tokenizer" / "cases.json").read_text(encoding="utf-8"))["cases"]


@pytest.fixture(scope="module")
def folders(vocab, tmp_path_factory):
    return {name: make_folder(tmp_path_factory.mktemp(name), vocab, geometry)
            for name, geometry in (("ec2", EC2), ("small", SMALL), ("tight", TIGHT))}


@pytest.fixture(scope="module")
def held_out(data_dir):
    """Documents the fixtures do not hold: Hyperpartisan test (every 5th) and State of the Union speeches."""
    texts = []
    with open(data_dir / "hyperpartisan" / "test.jsonl", encoding="utf-8") as f:
        texts += [json.loads(line)["text"] for i, line in enumerate(f) if i % 5 == 1][:30]
    sotu = data_dir / "sotu" / "sotu.jsonl"
    if sotu.exists():
        with open(sotu, encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for i, line in enumerate(f) if i % 60 == 30]
    return texts


@pytest.mark.parametrize("mode", MODES)
def test_fixture_cases_match_upstream(folders, cases, mode):
    """All 53 recorded upstream cases, EC2 geometry (8 x 128); upstream crashes are all-padding rows."""
    texts = [c["text"] for c in cases]
    js = js_encode(folders["ec2"], texts, mode)
    for i, case in enumerate(cases):
        ref = case["outputs"]["ec2"][mode]
        want = ([0] * 1024, [0] * 1024, [0] * 1024) if "error" in ref else (
            ref["input_ids"], ref["attention_mask"], ref["token_type_ids"])
        for key, w in zip(KEYS, want):
            np.testing.assert_array_equal(js[key][i], w, err_msg=f"{mode}/{case['name']}/{key}")


@pytest.mark.parametrize("geometry", ["ec2", "small"])
@pytest.mark.parametrize("mode", MODES)
def test_held_out_documents_match_python(folders, cases, held_out, geometry, mode):
    texts = held_out + [c["text"] for c in cases]
    py = HATTokenizer.from_pretrained(folders[geometry])(texts, segmentation=mode)
    assert_same(js_encode(folders[geometry], texts, mode), py, texts, f"{geometry}/{mode}")


WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2007\u2028\u2029\u202f\u205f\u3000"
SPECIALS = ["[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "[mask]", "[MA\u200bSK]"]
PIECES = ["word", "Wörd", "ΣΟΦΙΑ", "東京", "한국", "x" * 120, "é" * 60, ".", "!", "?", "\"", "'", "\u201d", ")",
          "]", "\n", "\n\n", " ", "  ", "\u0301", "e\u0301", "\x00", "\ufffd", "\ue000", "\U0001F600", "İ", "ﬁ",
          "\uf900", "\u1fef", "##", "#", "un", "##able", "the", "Dr.", "U.S."] + SPECIALS
texts = st.one_of(
    st.text(max_size=200),
    st.just(""),
    st.text(alphabet=WHITESPACE, max_size=30),
    st.lists(st.sampled_from(PIECES), max_size=60).map("".join),
    st.lists(st.sampled_from(PIECES + ["word " * 20]), max_size=30).map(" ".join),
    st.text(max_size=30).map(lambda s: (s or "a. ") * (30_000 // max(len(s), 1))),
)


@pytest.fixture(scope="module")
def tight_tok(folders):
    return HATTokenizer.from_pretrained(folders["tight"])


@settings(max_examples=int(os.environ.get("HAT_HYPOTHESIS_EXAMPLES", 12)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(texts, min_size=1, max_size=25))
def test_random_texts_match_python(folders, tight_tok, batch):
    """Random unicode, whitespace, special literals, long words and 30k-character texts, 3 x 16 segments
    (every over-long sentence rule fires): the JavaScript ids are the Python ones."""
    for mode in MODES:
        assert_same(js_encode(folders["tight"], batch, mode), tight_tok(batch, segmentation=mode), batch, mode)


TOKENIZER_CONFIGS = {
    "cased": {"do_lower_case": False, "strip_accents": False},
    "cased_strip": {"do_lower_case": False, "strip_accents": True},
    "lower_keep_accents": {"do_lower_case": True, "strip_accents": False},
    "no_cjk_extra_special": {"tokenize_chinese_chars": False, "additional_special_tokens": ["[unused5]"],
                             "mask_token": {"content": "[MASK]", "lstrip": False}},
}
CONFIG_TEXTS = ["Hello hello HELLO", "Café naïve résumé ΣΟΦΙΑ İstanbul", "東京タワー 한국어 中文字符",
                "a [unused5] b[MASK]. [mask] [CLS]x", "Dr. Smith went home. He said \"hi!\" Then left.\nNew line"]


@pytest.mark.parametrize("name", sorted(TOKENIZER_CONFIGS))
def test_tokenizer_config_settings(vocab, tmp_path, name):
    folder = make_folder(tmp_path, vocab, TIGHT, TOKENIZER_CONFIGS[name])
    tok = HATTokenizer.from_pretrained(folder)
    for mode in MODES:
        assert_same(js_encode(folder, CONFIG_TEXTS, mode), tok(CONFIG_TEXTS, segmentation=mode), CONFIG_TEXTS,
                    f"{name}/{mode}")


def test_cli_errors(folders, tmp_path):
    def run(*args, stdin="[]"):
        return subprocess.run([NODE, str(TOKENIZE), *args], input=stdin, capture_output=True, text=True, timeout=60)

    p = run("--model-dir", str(tmp_path))
    assert p.returncode == 2 and "vocab.txt" in p.stderr
    p = run("--model-dir", str(folders["tight"]), "--segmentation", "presegmented")
    assert p.returncode == 2 and "uniform, sentences" in p.stderr
    p = run("--model-dir", str(folders["tight"]), stdin='{"text": 1}')
    assert p.returncode == 2 and "JSON list of strings" in p.stderr
    p = run("--model-dir", str(folders["tight"]), stdin="[]")
    assert p.returncode == 0 and json.loads(p.stdout) == {"token_ids": [], "padding_mask": [], "segment_ids": []}


def test_packaged_unicode_tables_are_pythons():
    """The packaged tables equal a fresh generation from this Python's unicodedata."""
    import unicodedata

    from hat_keras.exporting.web import unicode_tables as web_unicode
    packaged = open(web_unicode.PACKAGED, encoding="utf-8").read()
    if f"unicodedata {unicodedata.unidata_version};" not in packaged.splitlines()[0]:
        pytest.skip(f"this Python has Unicode {unicodedata.unidata_version}; the packaged tables were generated "
                    "with another version (exports write fresh ones)")
    assert packaged == web_unicode.module_text()
