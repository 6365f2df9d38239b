"""BERT text normalisation and word splitting, exactly as the original (Python) `BertTokenizer`.

The upstream HAT checkpoints were tokenised by transformers' slow `BertTokenizer`. keras-hub's
`WordPieceTokenizer` pre-tokeniser differs from it on control characters (removed, not split on),
Unicode whitespace, NFKC case folding, words over 100 characters and unassigned code points, so the
rules are rebuilt here twice:

- `pretokenize_tf`: TensorFlow string ops (RE2), usable in `tf.data`, `tf.function` and SavedModels;
- `pretokenize_py`: plain Python, a line-by-line transcription of the HF code, used as test oracle.

The RE2 character classes are generated from Python's `unicodedata`, so both paths share one Unicode
version (the one the reference fixtures were produced with), whatever RE2/ICU version TF ships.
"""
import functools
import re
import unicodedata

# HF `_is_chinese_char` ranges (BERT's CJK Unified Ideographs blocks).
CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
MAX_CHARS_PER_WORD = 100  # HF WordpieceTokenizer.max_input_chars_per_word
# Private-use characters that stand in for special-token literals during in-graph normalisation. The
# text's own characters in this range (removed by cleaning anyway) are first moved to U+E100.
SENTINEL_RANGE = (0xE000, 0xE0FF)
_ASCII_PUNCT = set(range(33, 48)) | set(range(58, 65)) | set(range(91, 97)) | set(range(123, 127))


# ---- character predicates (HF `tokenization_bert` / `tokenization_utils`) -------------------------
def is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def is_removed(ch):
    """`_clean_text` drops NUL, U+FFFD and every control/format/unassigned/private character."""
    return ch == "\x00" or ch == "\ufffd" or is_control(ch)


def is_whitespace(ch):
    """What survives cleaning and still splits words (`_is_whitespace` + `str.split`)."""
    return ch in " \t\n\r" or unicodedata.category(ch).startswith("Z")


def is_punctuation(ch):
    return ord(ch) in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


def is_cjk(ch):
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


