"""keras-hub style preprocessors for the HAT tasks: raw text in, `(x, y, sample_weight)` out.

All four run the `HATTokenizer` graph, so they work inside `tf.data.Dataset.map` with static shapes
(`max_segments * K` per document) and eagerly (numpy outputs). Map them per example, then batch:
`MaskedLMMaskGenerator` only yields static shapes per example (mapped after `batch()` its outputs get a
`None` batch dimension). Batched inputs are accepted too, as keras-hub tasks pass them in `fit`/`predict`.

`segmentation` defaults to "sentences", the original tokenizer's default path, which the HAT papers'
pre-training and fine-tuning scripts used; "uniform" and "presegmented" are the alternatives.
"""
import math
import weakref

import keras
import keras_hub

from hat_keras.tokenization import segmentation as seg
from hat_keras.tokenization.tokenizer import HATTokenizer, check_text_inputs

# Per-layer caches kept off the layers, so that they are neither tracked nor saved with them.
_EAGER_FNS = weakref.WeakKeyDictionary()  # layer -> tf.function of its graph
_MASKERS = weakref.WeakKeyDictionary()  # HATMaskedLMPreprocessor -> MaskedLMMaskGenerator


def _tf():
    import tensorflow as tf
    return tf


def _strings(x, lists_are_batch=True):
    """Python / numpy strings -> string tensor [B] / ragged [B, S]; tensors pass through."""
    tf = _tf()
    if isinstance(x, (tf.Tensor, tf.RaggedTensor)) or x is None:
        return x
    if isinstance(x, (str, bytes)):
        return tf.constant(x)
    x = x.tolist() if hasattr(x, "tolist") else list(x)
    if x and all(isinstance(r, (list, tuple)) for r in x):
        if lists_are_batch and x and all(r and isinstance(r[0], (list, tuple)) for r in x):
            return tf.ragged.constant(x, dtype=tf.string)  # [B, C, S]
        return tf.ragged.constant(x, dtype=tf.string, ragged_rank=1)
    return tf.constant(x, tf.string, shape=[len(x)])


def _values(v):
    """Labels / weights: Python lists (possibly ragged) -> tensors."""
    tf = _tf()
    if v is None or isinstance(v, (tf.Tensor, tf.RaggedTensor)):
        return v
    if isinstance(v, (list, tuple)) and v and isinstance(v[0], (list, tuple)):
        lengths = {len(r) for r in v}
        if len(lengths) > 1:
            return tf.ragged.constant(v)
    return tf.convert_to_tensor(v)


class _HATPreprocessor(keras_hub.models.Preprocessor):
    """Shared plumbing: geometry, the eager path through one compiled graph, config."""

    tokenizer_cls = HATTokenizer

    def __init__(self, tokenizer, sequence_length=None, segmentation="sentences", **kwargs):
        super().__init__(**kwargs)
        self.tokenizer = tokenizer
        self.segmentation = seg.check_segmentation(segmentation)
        self.sequence_length = sequence_length
        self.built = True

    @property
    def sequence_length(self):
        """`max_segments * K`; set a multiple of K to use fewer or more segments."""
        return self._sequence_length

    @sequence_length.setter
    def sequence_length(self, value):
        k = self.tokenizer.segment_length
        value = int(value or self.tokenizer.sequence_length)
        if value % k:
            raise ValueError(f"sequence_length={value} must be a multiple of the segment length K={k}")
        self._sequence_length = value
        _EAGER_FNS.pop(self, None)

    @property
    def max_segments(self):
        return self.sequence_length // self.tokenizer.segment_length

    def _segment(self, x, segmentation=None):
        n = self.max_segments
        m = self.tokenizer.model_max_length if n == self.tokenizer.max_segments else self.sequence_length
        return self.tokenizer.segment(x, segmentation or self.segmentation, n, m)

    def __call__(self, x, *args, **kwargs):
        packed = type(x) is tuple and len(x) in (2, 3) and not args  # an (x, y[, w]) element
        check_text_inputs(x[0] if packed else x, type(self).__name__)  # before Keras wraps the error
        return super().__call__(x, *args, **kwargs)

    def call(self, x, y=None, sample_weight=None):
        tf = _tf()
        if not tf.executing_eagerly():
            return self._call_graph(x, y, sample_weight)
        fn = _EAGER_FNS.get(self)
        if fn is None:
            fn = _EAGER_FNS[self] = tf.function(self._call_graph, reduce_retracing=True, autograph=False)
        with tf.device("cpu"):
            out = fn(self._canonicalize(x), _values(y), _values(sample_weight))
        return tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out)

    def _canonicalize(self, x):
        return _strings(x)

    def _call_graph(self, x, y=None, sample_weight=None):
        raise NotImplementedError

    def get_config(self):
        config = super().get_config()
        config.update({"sequence_length": self.sequence_length, "segmentation": self.segmentation})
        return config


