"""`HATTokenizer`: documents -> `max_segments` segments of K token ids, as the original HATTokenizer.

A keras-hub `Tokenizer` layer that wraps a sub-word tokenizer (`HATWordPieceTokenizer` for `vocab.txt`
checkpoints, `HATBytePairTokenizer` for RoBERTa-style ones) and the segmenters of `segmentation`.
Every call runs the same TensorFlow graph: inside `tf.data.Dataset.map`, inside an exported
SavedModel, and eagerly (where inputs may be Python strings and outputs are numpy arrays).
"""
import json
import logging
import os
import weakref

import keras
import keras_hub
import numpy as np

from hat_keras.tokenization import segmentation as seg
from hat_keras.tokenization.word_tokenizers import HATBytePairTokenizer, HATWordPieceTokenizer

logger = logging.getLogger(__name__)

OUTPUT_KEYS = ("token_ids", "padding_mask", "segment_ids")
# Compiled eager-call graphs per tokenizer, kept off the layer so they are neither tracked nor exported.
_EAGER_FNS = weakref.WeakKeyDictionary()
_WORDPIECE_FILES = ("vocab.txt",)
# Every file of an HF tokenizer folder that `from_pretrained` may read (copied along with checkpoints).
TOKENIZER_FILES = ("vocab.txt", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json",
                   "tokenizer.json")
_BPE_FILES = ("vocab.json", "merges.txt")


def _tf():
    import tensorflow as tf
    return tf


def tokenizer_files_present(folder):
    """Whether `folder` holds a vocabulary `HATTokenizer.from_pretrained` can read."""
    def has(*names):
        return all(os.path.isfile(os.path.join(folder, n)) for n in names)
    return bool(folder) and os.path.isdir(folder) and (
        has(*_BPE_FILES) or has(*_WORDPIECE_FILES) or has("tokenizer.json"))


def _read_json(path):
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None


def _token_str(value):
    """tokenizer_config.json stores special tokens as strings or AddedToken dicts."""
    if isinstance(value, dict):
        return value.get("content")
    return value


def _renamed(kwargs, old, new, value):
    """The spelling of releases before 0.2 (`max_sentences`, `max_sentence_length`): still read, for saved
    tokenizers and one release of callers, with a DeprecationWarning for callers."""
    if old not in kwargs:
        return value
    import warnings

    warnings.warn(f"HATTokenizer({old}=...) is deprecated; use {new}=", DeprecationWarning, stacklevel=3)
    return kwargs.pop(old)


def _geometry(folder, given):
    """Segment geometry from config.json (HATConfig field names and upstream defaults); the folder may lack
    config.json when `given` holds both max_segments and segment_length."""
    config = _read_json(os.path.join(folder, "config.json"))
    if not config:
        if {"max_segments", "segment_length"} <= set(given):
            return {}, None
        raise FileNotFoundError(f"{folder}: no config.json; HATTokenizer needs max_segments and "
                                "segment_length from the checkpoint's config (or pass both)")
    k = config.get("max_sentence_length", config.get("max_sentence_size", 128))  # config.json: upstream names
    n = config.get("max_sentences", 64)
    return dict(max_segments=int(n), segment_length=int(k),
                model_max_length=int(config.get("model_max_length", n * k))), config.get("pad_token_id")


def _word_tokenizer(vocabulary, merges, lowercase):
    """WordPiece for a token list / vocab.txt path; byte-level BPE when `merges` is given too (a RoBERTa
    vocab dict or vocab.json path plus a merges list or merges.txt path)."""
    if merges is not None:
        if isinstance(vocabulary, (str, os.PathLike)):
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = json.load(f)
        return HATBytePairTokenizer(vocabulary, os.fspath(merges) if isinstance(merges, os.PathLike) else merges)
    if vocabulary is None:
        raise ValueError("HATTokenizer needs a vocabulary (a list of tokens or a vocab.txt path), or a "
                         "word_tokenizer; HATTokenizer.from_pretrained(folder) reads a checkpoint folder")
    return HATWordPieceTokenizer(os.fspath(vocabulary) if isinstance(vocabulary, os.PathLike) else vocabulary,
                                 lowercase=lowercase)


