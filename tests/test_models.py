"""Backbone and task models as Keras models: config round trips, .keras saving, compiled execution,
variable segment counts and input checks (the keras-hub harness checks, on the converted fixtures)."""
import json

import numpy as np
import pytest
import tensorflow as tf
import keras

import hat_keras
from hat_keras import HATBackbone, HATTextClassifier, HATTokenClassifier

from harness import assert_close, batch, head_model, refs, run_fresh_python

TINY_KW = dict(vocabulary_size=50, hidden_dim=16, num_heads=2, intermediate_dim=24, layout="S|SD|D",
               segment_length=4, max_segments=3)


def _inputs(B=2, n=3, K=4, vocab=50, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, (B, n * K)).astype("int32")
    mask = np.ones_like(ids)
    ids[0, -2:], mask[0, -2:] = 0, 0
    return {"token_ids": ids, "padding_mask": mask}


def test_get_config_from_config_round_trip():
    b = HATBackbone(**TINY_KW)
    again = HATBackbone.from_config(b.get_config())
    assert again.get_config() == b.get_config()
    clf = HATTextClassifier(b, 3, pooling="attentive")
    clf2 = HATTextClassifier.from_config(json.loads(json.dumps(keras.saving.serialize_keras_object(clf)))["config"])
    assert clf2.pooling == "attentive" and clf2.num_classes == 3
    assert len(clf2.weights) == len(clf.weights)


def test_variable_segment_counts_and_token_types():
    b = HATBackbone(**TINY_KW)
    for n in (1, 2, 3):
        x = _inputs(n=n)
        out = b(x)
        assert out["sequence_output"].shape == (2, n * 4, 16) and out["segment_output"].shape == (2, n, 16)
        zeros = b({**x, "segment_ids": np.zeros_like(x["token_ids"])})["sequence_output"]
        np.testing.assert_array_equal(np.asarray(out["sequence_output"]), np.asarray(zeros))


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_first_token_block_equals_the_full_blocks_first_row(policy):
    """first_only folds the key/value projections into the query side: same function as the full block."""
    from hat_keras.layers.transformer_block import HATTransformerBlock

    block = HATTransformerBlock(16, 4, 24, dtype=policy)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 6, 16)).astype("float32")
    bias = np.zeros((3, 1, 1, 6), "float32")
    bias[0, ..., 4:] = np.finfo("float32").min  # masked keys in one segment
    bias[2] = np.finfo("float32").min  # a fully padded segment: uniform attention
    block.build(x.shape)
    for w in block.weights:  # non-zero biases, so the folded bias terms are exercised
        w.assign(rng.normal(scale=0.3, size=w.shape).astype("float32"))
    x = keras.ops.cast(x, block.compute_dtype)  # the block does not autocast (its mask bias stays float32)
    full = np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(block(x, bias), "float32")))[:, :1]
    first = np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(block(x, bias, first_only=True), "float32")))
    assert first.shape == (3, 1, 16)
    np.testing.assert_allclose(first, full, atol=1e-5 if policy == "float32" else 6e-2)


@pytest.mark.parametrize("length,match", [(7, "not a positive multiple"), (16, "longer than max_segments")])
def test_bad_lengths_are_refused(length, match):
    b = HATBackbone(**TINY_KW)
    x = {"token_ids": np.ones((1, length), "int32"), "padding_mask": np.ones((1, length), "int32")}
    with pytest.raises(ValueError, match=match):
        b(x)
    with pytest.raises(ValueError, match=match):
        b.predict(x, verbose=0)


def test_eager_function_and_xla_agree(fixtures_dir):
    r = refs(fixtures_dir, "tiny-e2")
    model = head_model(fixtures_dir, "tiny-e2", "seqcls-attentive")
    x = batch(r, "a")
    eager = model(x)
    graph = tf.function(lambda v: model(v))(x)
    xla = tf.function(lambda v: model(v), jit_compile=True)(x)
    for got in (graph, xla):
        assert_close(got, eager, what="compiled vs eager")
    assert_close(eager, r["a_seqcls_attentive_logits"])
    assert_close(model.predict(x, verbose=0), r["a_seqcls_attentive_logits"])
    ds = tf.data.Dataset.from_tensor_slices(x).batch(2)
    assert_close(model.predict(ds, verbose=0), r["a_seqcls_attentive_logits"])


def test_keras_file_reloads_in_a_fresh_process(tmp_path, fixtures_dir):
    """`.keras` save, then load_model in a new interpreter that imports only hat_keras: identical outputs."""
    r = refs(fixtures_dir, "tiny-adhoc")
    model = hat_keras.from_pretrained(fixtures_dir / "tiny-adhoc" / "seqcls-max")
    path = tmp_path / "clf.keras"
    model.save(path)
    x = batch(r, "c", token_types=True)
    np.savez(tmp_path / "x.npz", **x)
    out = tmp_path / "out.npy"
    run_fresh_python(f"""
        import numpy as np, keras
        import hat_keras
        m = keras.models.load_model({str(path)!r})
        assert type(m).__name__ == "HATTextClassifier", type(m)
        x = dict(np.load({str(tmp_path / 'x.npz')!r}))
        np.save({str(out)!r}, np.asarray(m(x)))
    """)
    np.testing.assert_array_equal(np.load(out), np.asarray(model(x)))
    assert_close(np.load(out), r["c_seqcls_max_logits"])


