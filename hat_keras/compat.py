"""Every use of a private keras / keras-hub / TensorFlow API in hat-keras, in one place.

Each hook says why it exists and names the upstream issue where there is one; `tests/test_compat.py`
fails loudly when a hook's target disappears in a new release, so a version bump breaks a test, not a
user's ids or exports.
"""
import types


def register_special_tokens(tokenizer, specials):
    """keras-hub tokenizers subclassing a keras-hub class (`BytePairTokenizer`) declare their special
    tokens through `Tokenizer._add_special_token`, as keras-hub's own model tokenizers do; the base class
    then fills `*_id` and `special_token_ids` when the vocabulary is set. keras-hub has no public
    equivalent; its own `RobertaTokenizer` and the other model tokenizers call it the same way."""
    for attr, token in specials.items():
        tokenizer._add_special_token(token, attr)
    tokenizer._add_special_token(specials["cls_token"], "start_token")
    tokenizer._add_special_token(specials["sep_token"], "end_token")


def masked_lm_head_parts(head):
    """keras-hub's `MaskedLMHead` keeps its dense, LayerNorm and output bias as private attributes; the
    converter needs them to map upstream's `lm_head.*` tensors (no public accessor exists)."""
    return head._intermediate_dense, head._intermediate_layer_norm, head._bias


def multi_worker_fit_fixes(model, strategy, local_values):
    """Make Keras 3 `fit`/`evaluate` work under MultiWorkerMirroredStrategy with several workers (patches this
    model instance only). Two Keras 3 bugs, keras-team/keras#20329 and tensorflow/tensorflow#72388:

    1. Before the first step Keras builds the model from the first batch by `strategy.reduce`-ing the whole
       (x, y, sample_weight) nest; the multi-worker strategy reduces single tensors only and fails with
       "Attempt to convert a value ({'token_ids': PerReplica...}) to a Tensor". The build needs only shapes and
       dtypes, so build from this worker's own replica values (`local_values`, no collective).
    2. Step outputs (scalar losses and metrics) are reduced across workers with `reduce(MEAN, axis=0)`, which
       fails on scalars ("Invalid reduction dimension 0 for input with 0 dimensions"). Giving every output a
       leading axis of 1 turns that reduce into the mean over workers, the same value on every worker.
    """
    import tensorflow as tf

    if getattr(model, "_multi_worker_fixed", False):
        return model

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = tf.nest.map_structure(local_values, next(it))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def with_worker_axis(step):
        return lambda data: tf.nest.map_structure(lambda v: tf.expand_dims(v, 0), step(data))

    model._maybe_symbolic_build = types.MethodType(_maybe_symbolic_build, model)
    model.train_step = with_worker_axis(model.train_step)
    model.test_step = with_worker_axis(model.test_step)
    model._multi_worker_fixed = True
    return model


def export_archive_root(archive):
    """The `tf.Module` a `keras.export.ExportArchive` writes (`_tf_trackable`): where extra assets are
    attached, and whose duplicate variable lists are dropped. Keras 3.15 saves every variable twice, once
    through the tracked layers' Keras variables and once through the endpoints' own variable list
    (keras-team/keras#23553); the endpoints' list is all serving needs, so dropping the layer lists halves
    the SavedModel and changes no output."""
    return archive._tf_trackable


def drop_duplicate_variable_lists(archive):
    root = export_archive_root(archive)
    for attr in ("variables", "trainable_variables", "non_trainable_variables"):
        setattr(root, attr, [])


def patch_tf2onnx():
    """tf2onnx 1.17 calls numpy APIs removed in numpy 2 (onnx/tensorflow-onnx#2373); Keras' own ONNX
    export patches them with this function, which is not public."""
    from keras.src.export.tf2onnx_lib import patch_tf2onnx as patch

    patch()