def check_text_inputs(inputs, who):
    """Python inputs must be strings, or (nested) lists of strings: iterating a dict would tokenize its
    keys (`tok({"text": "a"})` -> "text"), and numbers or None are no text. The error names the type and,
    inside lists, the position (`inputs[1]`)."""
    def first_bad(x, depth, where):
        """(position, value) of the first input that is not text, or None when all are."""
        if isinstance(x, (str, bytes)):
            return None
        if isinstance(x, np.ndarray) and x.dtype.kind in "USO":
            x = x.tolist()
        if isinstance(x, (list, tuple)) and depth < 3:
            return next((b for b in (first_bad(y, depth + 1, f"{where}[{i}]") for i, y in enumerate(x))
                         if b is not None), None)
        return where, x

    if hasattr(inputs, "dtype") and not isinstance(inputs, np.ndarray):
        return  # tensors: their dtype is checked by the graph
    found = first_bad(inputs, 0, "inputs")
    if found is not None:
        where, value = found
        what = f"a dict (keys {sorted(map(str, value))[:5]})" if isinstance(value, dict) else \
            f"{type(value).__name__} {value!r:.40}"
        raise TypeError(f"{who} takes a string or (lists of) strings, got {what}"
                        + (f" at {where}" if where != "inputs" else "")
                        + ("; pass the text itself, e.g. x['text']" if isinstance(value, dict) else ""))


def vocabulary_file(folder):
    """The file `from_pretrained` reads the vocabulary from (its order of preference), or None."""
    for names in (_BPE_FILES, _WORDPIECE_FILES, ("tokenizer.json",)):
        if all(os.path.isfile(os.path.join(folder, n)) for n in names):
            return os.path.join(folder, names[0])
    return None


def check_vocabulary_size(tokenizer, vocabulary_size, source):
    """Refuse a vocabulary with more entries than the model's embedding table: its extra ids would index
    past the table (an error deep inside predict on CPU, silent zeros on GPU). `source` (a folder or a
    file) is named in the message; a smaller vocabulary is fine (tables are often padded)."""
    from hat_keras.config import HATConfigError

    n = int(tokenizer.vocabulary_size())
    if n > int(vocabulary_size):
        source = os.fspath(source)
        where = (vocabulary_file(source) or source) if os.path.isdir(source) else source
        raise HATConfigError(f"{where}: the vocabulary has {n} tokens but the model's vocab_size is "
                             f"{vocabulary_size}; ids {vocabulary_size}..{n - 1} would index past its embedding "
                             "table (use the checkpoint's own vocabulary)")


class HATTokenizerNotFound(FileNotFoundError):
    """The folder has no vocabulary (vocab.txt, vocab.json + merges.txt or tokenizer.json)."""


def _word_tokenizer_from_folder(folder):
    tok_config = _read_json(os.path.join(folder, "tokenizer_config.json"))
    tok_config.update({k: v for k, v in _read_json(os.path.join(folder, "special_tokens_map.json")).items()
                       if k not in tok_config})
    specials = {k: _token_str(tok_config[k]) for k in ("cls_token", "sep_token", "pad_token", "mask_token",
                                                       "unk_token") if tok_config.get(k)}
    extra = [_token_str(t) for t in tok_config.get("additional_special_tokens", []) or []]
    path = lambda name: os.path.join(folder, name)  # noqa: E731
    if all(os.path.isfile(path(n)) for n in _BPE_FILES):  # upstream tries RobertaTokenizer first
        vocab = _read_json(path("vocab.json"))
        return HATBytePairTokenizer(vocab, path("merges.txt"), **_bpe_specials(specials, tok_config))
    if os.path.isfile(path("vocab.txt")):
        return HATWordPieceTokenizer(
            path("vocab.txt"), lowercase=tok_config.get("do_lower_case", True),
            strip_accents=tok_config.get("strip_accents"),
            split_on_cjk=tok_config.get("tokenize_chinese_chars", True),
            special_tokens=extra or None, **specials)
    if os.path.isfile(path("tokenizer.json")):
        return _from_tokenizer_json(path("tokenizer.json"), specials, tok_config, extra)
    raise HATTokenizerNotFound(f"{folder}: no tokenizer files (expected vocab.txt, vocab.json + merges.txt, "
                               "or tokenizer.json)")