def _code_points():
    return (c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


def _re2_class(codes):
    """Sorted code points -> an RE2 character class `[\\x{a}-\\x{b}...]`."""
    parts, start, prev = [], None, None
    for c in codes:
        if start is None:
            start = prev = c
        elif c == prev + 1:
            prev = c
        else:
            parts.append((start, prev))
            start = prev = c
    if start is not None:
        parts.append((start, prev))
    body = "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in parts)
    return f"[{body}]"


@functools.lru_cache(maxsize=1)
def re2_classes():
    """RE2 classes for the HF character predicates (built once, about 0.5 s)."""
    removed, space, punct, mn, cased = [], [], [], [], []
    for c in _code_points():
        ch = chr(c)
        cat = unicodedata.category(ch)
        if ch in ("\x00", "\ufffd") or (cat[0] == "C" and ch not in "\t\n\r"):
            removed.append(c)
            continue
        if ch in " \t\n\r" or cat[0] == "Z":
            space.append(c)
        if c in _ASCII_PUNCT or cat[0] == "P":
            punct.append(c)
        if cat == "Mn":
            mn.append(c)
        if ch.lower() != ch:
            cased.append(c)
    cjk = [c for lo, hi in CJK_RANGES for c in range(lo, hi + 1)]
    lo, hi = SENTINEL_RANGE
    return {
        "removed": _re2_class(removed),
        "removed_but_sentinels": _re2_class([c for c in removed if not lo <= c <= hi]),
        "space": _re2_class(space),
        "punct": _re2_class(punct),
        "mn": _re2_class(mn),
        "cjk": _re2_class(cjk),
        "cased": tuple(cased),
    }


# ---- pure-Python reference -------------------------------------------------------------------------
def split_special_py(text, special_tokens):
    """Cut special-token literals out first (HF's trie): [(piece, is_special), ...]."""
    if not special_tokens:
        return [(text, False)] if text else []
    pattern = "|".join(re.escape(t) for t in sorted(special_tokens, key=len, reverse=True))
    out, pos = [], 0
    for m in re.finditer(pattern, text):
        if m.start() > pos:
            out.append((text[pos:m.start()], False))
        out.append((m.group(), True))
        pos = m.end()
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def basic_tokenize_py(text, lowercase=True, strip_accents=None, split_on_cjk=True):
    """HF `BasicTokenizer.tokenize` for text that holds no special token."""
    if lowercase:
        text = "".join(ch.lower() for ch in text)  # `PreTrainedTokenizer.tokenize` lowers char by char
    text = "".join(" " if is_whitespace(ch) else ch for ch in text if not is_removed(ch))
    if split_on_cjk:
        text = "".join(f" {ch} " if is_cjk(ch) else ch for ch in text)
    text = unicodedata.normalize("NFC", text)
    words = []
    for token in text.split():
        if lowercase:
            token = token.lower()
        if strip_accents or (strip_accents is None and lowercase):
            token = "".join(ch for ch in unicodedata.normalize("NFD", token) if unicodedata.category(ch) != "Mn")
        current = ""
        for ch in token:
            if is_punctuation(ch):
                if current:
                    words.append(current)
                words.append(ch)
                current = ""
            else:
                current += ch
        if current:
            words.append(current)
    return [w for word in words for w in word.split()]


def pretokenize_py(text, special_tokens=(), lowercase=True, strip_accents=None, split_on_cjk=True):
    """Words fed to WordPiece, in order; special tokens pass through whole."""
    words = []
    for piece, special in split_special_py(text, special_tokens):
        if special:
            words.append(piece)
        else:
            words.extend(basic_tokenize_py(piece, lowercase, strip_accents, split_on_cjk))
    return words


def wordpiece_py(word, vocab, unk_token="[UNK]", suffix="##"):
    """HF `WordpieceTokenizer`: greedy longest match, over-long or unmatched words become UNK."""
    if len(word) > MAX_CHARS_PER_WORD:
        return [unk_token]
    pieces, start = [], 0
    while start < len(word):
        end, cur = len(word), None
        while start < end:
            sub = word[start:end] if start == 0 else suffix + word[start:end]
            if sub in vocab:
                cur = sub
                break
            end -= 1
        if cur is None:
            return [unk_token]
        pieces.append(cur)
        start = end
    return pieces


# ---- TensorFlow ------------------------------------------------------------------------------------
def _tf():
    import tensorflow as tf
    import tensorflow_text as tf_text
    return tf, tf_text


@functools.lru_cache(maxsize=1)
def _lowercase_fixes():
    """Cased characters whose TF (ICU) lower-casing differs from Python's: (char, python_lower)."""
    tf, _ = _tf()
    chars = [chr(c) for c in re2_classes()["cased"]]
    with tf.init_scope(), tf.device("cpu"):  # eager even when first called while tracing
        lowered = tf.strings.lower(tf.constant([c.encode() for c in chars]), encoding="utf-8").numpy()
    return tuple((c, c.lower()) for c, low in zip(chars, lowered) if low.decode() != c.lower())


def special_tokens_pattern(special_tokens):
    if not special_tokens:
        return None
    return "|".join(re.escape(t) for t in sorted(special_tokens, key=len, reverse=True))


def _lower_tf(text):
    """Python's per-character `str.lower` in TF: no final-sigma context, Python's Unicode tables."""
    tf, _ = _tf()
    text = tf.strings.regex_replace(text, "\u03a3", "\u03c3")
    text = tf.strings.lower(text, encoding="utf-8")
    fixes = _lowercase_fixes()
    if not fixes:
        return text
    fix_class = "[" + "".join(f"\\x{{{ord(c):x}}}" for c, _ in fixes) + "]"

    def patch(t):
        for c, low in fixes:
            t = tf.strings.regex_replace(t, f"\\x{{{ord(c):x}}}", low)
        return t

    needed = tf.reduce_any(tf.strings.regex_full_match(text, f"(?s).*{fix_class}.*"))
    return tf.cond(needed, lambda: patch(text), lambda: text)


def _normalize_tf(text, lowercase, strip_accents, split_on_cjk, removed):
    tf, tf_text = _tf()
    cls = re2_classes()
    text = tf.strings.regex_replace(text, removed, "")  # first: ICU lower-casing stops at NUL
    if lowercase:
        text = _lower_tf(text)
    if split_on_cjk:
        text = tf.strings.regex_replace(text, cls["cjk"], r" \0 ")
    if strip_accents or (strip_accents is None and lowercase):
        text = tf_text.normalize_utf8(text, "NFD")
        text = tf.strings.regex_replace(text, cls["mn"], "")
    return text


def pretokenize_tf(text, special_tokens=(), lowercase=True, strip_accents=None, split_on_cjk=True, oov_token=None):
    """Dense strings [N] -> ragged words [N, W], as `pretokenize_py`.

    Only statically compiled regex ops and `tf.strings.split` are used (no per-call regex compilation),
    so per-document cost stays low inside `tf.data`. Special-token literals are cut out of the raw text
    first, as HF's trie does, by swapping them for private-use sentinels that survive normalisation.
    Words longer than 100 characters are replaced by `oov_token` (HF's limit counts characters,
    tf-text's counts bytes).
    """
    tf, _ = _tf()
    cls = re2_classes()
    lo, hi = SENTINEL_RANGE
    specials = sorted(special_tokens or (), key=len, reverse=True)
    if len(specials) > hi - lo:
        raise ValueError(f"at most {hi - lo} special tokens are supported")
    removed = cls["removed"]
    if specials:
        text = tf.strings.regex_replace(text, f"[\\x{{{lo:x}}}-\\x{{{hi:x}}}]", chr(hi + 1))
        for i, token in enumerate(specials):
            text = tf.strings.regex_replace(text, re.escape(token), f" {chr(lo + i)} ")
        removed = cls["removed_but_sentinels"]
    text = _normalize_tf(text, lowercase, strip_accents, split_on_cjk, removed)
    text = tf.strings.regex_replace(text, cls["space"], " ")
    text = tf.strings.regex_replace(text, cls["punct"], r" \0 ")
    words = tf.strings.split(text)
    flat = words.flat_values
    for i, token in enumerate(specials):
        flat = tf.where(tf.equal(flat, chr(lo + i)), token, flat)
    if oov_token is not None:
        too_long = tf.strings.length(flat, unit="UTF8_CHAR") > MAX_CHARS_PER_WORD
        flat = tf.where(too_long, oov_token, flat)
    return words.with_flat_values(flat)
