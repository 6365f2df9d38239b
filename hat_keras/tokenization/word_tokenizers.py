"""The sub-word tokenizers under `HATTokenizer`: keras-hub tokenizer layers with the original rules.

`HATWordPieceTokenizer`: tf-text's `FastWordpieceTokenizer` behind the pre-tokeniser of transformers'
Python `BertTokenizer` (`bert_text`), which produced the ids the HAT checkpoints were trained on.
`HATBytePairTokenizer`: keras-hub's `BytePairTokenizer` with RoBERTa's special tokens.

`HATTokenizer` calls both inside a `tf.function` only, so eager calls, `tf.data` pipelines and exported
SavedModels run the same TensorFlow graph and give the same ids.
"""
import json
import os

import keras
import keras_hub

from hat_keras import compat
from hat_keras.tokenization import bert_text

_SPECIAL_ATTRS = ("cls_token", "sep_token", "pad_token", "mask_token", "unk_token")
VOCAB_ASSET = "vocabulary.txt"
# keras-hub's preset saver writes every tokenizer layer inside a preprocessor to its `config_file`; the word
# tokenizer nested in `HATTokenizer` gets its own, so it does not overwrite `tokenizer.json`.
WORD_TOKENIZER_CONFIG = "word_tokenizer.json"
# Config keys that keras-hub's WordPieceTokenizer wrote when it was the base class of this layer.
_LEGACY_WORDPIECE_KEYS = ("sequence_length", "oov_token", "special_tokens_in_strings", "_allow_python_workflow")


def _write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


def _ragged_safe(fn, inputs):
    """Apply a flat string op to a dense or ragged string tensor."""
    import tensorflow as tf
    if isinstance(inputs, tf.RaggedTensor):
        return inputs.with_flat_values(fn(inputs.flat_values))
    return fn(inputs)


