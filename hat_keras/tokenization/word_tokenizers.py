"""The sub-word tokenizers under `HATTokenizer`: keras-hub layers with the original checkpoints' rules.

`HATWordPieceTokenizer` is keras-hub's `WordPieceTokenizer` (tf-text `FastWordpieceTokenizer` inside,
vocabulary saved as an asset) with the pre-tokeniser of transformers' Python `BertTokenizer`
(`bert_text`), which is what produced the ids the HAT checkpoints were trained on.
`HATBytePairTokenizer` is keras-hub's `BytePairTokenizer` with RoBERTa's special tokens.

Both always run their TensorFlow path, also eagerly, so that eager calls, `tf.data` pipelines and
exported SavedModels give the same ids (keras-hub's eager pure-Python path can differ).
"""
import keras
import keras_hub

from hat_keras.tokenization import bert_text

_SPECIAL_ATTRS = ("cls_token", "sep_token", "pad_token", "mask_token", "unk_token")


def _ragged_safe(fn, inputs):
    """Apply a flat string op to a dense or ragged string tensor."""
    import tensorflow as tf
    if isinstance(inputs, tf.RaggedTensor):
        return inputs.with_flat_values(fn(inputs.flat_values))
    return fn(inputs)


def _register_specials(layer, tokens):
    for attr, token in zip(_SPECIAL_ATTRS, tokens):
        layer._add_special_token(token, attr)
    layer._add_special_token(tokens[0], "start_token")
    layer._add_special_token(tokens[1], "end_token")


@keras.saving.register_keras_serializable(package="hat_keras")
class HATWordPieceTokenizer(keras_hub.tokenizers.WordPieceTokenizer):
    """WordPiece with transformers' `BertTokenizer` text rules (cleaning, lower-casing, accents, CJK,
    special-token literals, the 100-character word limit).

    `strip_accents=None` follows `lowercase`, as in `BertTokenizer`. `special_tokens` lists extra
    literals (`additional_special_tokens`) that are matched in the text like `[MASK]`.
    """

    def __init__(self, vocabulary=None, lowercase=True, strip_accents=None, split_on_cjk=True,
                 cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", mask_token="[MASK]",
                 unk_token="[UNK]", special_tokens=None, **kwargs):
        _register_specials(self, (cls_token, sep_token, pad_token, mask_token, unk_token))
        kwargs.setdefault("_allow_python_workflow", False)
        kwargs.pop("oov_token", None)
        kwargs.pop("special_tokens_in_strings", None)
        self.hf_strip_accents = strip_accents
        super().__init__(vocabulary=vocabulary, lowercase=lowercase,
                         strip_accents=bool(strip_accents if strip_accents is not None else lowercase),
                         split_on_cjk=split_on_cjk, oov_token=unk_token, special_tokens=special_tokens,
                         special_tokens_in_strings=True, **kwargs)

    def _set_vocabulary_tf(self):
        import tensorflow_text as tf_text
        # Words over 100 characters are mapped to UNK before WordPiece (HF counts characters; tf-text's
        # default limit counts bytes), so the byte limit only has to admit 100 four-byte characters.
        self._fast_word_piece = tf_text.FastWordpieceTokenizer(
            vocab=self.vocabulary, token_out_type=self.compute_dtype, suffix_indicator=self.suffix_indicator,
            unknown_token=self.oov_token, no_pretokenization=True, support_detokenization=True,
            max_bytes_per_word=4 * bert_text.MAX_CHARS_PER_WORD + 4)

    @property
    def word_boundary_class(self):
        """Characters across which tokenization is independent (a text cut right after one of them
        yields a prefix of the whole text's ids)."""
        return bert_text.re2_classes()["space"]

    def literal_special_tokens(self):
        """Special-token strings matched in raw text (only those in the vocabulary)."""
        tokens = set(self.special_tokens) | set(self._init_special_tokens or ())
        vocab = self._token_to_id_map or {}
        return tuple(sorted(t for t in tokens if t in vocab))

    def pretokenize(self, inputs):
        """String tensor (dense or ragged) -> ragged words, one more ragged dimension."""
        return _ragged_safe(
            lambda flat: bert_text.pretokenize_tf(
                flat, self.literal_special_tokens(), self.lowercase, self.hf_strip_accents, self.split_on_cjk,
                oov_token=self.oov_token),
            inputs)

    def _tokenize_tf(self, inputs):
        import tensorflow as tf
        self._maybe_initialized_tf()
        if not isinstance(inputs, tf.RaggedTensor):
            inputs = tf.convert_to_tensor(inputs)
        unbatched = inputs.shape.rank == 0
        if unbatched:
            inputs = tf.expand_dims(inputs, 0)
        tokens = self._fast_word_piece.tokenize(self.pretokenize(inputs)).merge_dims(-2, -1)
        if self.sequence_length:
            shape = tokens.shape.as_list()
            shape[-1] = self.sequence_length
            tokens = tokens.to_tensor(shape=shape)
        if unbatched:
            tokens = tf.squeeze(tokens, 0)
        return tokens

    def tokenize_python_reference(self, text):
        """The same ids by plain Python (the transcription of the HF code in `bert_text`)."""
        vocab = self._token_to_id_map
        words = bert_text.pretokenize_py(text, self.literal_special_tokens(), self.lowercase,
                                         self.hf_strip_accents, self.split_on_cjk)
        return [vocab[p] for w in words for p in bert_text.wordpiece_py(w, vocab, self.oov_token)]

    def get_config(self):
        config = super().get_config()
        for key in ("oov_token", "special_tokens_in_strings"):
            config.pop(key, None)
        config.update({
            "strip_accents": self.hf_strip_accents,
            "split_on_cjk": self.split_on_cjk,
            "cls_token": self.cls_token, "sep_token": self.sep_token, "pad_token": self.pad_token,
            "mask_token": self.mask_token, "unk_token": self.unk_token,
        })
        return config


@keras.saving.register_keras_serializable(package="hat_keras")
class HATBytePairTokenizer(keras_hub.tokenizers.BytePairTokenizer):
    """Byte-level BPE for the RoBERTa-based HATs (`<s>` starts each segment, pad id 1)."""

    def __init__(self, vocabulary=None, merges=None, cls_token="<s>", sep_token="</s>", pad_token="<pad>",
                 mask_token="<mask>", unk_token="<unk>", **kwargs):
        _register_specials(self, (cls_token, sep_token, pad_token, mask_token, unk_token))
        kwargs.setdefault("_allow_python_workflow", False)
        if isinstance(merges, (list, tuple)):
            merges = [m for m in merges if not m.startswith("#version")]
        super().__init__(vocabulary=vocabulary, merges=merges, **kwargs)

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