@keras.saving.register_keras_serializable(package="hat_keras")
class HATTextClassifierPreprocessor(_HATPreprocessor):
    """Documents -> `{"token_ids", "padding_mask", "segment_ids"}` ([N*K] each); labels pass through.

    `x`: a string (one example), strings [B], or per-document lists of strings [B, S] (sentences or
    segments, see `HATTokenizer`).
    """

    def _call_graph(self, x, y=None, sample_weight=None):
        return keras.utils.pack_x_y_sample_weight(self._segment(x), y, sample_weight)


@keras.saving.register_keras_serializable(package="hat_keras")
class HATMaskedLMPreprocessor(_HATPreprocessor):
    """Documents -> masked inputs for `HATMaskedLM`, as keras-hub's `MaskedLMPreprocessor`:
    `x = {token_ids (masked), padding_mask, segment_ids, mask_positions}`, `y = mask_ids`,
    `sample_weight = mask_weights`.

    keras-hub's `MaskedLMMaskGenerator` picks `mask_selection_rate` of the selectable tokens (never a
    special token: CLS / segment start, PAD, SEP, MASK, UNK) and replaces 80 % by MASK, 10 % by a random
    id, 10 % unchanged. `mask_selection_length` (default: ceil(rate * sequence_length)) fixes the
    number of prediction slots, so shapes are static when mapped per example before `batch()`.
    """

    def __init__(self, tokenizer, sequence_length=None, segmentation="sentences", mask_selection_rate=0.15,
                 mask_selection_length=None, mask_token_rate=0.8, random_token_rate=0.1, **kwargs):
        self.mask_selection_rate = mask_selection_rate
        self._mask_selection_length = mask_selection_length
        self.mask_token_rate = mask_token_rate
        self.random_token_rate = random_token_rate
        super().__init__(tokenizer, sequence_length=sequence_length, segmentation=segmentation, **kwargs)

    @property
    def mask_selection_length(self):
        if self._mask_selection_length:
            return int(self._mask_selection_length)
        return int(math.ceil(self.mask_selection_rate * self.sequence_length))

    @property
    def masker(self):
        """keras-hub's `MaskedLMMaskGenerator`, built on first use (the vocabulary may load later)."""
        if self not in _MASKERS:
            _MASKERS[self] = keras_hub.layers.MaskedLMMaskGenerator(
                vocabulary_size=self.tokenizer.vocabulary_size(),
                mask_selection_rate=self.mask_selection_rate,
                mask_token_id=self.tokenizer.mask_token_id,
                mask_selection_length=self.mask_selection_length,
                unselectable_token_ids=sorted(self.tokenizer.special_token_ids),
                mask_token_rate=self.mask_token_rate,
                random_token_rate=self.random_token_rate,
            )
        return _MASKERS[self]

    @_HATPreprocessor.sequence_length.setter
    def sequence_length(self, value):
        _HATPreprocessor.sequence_length.fset(self, value)
        _MASKERS.pop(self, None)  # the default selection length follows the sequence length

    def _call_graph(self, x, y=None, sample_weight=None):
        tf = _tf()
        features = self._segment(x)
        masked = self.masker(features["token_ids"])
        x = {
            "token_ids": masked["token_ids"],
            "padding_mask": features["padding_mask"],
            "segment_ids": features["segment_ids"],
            "mask_positions": tf.cast(masked["mask_positions"], tf.int32),
        }
        return keras.utils.pack_x_y_sample_weight(x, tf.cast(masked["mask_ids"], tf.int32),
                                                  masked["mask_weights"])

    def get_config(self):
        config = super().get_config()
        config.update({
            "mask_selection_rate": self.mask_selection_rate,
            "mask_selection_length": self._mask_selection_length,
            "mask_token_rate": self.mask_token_rate,
            "random_token_rate": self.random_token_rate,
        })
        return config