@keras.saving.register_keras_serializable(package="hat_keras")
class HATWordPieceTokenizer(keras_hub.tokenizers.Tokenizer):
    """WordPiece with transformers' `BertTokenizer` text rules (cleaning, lower-casing, accents, CJK,
    special-token literals, the 100-character word limit).

    Built on public APIs only: keras-hub's `Tokenizer` base (presets, `.keras` assets) and tf-text's
    `FastWordpieceTokenizer`; the pre-tokeniser is `bert_text`. (keras-hub's `WordPieceTokenizer` is not
    subclassed: its ids depend on private methods that change between releases.)

    `strip_accents=None` follows `lowercase`, as in `BertTokenizer`. `special_tokens` lists extra
    literals (`additional_special_tokens`) that are matched in the text like `[MASK]`.
    """

    def __init__(self, vocabulary=None, lowercase=True, strip_accents=None, split_on_cjk=True,
                 cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", mask_token="[MASK]",
                 unk_token="[UNK]", special_tokens=None, suffix_indicator="##", dtype="int32", **kwargs):
        for legacy in _LEGACY_WORDPIECE_KEYS:  # written by earlier releases; meaningless here
            kwargs.pop(legacy, None)
        kwargs.setdefault("config_file", WORD_TOKENIZER_CONFIG)
        super().__init__(dtype=dtype, **kwargs)
        self.lowercase = bool(lowercase)
        self.strip_accents = strip_accents
        self.split_on_cjk = bool(split_on_cjk)
        self.suffix_indicator = suffix_indicator
        self.extra_special_tokens = list(special_tokens or ())
        self._specials = dict(zip(_SPECIAL_ATTRS, (cls_token, sep_token, pad_token, mask_token, unk_token)))
        for attr, token in self._specials.items():
            setattr(self, attr, token)
        self.file_assets = [VOCAB_ASSET]
        self.vocabulary = None
        self._token_to_id = {}
        self._fast_word_piece = None
        self.set_vocabulary(vocabulary)

    # ---- vocabulary -------------------------------------------------------------------------------
    def set_vocabulary(self, vocabulary):
        """A list of tokens or a `vocab.txt` path (one token per line, id = line number)."""
        if vocabulary is None:
            self.vocabulary, self._token_to_id, self._fast_word_piece = None, {}, None
            for attr in _SPECIAL_ATTRS:
                setattr(self, f"{attr}_id", None)
            return
        if isinstance(vocabulary, (str, os.PathLike)):
            with open(vocabulary, encoding="utf-8") as f:  # as transformers' `load_vocab` reads it
                vocabulary = [line.rstrip("\n") for line in f]
        vocabulary = [str(t) for t in vocabulary]
        token_to_id = {t: i for i, t in enumerate(vocabulary)}  # a repeated token keeps its last id, as in HF
        missing = [t for t in self._specials.values() if t not in token_to_id]
        if missing:
            raise ValueError(f"special tokens {missing} are not in the vocabulary of {len(vocabulary)} tokens")
        self.vocabulary, self._token_to_id = vocabulary, token_to_id
        for attr, token in self._specials.items():
            setattr(self, f"{attr}_id", token_to_id[token])
        self._fast_word_piece = None  # built on first use (inside or outside a graph)

    def _wordpiece(self):
        if self._fast_word_piece is None:
            import tensorflow as tf
            import tensorflow_text as tf_text
            with tf.init_scope():  # outside any graph being traced, so every graph can use it
                self._fast_word_piece = self._build_wordpiece(tf_text)
        return self._fast_word_piece

    def _build_wordpiece(self, tf_text):
        # Words over 100 characters are mapped to UNK before WordPiece (HF counts characters; tf-text's
        # limit counts bytes), so the byte limit only has to admit 100 four-byte characters.
        return tf_text.FastWordpieceTokenizer(
            vocab=self.vocabulary, token_out_type="int32", suffix_indicator=self.suffix_indicator,
            unknown_token=self.unk_token, no_pretokenization=True, support_detokenization=True,
            max_bytes_per_word=4 * bert_text.MAX_CHARS_PER_WORD + 4)

    def save_assets(self, dir_path):
        with open(os.path.join(dir_path, VOCAB_ASSET), "w", encoding="utf-8") as f:
            f.writelines(t + "\n" for t in self.vocabulary)

    def load_assets(self, dir_path):
        self.set_vocabulary(os.path.join(dir_path, VOCAB_ASSET))

    def save_pretrained(self, folder):
        """`vocab.txt` + `tokenizer_config.json`, as transformers' BertTokenizer writes them."""
        with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
            f.writelines(t + "\n" for t in self.vocabulary)
        config = {"tokenizer_class": "BertTokenizer", "do_lower_case": self.lowercase,
                  "strip_accents": self.strip_accents, "tokenize_chinese_chars": self.split_on_cjk, **self._specials}
        if self.extra_special_tokens:
            config["additional_special_tokens"] = list(self.extra_special_tokens)
        _write_json(os.path.join(folder, "tokenizer_config.json"), config)

    def get_vocabulary(self):
        return list(self.vocabulary or ())

    def vocabulary_size(self):
        return len(self.vocabulary or ())

    def id_to_token(self, id):
        if not 0 <= int(id) < self.vocabulary_size():
            raise ValueError(f"id {id} is outside the vocabulary [0, {self.vocabulary_size()})")
        return self.vocabulary[int(id)]

    def token_to_id(self, token):
        if token not in self._token_to_id:
            raise ValueError(f"token {token!r} is not in the vocabulary")
        return self._token_to_id[token]

    @property
    def special_tokens(self):
        return sorted(set(self._specials.values()))

    @property
    def special_token_ids(self):
        return sorted({getattr(self, f"{a}_id") for a in _SPECIAL_ATTRS})

    @property
    def word_boundary_class(self):
        """Characters across which tokenization is independent (a text cut right after one of them
        yields a prefix of the whole text's ids)."""
        return bert_text.re2_classes()["space"]

    def literal_special_tokens(self):
        """Special-token strings matched in raw text (only those in the vocabulary)."""
        tokens = set(self._specials.values()) | set(self.extra_special_tokens)
        return tuple(sorted(t for t in tokens if t in self._token_to_id))

    # ---- tokenization -----------------------------------------------------------------------------
    def pretokenize(self, inputs):
        """String tensor (dense or ragged) -> ragged words, one more ragged dimension."""
        return _ragged_safe(
            lambda flat: bert_text.pretokenize_tf(
                flat, self.literal_special_tokens(), self.lowercase, self.strip_accents, self.split_on_cjk,
                oov_token=self.unk_token),
            inputs)

    def tokenize(self, inputs):
        """Strings [B] (or one string) -> ragged int32 ids [B, T], the same eagerly and in graphs."""
        import tensorflow as tf
        if self.vocabulary is None:
            raise ValueError("HATWordPieceTokenizer has no vocabulary yet (pass `vocabulary=`)")
        if not isinstance(inputs, tf.RaggedTensor):
            inputs = tf.convert_to_tensor(inputs, tf.string)
        unbatched = inputs.shape.rank == 0
        if unbatched:
            inputs = tf.expand_dims(inputs, 0)
        tokens = self._wordpiece().tokenize(self.pretokenize(inputs)).merge_dims(-2, -1)
        return tokens[0] if unbatched else tokens

    def call(self, inputs):
        return self.tokenize(inputs)

    def detokenize(self, inputs):
        import tensorflow as tf
        ids = inputs if isinstance(inputs, (tf.Tensor, tf.RaggedTensor)) else tf.ragged.constant(inputs, tf.int32)
        return self._wordpiece().detokenize(ids)

    def tokenize_python_reference(self, text):
        """The same ids by plain Python (the transcription of the HF code in `bert_text`)."""
        words = bert_text.pretokenize_py(text, self.literal_special_tokens(), self.lowercase,
                                         self.strip_accents, self.split_on_cjk)
        vocab = self._token_to_id
        return [vocab[p] for w in words for p in bert_text.wordpiece_py(w, vocab, self.unk_token)]

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary": None,  # saved as an asset (`.keras` files and presets)
            "lowercase": self.lowercase, "strip_accents": self.strip_accents, "split_on_cjk": self.split_on_cjk,
            "special_tokens": self.extra_special_tokens or None, "suffix_indicator": self.suffix_indicator,
            **self._specials,
        })
        return config