def _bpe_specials(specials, tok_config):
    out = {"cls_token": tok_config.get("bos_token") and _token_str(tok_config["bos_token"])}
    out.update(specials)
    out = {k: v for k, v in out.items() if v}
    kwargs = {k: out[k] for k in ("cls_token", "sep_token", "pad_token", "mask_token", "unk_token") if k in out}
    if tok_config.get("add_prefix_space"):
        kwargs["add_prefix_space"] = True
    return kwargs


def _from_tokenizer_json(file, specials, tok_config, extra):
    spec = _read_json(file)
    model = spec.get("model", {})
    if model.get("type") == "BPE":
        merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
        return HATBytePairTokenizer(dict(model["vocab"]), merges, **_bpe_specials(specials, tok_config))
    if model.get("type") == "WordPiece":
        vocab = sorted(model["vocab"].items(), key=lambda kv: kv[1])
        normalizer = spec.get("normalizer") or {}
        lowercase = normalizer.get("lowercase", tok_config.get("do_lower_case", True))
        return HATWordPieceTokenizer(
            [t for t, _ in vocab], lowercase=lowercase, strip_accents=normalizer.get("strip_accents"),
            split_on_cjk=normalizer.get("handle_chinese_chars", True), special_tokens=extra or None, **specials)
    raise ValueError(f"{file}: model type {model.get('type')!r} is not supported (WordPiece or BPE)")