def test_masked_lm_keras_round_trip(tmp_path, fixtures_dir):
    r = refs(fixtures_dir, "tiny-s1")
    mlm = hat_keras.from_pretrained(fixtures_dir / "tiny-s1" / "mlm")
    mlm.save(tmp_path / "mlm.keras")
    again = keras.models.load_model(tmp_path / "mlm.keras")
    x = batch(r, "a")
    x["mask_positions"] = hat_keras.all_positions(x["token_ids"])
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(mlm(x)))
    # the decoder stays tied to the word embeddings after reloading
    assert again.masked_lm_head.token_embedding is again.backbone.token_embedding


def test_token_classifier_trains():
    """Upstream's token-classification head crashes at construction; this one builds, fits and masks -100."""
    b = HATBackbone(**TINY_KW)
    model = HATTokenClassifier(b, num_classes=3)
    x = _inputs(B=4, n=2, seed=1)
    y = np.where(x["padding_mask"] == 1, x["token_ids"] % 3, -100).astype("int32")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    hist = model.fit(x, y, epochs=8, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert model.predict(x, verbose=0).shape == (4, 8, 3)


@pytest.mark.parametrize("problem_type,y", [
    ("single_label_classification", np.array([0, 1, 2, 1])),
    ("multi_label_classification", np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]], "float32")),
    ("regression", np.array([[0.5], [1.5], [-1.0], [2.0]], "float32")),
])
def test_classifier_problem_types_fit(problem_type, y):
    b = HATBackbone(**TINY_KW)
    model = HATTextClassifier(b, y.shape[1] if y.ndim == 2 else 3, problem_type=problem_type)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    x = _inputs(B=4, n=3, seed=2)
    hist = model.fit(x, y, epochs=6, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_mixed_bfloat16_forward_is_finite():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        b = HATBackbone(**TINY_KW)
        clf = HATTextClassifier(b, 2)
    finally:
        keras.config.set_dtype_policy("float32")
    x = _inputs(n=3)
    x["padding_mask"][1, 4:8] = 0  # a fully padded segment: uniform attention, never NaN
    x["token_ids"][1, 4:8] = 0
    logits = np.asarray(clf(x))
    assert logits.dtype == np.float32 and np.isfinite(logits).all()


def test_cli_convert_and_info(tmp_path, fixtures_dir, capsys):
    from hat_keras.cli import main

    dst = tmp_path / "out.keras"
    assert main(["convert", str(fixtures_dir / "tiny-l1" / "mlm"), "-o", str(dst), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "S|S|S|SD|SD" in text and "loaded:" in text
    model = keras.models.load_model(dst)
    r = refs(fixtures_dir, "tiny-l1")
    assert_close(model.backbone(batch(r, "b"))["sequence_output"], r["b_last_hidden_state"])
    preset = tmp_path / "preset"
    assert main(["convert", str(fixtures_dir / "tiny-l1" / "mlm"), "-o", str(preset), "--quiet"]) == 0
    assert (preset / "config.json").exists()
    assert main(["info", str(fixtures_dir / "tiny-l1" / "mlm")]) == 0
    assert "layout from keys" in capsys.readouterr().out
    # a bad source: one-line error, exit 1, nothing written at OUT
    bad_dst = tmp_path / "never.keras"
    assert main(["convert", str(tmp_path / "missing"), "-o", str(bad_dst)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err
    assert not bad_dst.exists()


def test_from_pretrained_attaches_tokenizer_and_takes_raw_text(tmp_path, fixtures_dir):
    """A checkpoint folder with vocab.txt gets its tokenizer and the task's preprocessor attached."""
    ckpt = tmp_path / "ec2"
    ckpt.mkdir()
    for name, src in (("config.json", fixtures_dir / "mini-ec2" / "config.json"),
                      ("pytorch_model.bin", fixtures_dir / "mini-ec2" / "pytorch_model.bin"),
                      ("vocab.txt", fixtures_dir / "tokenizer" / "vocab.txt")):
        (ckpt / name).symlink_to(src)
    clf = hat_keras.from_pretrained(ckpt, task="text_classifier", num_labels=2)
    assert isinstance(clf.preprocessor, hat_keras.HATTextClassifierPreprocessor)
    texts = ["A short document. It has two sentences.", "Another one, with a single sentence"]
    probs = clf.predict(texts, verbose=0)
    x = clf.preprocessor.tokenizer(texts, segmentation=clf.preprocessor.segmentation)
    assert_close(probs, np.asarray(clf({k: np.asarray(v) for k, v in x.items()})), atol=1e-5)
    assert hat_keras.from_pretrained(fixtures_dir / "tiny-s1" / "mlm").preprocessor is None