@keras.saving.register_keras_serializable(package="hat_keras")
class HATBytePairTokenizer(keras_hub.tokenizers.BytePairTokenizer):
    """Byte-level BPE for the RoBERTa-based HATs (`<s>` starts each segment, pad id 1)."""

    def __init__(self, vocabulary=None, merges=None, cls_token="<s>", sep_token="</s>", pad_token="<pad>",
                 mask_token="<mask>", unk_token="<unk>", **kwargs):
        compat.register_special_tokens(self, dict(zip(_SPECIAL_ATTRS, (cls_token, sep_token, pad_token,
                                                                      mask_token, unk_token))))
        kwargs.pop("_allow_python_workflow", None)  # written by earlier releases
        kwargs.setdefault("config_file", WORD_TOKENIZER_CONFIG)
        if isinstance(merges, (list, tuple)):
            merges = [m for m in merges if not m.startswith("#version")]
        super().__init__(vocabulary=vocabulary, merges=merges, **kwargs)

    def save_pretrained(self, folder):
        """`vocab.json` + `merges.txt` + `tokenizer_config.json`, as transformers' RobertaTokenizer writes them."""
        _write_json(os.path.join(folder, "vocab.json"), self.vocabulary)
        with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n")
            f.writelines(m + "\n" for m in self.merges)
        _write_json(os.path.join(folder, "tokenizer_config.json"), {
            "tokenizer_class": "RobertaTokenizer", "bos_token": self.cls_token, "cls_token": self.cls_token,
            "sep_token": self.sep_token, "eos_token": self.sep_token, "pad_token": self.pad_token,
            "mask_token": self.mask_token, "unk_token": self.unk_token,
            "add_prefix_space": bool(getattr(self, "add_prefix_space", False))})

    def set_vocabulary_and_merges(self, vocabulary, merges):
        if isinstance(merges, str):  # a merges.txt path: drop its "#version" header
            with open(merges, encoding="utf-8") as f:
                merges = [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#version")]
        super().set_vocabulary_and_merges(vocabulary, merges)

    def get_config(self):
        config = super().get_config()
        config.update({
            "cls_token": self.cls_token, "sep_token": self.sep_token, "pad_token": self.pad_token,
            "mask_token": self.mask_token, "unk_token": self.unk_token,
        })
        return config