@keras.saving.register_keras_serializable(package="hat_keras")
class HATTokenizer(keras_hub.tokenizers.Tokenizer):
    """Cuts documents into `max_segments` segments of `segment_length` (K) ids, each starting with
    the CLS / `<s>` id and holding no SEP, exactly as the original `HATTokenizer`.

    `tok(inputs, segmentation=...)` returns `{"token_ids", "padding_mask", "segment_ids"}`, int32,
    shape `(batch, max_segments * K)` (no batch axis for a single string). Inputs:
    - a string or a list / 1-D tensor of strings: documents;
    - a list of lists / 2-D ragged tensor of strings: per document, sentences (`sentences` groups them
      as given), segments (`presegmented`) or pieces whose ids are concatenated (`uniform`).
    A plain document in `presegmented` mode is cut at blank lines (paragraphs), or into consecutive
    sentence triples when it has fewer than two paragraphs.
    `padding_mask` is upstream's attention mask; it is 1 on real tokens even when their id equals the
    pad id (a literal "[PAD]" in the text), and 0 on the first position of all-padding segments.
    Eager calls return numpy arrays; inside `tf.function`/`tf.data` they return tensors.

    Build it from a checkpoint folder (`from_pretrained`), or directly: `HATTokenizer(vocabulary=[...] or
    "vocab.txt", max_segments=8, segment_length=128)` (BPE: `vocabulary=` vocab.json, `merges=`
    merges.txt), or around a configured `word_tokenizer`.

    Long documents: only their first `prefix_chars_per_token * max_segments * K` characters are
    tokenized when that provably gives the whole text's result (WordPiece only); otherwise the whole
    text is. Set `prefix_chars_per_token=0` to always tokenize everything. The ids are the same.
    """

    # `backbone_cls` (what keras_hub.tokenizers.Tokenizer.from_preset matches a preset's backbone against) is
    # set by hat_keras.models, the layer above: the tokenizer does not depend on the model.

    def __init__(self, word_tokenizer=None, max_segments=8, segment_length=128, model_max_length=None,
                 segmentation="sentences", prefix_chars_per_token=8, vocabulary=None, merges=None, lowercase=True,
                 **kwargs):
        max_segments = _renamed(kwargs, "max_sentences", "max_segments", max_segments)
        segment_length = _renamed(kwargs, "max_sentence_length", "segment_length", segment_length)
        super().__init__(**kwargs)
        if isinstance(word_tokenizer, dict):
            word_tokenizer = keras.layers.deserialize(word_tokenizer)
        if word_tokenizer is None:
            word_tokenizer = _word_tokenizer(vocabulary, merges, lowercase)
        elif vocabulary is not None or merges is not None:
            raise ValueError("pass either word_tokenizer or vocabulary (+ merges), not both")
        if segment_length < 2 or max_segments < 1:
            raise ValueError(f"need segment_length >= 2 and max_segments >= 1, got "
                             f"{segment_length} and {max_segments}")
        self.word_tokenizer = word_tokenizer
        self.max_segments = int(max_segments)
        self.segment_length = int(segment_length)
        self.model_max_length = int(model_max_length or max_segments * segment_length)
        if self.model_max_length <= self.max_segments:
            raise ValueError(f"model_max_length={self.model_max_length} must exceed max_segments={max_segments}")
        self.segmentation = seg.check_segmentation(segmentation)
        self.prefix_chars_per_token = int(prefix_chars_per_token or 0)
        self.file_assets = word_tokenizer.file_assets
        self.built = True  # nothing to build: the vocabulary lives in the word tokenizer

    # ---- assets (presets and `.keras` files): the word tokenizer's vocabulary ---------------------
    def save_assets(self, dir_path):
        self.word_tokenizer.save_assets(dir_path)

    def load_assets(self, dir_path):
        self.word_tokenizer.load_assets(dir_path)
        _EAGER_FNS.pop(self, None)

    def save_pretrained(self, folder):
        """The HF tokenizer files of the word tokenizer (what `from_pretrained` reads back, with the
        geometry from the checkpoint's config.json)."""
        self.word_tokenizer.save_pretrained(os.fspath(folder))

    # ---- construction ------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, folder, missing_ok=False, **kwargs):
        """Build from a checkpoint folder: `config.json` (geometry) and `vocab.txt` (+ optional
        `tokenizer_config.json`), or `vocab.json` + `merges.txt`, or `tokenizer.json`.

        With `missing_ok=True`, a folder without tokenizer files gives None instead of raising
        `HATTokenizerNotFound`.
        """
        folder = os.fspath(folder)
        if not tokenizer_files_present(folder):
            if missing_ok:
                return None
            raise HATTokenizerNotFound(f"{folder}: no tokenizer files (expected vocab.txt, vocab.json + "
                                       "merges.txt, or tokenizer.json)")
        geometry, config_pad = _geometry(folder, kwargs)
        word_tokenizer = _word_tokenizer_from_folder(folder)
        if config_pad is not None and config_pad != word_tokenizer.pad_token_id:
            logger.warning("%s: config.json pad_token_id=%s but the vocabulary's %r is %s; padding uses the "
                           "vocabulary's id, as the original tokenizer did", folder, config_pad,
                           word_tokenizer.pad_token, word_tokenizer.pad_token_id)
        geometry.update(kwargs)
        return cls(word_tokenizer, **geometry)

    # ---- keras-hub Tokenizer API (flat ids, no specials) --------------------------------------------
    def tokenize(self, inputs):
        """Flat sub-word ids without special tokens (what upstream feeds its segmenters): a ragged
        tensor [B, T] for strings [B] (eagerly too), or [B, S, T] for lists of strings."""
        tf = _tf()
        if not tf.executing_eagerly():
            return self._word_ids(inputs)
        inputs, unbatched = self._canonicalize(inputs)
        key = ("tokenize", isinstance(inputs, tf.RaggedTensor))
        fns = _EAGER_FNS.setdefault(self, {})
        if key not in fns:
            spec = (tf.RaggedTensorSpec([None, None], tf.string, ragged_rank=1) if key[1]
                    else tf.TensorSpec([None], tf.string))
            fns[key] = tf.function(self._word_ids, input_signature=[spec], autograph=False)
        with tf.device("cpu"):
            ids = fns[key](inputs)
        return ids[0] if unbatched else ids

    def _word_ids(self, texts):
        """Sub-word ids of a string tensor [B] -> [B, T], or ragged [B, S] -> [B, S, T]."""
        tf = _tf()
        if isinstance(texts, tf.RaggedTensor):
            return texts.with_flat_values(self.word_tokenizer.tokenize(texts.flat_values))
        return self.word_tokenizer.tokenize(texts)

    def detokenize(self, inputs):
        return self.word_tokenizer.detokenize(inputs)

    def get_vocabulary(self):
        return self.word_tokenizer.get_vocabulary()

    def vocabulary_size(self):
        return self.word_tokenizer.vocabulary_size()

    def id_to_token(self, id):
        return self.word_tokenizer.id_to_token(id)

    def token_to_id(self, token):
        return self.word_tokenizer.token_to_id(token)

    @property
    def special_tokens(self):
        return self.word_tokenizer.special_tokens

    @property
    def special_token_ids(self):
        return self.word_tokenizer.special_token_ids

    @property
    def cls_token_id(self):
        return self.word_tokenizer.cls_token_id

    @property
    def pad_token_id(self):
        return self.word_tokenizer.pad_token_id

    @property
    def mask_token_id(self):
        return self.word_tokenizer.mask_token_id

    @property
    def sequence_length(self):
        return self.max_segments * self.segment_length

    # ---- segmentation ------------------------------------------------------------------------------
    def __call__(self, inputs, *args, **kwargs):
        check_text_inputs(inputs, "HATTokenizer")  # before Keras wraps the error in its call report
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, segmentation=None, max_segments=None, model_max_length=None):
        segmentation = seg.check_segmentation(segmentation or self.segmentation)
        n = int(max_segments or self.max_segments)
        m = int(model_max_length or (self.model_max_length if n == self.max_segments
                                     else n * self.segment_length))
        tf = _tf()
        if not tf.executing_eagerly():
            return self.segment(inputs, segmentation, n, m)
        inputs, unbatched = self._canonicalize(inputs)
        ragged = isinstance(inputs, tf.RaggedTensor)
        fn = self._eager_fn(segmentation, ragged, n, m)
        with tf.device("cpu"):
            out = fn(inputs)
        out = {k: v.numpy() for k, v in out.items()}
        if unbatched:
            out = {k: v[0] for k, v in out.items()}
        return out

    def _eager_fn(self, segmentation, ragged, n, m):
        key = (segmentation, ragged, n, m)
        fns = _EAGER_FNS.setdefault(self, {})
        if key not in fns:
            tf = _tf()
            spec = (tf.RaggedTensorSpec([None, None], tf.string, ragged_rank=1) if ragged
                    else tf.TensorSpec([None], tf.string))
            fns[key] = tf.function(
                lambda x: self.segment(x, segmentation, n, m), input_signature=[spec], autograph=False)
        return fns[key]

    @staticmethod
    def _canonicalize(inputs):
        """Python / numpy / tensor inputs -> (batched string tensor [B] or ragged [B, S], unbatched)."""
        tf = _tf()
        if isinstance(inputs, (tf.Tensor, tf.RaggedTensor)):
            if inputs.shape.rank == 0:
                return tf.reshape(inputs, [1]), True
            if inputs.shape.rank == 2 and not isinstance(inputs, tf.RaggedTensor):
                inputs = tf.RaggedTensor.from_tensor(inputs)
            return inputs, False
        if isinstance(inputs, (str, bytes)):
            return tf.constant([inputs]), True
        if isinstance(inputs, np.ndarray):
            inputs = inputs.tolist()
        inputs = list(inputs)
        if inputs and all(isinstance(x, (list, tuple, np.ndarray)) for x in inputs):
            rows = [[s.encode("utf-8") if isinstance(s, str) else s for s in x] for x in inputs]
            return tf.ragged.constant(rows, dtype=tf.string, ragged_rank=1), False
        if any(isinstance(x, (list, tuple, np.ndarray)) for x in inputs):
            raise ValueError("HATTokenizer inputs must be all strings or all lists of strings")
        return tf.constant([s.encode("utf-8") if isinstance(s, str) else s for s in inputs], tf.string,
                           shape=[len(inputs)]), False

    def segment(self, inputs, segmentation, max_segments, model_max_length):
        """The graph: string tensor [B] or ragged [B, S] -> dict of int32 [B, N*K] tensors."""
        tf = _tf()
        if not isinstance(inputs, tf.RaggedTensor):
            inputs = tf.convert_to_tensor(inputs, tf.string)
        unbatched = inputs.shape.rank == 0
        if unbatched:
            inputs = tf.reshape(inputs, [1])
        if inputs.shape.rank == 2 and not isinstance(inputs, tf.RaggedTensor):
            inputs = tf.RaggedTensor.from_tensor(inputs)
        # NUL and U+0001 are both removed by BERT's cleaning; NUL would stop tf-text's regex_split.
        if isinstance(inputs, tf.RaggedTensor):
            inputs = inputs.with_flat_values(tf.strings.regex_replace(inputs.flat_values, "\\x00", "\x01"))
        else:
            inputs = tf.strings.regex_replace(inputs, "\\x00", "\x01")
        if isinstance(inputs, tf.RaggedTensor):
            out = self._segment_lists(inputs, segmentation, max_segments, model_max_length)
        else:
            out = self._segment_documents(inputs, segmentation, max_segments, model_max_length)
        out = dict(zip(OUTPUT_KEYS, out))
        if unbatched:
            out = {key: v[0] for key, v in out.items()}
        return out

    def _segment_lists(self, lists, segmentation, n, m):
        k, cls_id, pad_id = self.segment_length, self.cls_token_id, self.pad_token_id
        ids = self._word_ids(lists)  # [B, S, T]
        if segmentation == "uniform":
            return seg.pack_uniform(ids.merge_dims(1, 2), n, k, m, cls_id, pad_id)
        if segmentation == "sentences":
            return seg.pack_sentences(ids, n, k, cls_id, pad_id)
        return seg.pack_presegmented(ids, n, k, cls_id, pad_id)

    def _segment_text(self, texts, segmentation, n, m):
        """Documents [B] -> ((ids, mask, types), complete [B]); `complete` says that text beyond
        these documents could not change the result (used to validate a prefix)."""
        k, cls_id, pad_id = self.segment_length, self.cls_token_id, self.pad_token_id
        if segmentation == "uniform":
            ids = self._word_ids(texts)
            return (seg.pack_uniform(ids, n, k, m, cls_id, pad_id),
                    ids.row_lengths() >= max(m - n, 0))
        if segmentation == "sentences":
            ids = self._word_ids(seg.split_sentences(texts))
            return seg.pack_sentences(ids, n, k, cls_id, pad_id, return_complete=True)
        ids = self._word_ids(seg.default_segments(texts))
        complete = seg.split_paragraphs(texts).row_lengths() > n
        return seg.pack_presegmented(ids, n, k, cls_id, pad_id), complete

    def _segment_documents(self, texts, segmentation, n, m):
        """Only the first ~`prefix_chars_per_token * N * K` characters of a long document are read when
        they provably give the same result as the whole text (enough tokens, or every segment filled
        before the last, possibly cut, sentence/paragraph); other rows are redone on the whole text."""
        tf = _tf()
        budget = self.prefix_chars_per_token * n * self.segment_length
        boundary = getattr(self.word_tokenizer, "word_boundary_class", None)
        if not budget or boundary is None:
            return self._segment_text(texts, segmentation, n, m)[0]
        long = tf.strings.length(texts, unit="UTF8_CHAR") > budget
        prefix = tf.strings.substr(texts, 0, budget, unit="UTF8_CHAR")
        # End the prefix after a word boundary, so that its ids are a prefix of the whole text's ids.
        prefix = tf.strings.regex_replace(prefix, "[^" + boundary[1:-1] + "]*$", "")
        out, complete = self._segment_text(tf.where(long, prefix, texts), segmentation, n, m)
        ok = tf.logical_or(tf.logical_not(long), complete)
        good = tf.cast(tf.where(ok)[:, 0], tf.int32)
        redo = tf.cast(tf.where(tf.logical_not(ok))[:, 0], tf.int32)
        full, _ = self._segment_text(tf.gather(texts, redo), segmentation, n, m)
        return tuple(tf.dynamic_stitch([good, redo], [tf.gather(a, good), b]) for a, b in zip(out, full))

    # ---- serialization -----------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update({
            "word_tokenizer": keras.layers.serialize(self.word_tokenizer),
            "max_segments": self.max_segments,
            "segment_length": self.segment_length,
            "model_max_length": self.model_max_length,
            "segmentation": self.segmentation,
            "prefix_chars_per_token": self.prefix_chars_per_token,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["word_tokenizer"] = keras.layers.deserialize(config["word_tokenizer"])
        for old, new in (("max_sentences", "max_segments"), ("max_sentence_length", "segment_length")):
            if old in config:  # saved before 0.2
                config[new] = config.pop(old)
        return cls(**config)
