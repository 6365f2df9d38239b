"""Each private keras / keras-hub / TensorFlow hook in `hat_keras.compat` still has its target.

When one of these fails after an upgrade, the hook (not a user's ids or exports) is what broke: read the
hook's docstring, find the new spelling upstream, and update `compat` (and the version range) together.
"""
import keras
import keras_hub

from hat_keras import compat


def test_keras_hub_special_token_registration():
    assert callable(getattr(keras_hub.tokenizers.Tokenizer, "_add_special_token", None))
    tok = keras_hub.tokenizers.BytePairTokenizer.__new__(keras_hub.tokenizers.BytePairTokenizer)
    compat.register_special_tokens(tok, {"cls_token": "<s>", "sep_token": "</s>"})
    assert tok.cls_token == "<s>" and tok.start_token == "<s>" and tok.end_token == "</s>"


def test_masked_lm_head_parts():
    head = keras_hub.layers.MaskedLMHead(vocabulary_size=7, activation=None)
    head.build((None, 3, 4), (None, 2))
    dense, layer_norm, bias = compat.masked_lm_head_parts(head)
    assert isinstance(dense, keras.layers.Dense) and isinstance(layer_norm, keras.layers.LayerNormalization)
    assert tuple(bias.shape) == (7,)


def test_multi_worker_fit_fixes_reach_keras_internals():
    assert callable(getattr(keras.Model, "_symbolic_build", None))
    assert hasattr(keras.Model, "_maybe_symbolic_build")


def test_export_archive_root_and_variable_lists():
    archive = keras.export.ExportArchive()
    root = compat.export_archive_root(archive)
    for attr in ("variables", "trainable_variables", "non_trainable_variables"):
        assert hasattr(root, attr)
    compat.drop_duplicate_variable_lists(archive)
    assert list(root.variables) == []


def test_tf2onnx_patch_replaces_the_numpy1_constant_folding():
    import tf2onnx

    compat.patch_tf2onnx()
    assert tf2onnx.tfonnx.rewrite_constant_fold.__name__ == "patched_rewrite_constant_fold"