@keras.saving.register_keras_serializable(package="hat_keras")
class HATMultipleChoicePreprocessor(_HATPreprocessor):
    """C candidate texts per example -> x with shapes `(C, N*K)` (batched: `(B, C, N*K)`).

    `x`: a list of C strings (one example), strings [B, C], or presegmented/pre-split lists
    [B, C, S]. Each candidate is usually the context joined with one answer. Labels pass through.
    """

    def _canonicalize(self, x):
        return _strings(x, lists_are_batch=True)

    def _call_graph(self, x, y=None, sample_weight=None):
        tf = _tf()
        if not isinstance(x, tf.RaggedTensor):
            x = tf.convert_to_tensor(x, tf.string)
        if isinstance(x, tf.RaggedTensor) and x.shape.rank == 3:  # [B, C, S]: lists per candidate
            unbatched = False
            choices = tf.cast(x.bounding_shape()[1], tf.int32)
            flat = x.merge_dims(0, 1)
        else:
            if isinstance(x, tf.RaggedTensor):
                x = x.to_tensor()  # [B, C] with equal candidate counts
            unbatched = x.shape.rank == 1
            if unbatched:
                x = x[None]
            choices = x.shape[1] if x.shape[1] is not None else tf.shape(x)[1]
            flat = tf.reshape(x, [-1])
        features = self._segment(flat)
        features = {k: tf.reshape(v, [-1, choices, self.sequence_length]) for k, v in features.items()}
        if unbatched:
            features = {k: v[0] for k, v in features.items()}
        return keras.utils.pack_x_y_sample_weight(features, y, sample_weight)


@keras.saving.register_keras_serializable(package="hat_keras")
class HATSequentialSentenceClassifierPreprocessor(_HATPreprocessor):
    """Sentences -> one segment per sentence (at most `max_segments`, each cut to K-1 tokens).

    `x`: a list of sentence strings (one example, rank 1) or per-example lists [B, S].
    `y`: one label per sentence, padded with -1 (and cut) to `max_segments`; a padded
    `sample_weight` of the same shape gets 0 where the label is padding.
    """

    def __init__(self, tokenizer, sequence_length=None, segmentation="presegmented", **kwargs):
        if segmentation != "presegmented":
            raise ValueError("HATSequentialSentenceClassifierPreprocessor places one sentence per segment: "
                             "segmentation must be 'presegmented'")
        super().__init__(tokenizer, sequence_length=sequence_length, segmentation=segmentation, **kwargs)

    def _canonicalize(self, x):
        tf = _tf()
        if isinstance(x, (list, tuple)) and (not x or isinstance(x[0], str)):
            return tf.constant([s.encode("utf-8") for s in x], tf.string, shape=[len(x)])
        return _strings(x)

    def _pad_per_segment(self, v, value, unbatched):
        tf = _tf()
        n = self.max_segments
        if v is None:
            return None
        if unbatched:
            v = tf.convert_to_tensor(v)[None]
        if not isinstance(v, tf.RaggedTensor):
            v = tf.RaggedTensor.from_tensor(tf.convert_to_tensor(v))
        v = v[:, :n].to_tensor(default_value=tf.cast(value, v.dtype), shape=[None, n])
        return v[0] if unbatched else v

    def _call_graph(self, x, y=None, sample_weight=None):
        tf = _tf()
        if not isinstance(x, tf.RaggedTensor):
            x = tf.convert_to_tensor(x, tf.string)
        unbatched = x.shape.rank == 1
        rows = tf.RaggedTensor.from_tensor(x[None]) if unbatched else x
        if not isinstance(rows, tf.RaggedTensor):
            rows = tf.RaggedTensor.from_tensor(rows)
        features = self._segment(rows, "presegmented")
        if unbatched:
            features = {k: v[0] for k, v in features.items()}
        y = self._pad_per_segment(y, -1, unbatched)
        if y is not None:
            y = tf.cast(y, tf.int32)
        sample_weight = self._pad_per_segment(sample_weight, 0, unbatched)
        return keras.utils.pack_x_y_sample_weight(features, y, sample_weight)
