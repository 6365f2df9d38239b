"""Compact mode: trailing padded segments can be dropped without changing any output; default unchanged."""
import numpy as np
import pytest

import hat_keras
from hat_keras.inference import (CompiledForward, bucket_of, make_compact, real_segments, segment_buckets,
                                 trim_segments)

from harness import assert_close, head_model, refs


def _docs(vocab, K, n_total, lengths, seed=0):
    """Token ids / mask for documents of `lengths` tokens, [CLS]=101-style id at each segment start."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((len(lengths), n_total * K), "int32")
    for b, n in enumerate(lengths):
        ids[b, :n] = rng.integers(5, vocab, n)
        ids[b, :n:K] = 2
    return {"token_ids": ids, "padding_mask": (ids != 0).astype("int32")}


def test_trim_segments():
    mask = np.zeros((2, 8 * 4), "int32")
    mask[0, :9], mask[1, :3] = 1, 1
    assert real_segments(mask, 4) == 3
    x = trim_segments({"token_ids": mask.copy(), "padding_mask": mask}, 4)
    assert x["token_ids"].shape == (2, 16)  # 3 real segments run in the 4-segment bucket
    assert segment_buckets(32) == [1, 2, 4, 8, 16, 32] and segment_buckets(12) == [1, 2, 4, 8, 12]
    assert [bucket_of(n, 12) for n in (1, 3, 9, 12, 40)] == [1, 4, 12, 12, 12]
    assert real_segments(np.zeros((1, 8), "int32"), 4) == 1  # an empty batch keeps one segment


@pytest.mark.parametrize("head", ["seqcls-max", "seqcls-attentive", "seqcls-last"])
def test_compact_trimmed_equals_padded(fixtures_dir, head):
    model = make_compact(head_model(fixtures_dir, "tiny-e2", head))
    bb = model.backbone
    assert bb.compact and bb.max_segments == 4
    K = bb.segment_length
    x = _docs(bb.vocabulary_size, K, 4, [K + 5, 2 * K])  # 2 real segments, padded to 4
    padded = np.asarray(model(x, training=False))
    trimmed = np.asarray(model(trim_segments(x, K), training=False))
    assert trim_segments(x, K)["token_ids"].shape[1] == 2 * K
    np.testing.assert_allclose(trimmed, padded, atol=1e-5, rtol=1e-5)  # kernels differ by shape: rounding only
    forward = CompiledForward(model, jit_compile=False)
    assert forward.trim
    np.testing.assert_allclose(np.asarray(forward(x)), padded, atol=1e-5, rtol=1e-5)


def test_compact_sequence_outputs_of_real_tokens(fixtures_dir):
    """Real tokens never see padded segments, in either mode (they are masked as cross-segment keys)."""
    mlm = hat_keras.from_pretrained(fixtures_dir / "tiny-e2" / "mlm")
    bb = make_compact(mlm.backbone)
    K = bb.segment_length
    x = _docs(bb.vocabulary_size, K, 4, [K + 7])
    full = np.asarray(bb(x)["sequence_output"])[:, :2 * K]
    short = np.asarray(bb(trim_segments(x, K))["sequence_output"])
    np.testing.assert_allclose(short, full, atol=1e-5, rtol=1e-5)


def test_default_mode_unchanged(fixtures_dir):
    """Default models are not compact, keep no `compact` key, and still match the fixtures with padding."""
    model = head_model(fixtures_dir, "tiny-e2", "seqcls-max")
    assert not model.backbone.compact and "compact" not in model.backbone.get_config()
    r = refs(fixtures_dir, "tiny-e2")
    x = {"token_ids": r["a_input_ids"].astype("int32"), "padding_mask": r["a_attention_mask"].astype("int32")}
    assert_close(model(x), r["a_seqcls_max_logits"])
    assert not CompiledForward(model).trim
    # Without padded segments, compact and default agree.
    compact = make_compact(model)
    full = {k: np.ones_like(v) * (3 if k == "token_ids" else 1) for k, v in x.items()}
    np.testing.assert_allclose(np.asarray(compact(full)), np.asarray(model(full)), atol=1e-6)


def test_compact_round_trips_config(fixtures_dir):
    model = make_compact(head_model(fixtures_dir, "tiny-e2", "seqcls-max"))
    again = type(model).from_config(model.get_config())
    assert again.backbone.compact


# ---- compact as a model's own setting: config.json, padding invariance, exports --------------------------

def _classifier(max_segments, compact, pooling="max"):
    """A tiny classifier whose head is large enough (initializer_range 0.2) for padding effects to show in
    its probabilities."""
    import keras

    from training_helpers import tiny_backbone_kwargs

    keras.utils.set_random_seed(0)
    backbone = hat_keras.HATBackbone(**{**tiny_backbone_kwargs(), "max_segments": max_segments,
                                        "compact": compact, "initializer_range": 0.2})
    return hat_keras.HATTextClassifier(backbone, 3, pooling=pooling)


def _padded(n_tokens, max_segments, K, seed=1):
    """One document of `n_tokens` tokens ([CLS]-like id 2 at each segment start), padded to `max_segments`."""
    ids = np.zeros((1, max_segments * K), "int32")
    ids[0, :n_tokens] = np.random.default_rng(seed).integers(5, 40, n_tokens)
    ids[0, :n_tokens:K] = 2
    return {"token_ids": ids, "padding_mask": (ids != 0).astype("int32")}


def _probabilities(model, n_tokens):
    import keras

    x = _padded(n_tokens, model.backbone.max_segments, model.backbone.segment_length)
    return np.asarray(keras.ops.softmax(model(x, training=False)))


def _copies(model):
    """The 8-segment model and its 16- and 32-segment copies (shared weights), as `extend-context` makes them."""
    from hat_keras.context import extend_context

    return [model] + [extend_context(model, n) for n in (16, 32)]


@pytest.mark.parametrize("pooling", hat_keras.models.POOLINGS)
def test_compact_answer_does_not_depend_on_padding(pooling):
    """A short document (2 segments and 5 tokens) and a full one (8 segments) through 8-, 16- and 32-segment
    copies of one compact classifier: the same probabilities, whatever the padding."""
    copies = _copies(_classifier(8, compact=True, pooling=pooling))
    assert [c.backbone.max_segments for c in copies] == [8, 16, 32] and all(c.backbone.compact for c in copies)
    K = copies[0].backbone.segment_length
    for n_tokens in (2 * K + 5, 8 * K):
        reference = _probabilities(copies[0], n_tokens)
        for copy in copies[1:]:
            np.testing.assert_allclose(_probabilities(copy, n_tokens), reference, atol=1e-6,
                                       err_msg=f"{pooling}, {n_tokens} tokens, {copy.backbone.max_segments} segments")


@pytest.mark.parametrize("pooling", ["max", "attentive", "last"])
def test_default_answer_depends_on_padding(pooling):
    """The same check fails for the checkpoint-faithful default (padded segments enter max, attentive and last
    pooling; `first` reads token 0 only), so the compact test can fail."""
    copies = _copies(_classifier(8, compact=False, pooling=pooling))
    K = copies[0].backbone.segment_length
    moved = max(float(np.abs(_probabilities(c, n) - _probabilities(copies[0], n)).max())
                for c in copies[1:] for n in (2 * K + 5, 8 * K))
    assert moved > 1e-3, moved


def test_compact_key_in_config_json(tmp_path):
    """save_pretrained writes `"compact": true`; load and extend-context keep it; `compact=False` overrides
    it; a config without the key (every released checkpoint) loads with upstream pooling."""
    import json

    from hat_keras.context import extend_checkpoint

    model = _classifier(8, compact=True)
    hat_keras.save_pretrained(model, tmp_path / "c8")
    assert json.loads((tmp_path / "c8" / "config.json").read_text())["compact"] is True
    loaded = hat_keras.load(tmp_path / "c8")
    assert loaded.backbone.compact
    extend_checkpoint(str(tmp_path / "c8"), str(tmp_path / "c32"), 32)
    extended = hat_keras.load(tmp_path / "c32")
    assert extended.backbone.compact and extended.backbone.max_segments == 32
    np.testing.assert_allclose(_probabilities(extended, 37), _probabilities(model, 37), atol=1e-6)
    assert not hat_keras.load(tmp_path / "c8", compact=False).backbone.compact
    hat_keras.save_pretrained(make_compact(loaded, False), tmp_path / "plain")
    config = json.loads((tmp_path / "plain" / "config.json").read_text())
    assert "compact" not in config and not hat_keras.load(tmp_path / "plain").backbone.compact
    config["compact"] = "yes"
    (tmp_path / "plain" / "config.json").write_text(json.dumps(config))
    with pytest.raises(hat_keras.HATConfigError, match="config field 'compact' must be true or false, got 'yes'"):
        hat_keras.load(tmp_path / "plain")


def test_released_configs_are_not_compact(fixtures_dir):
    config = hat_keras.HATConfig.from_pretrained(fixtures_dir / "tiny-e2" / "mlm")
    assert "compact" not in config.to_dict() and config.compact is False
    assert config.backbone_kwargs()["compact"] is False


def test_compact_tflite_export_pools_as_the_keras_model(tmp_path):
    """The pooling mask is in the exported graph: a compact classifier's TFLite export gives the `.keras`
    model's probabilities on a short document padded to max_segments, and those differ from the same
    weights' default (padding-dependent) pooling."""
    import keras

    from hat_keras.exporting import export_model
    from hat_keras.predict import Classifier
    from hat_keras.runtime import BucketedLiteRT
    from training_helpers import write_tiny_hat

    folder = write_tiny_hat(str(tmp_path / "hat"))
    model = hat_keras.load(folder, task="text_classifier", num_labels=3, compact=True, new_head=True)
    kernel = model.output_dense.kernel
    kernel.assign(np.random.default_rng(0).normal(0, 1, tuple(kernel.shape)).astype("float32"))  # a decisive head
    model.save(tmp_path / "compact.keras")
    short = "alpha beta gamma . delta epsilon zeta ."  # one segment of four
    report = export_model(str(tmp_path / "compact.keras"), str(tmp_path / "tflite"), "tflite",
                          tokenizer=folder, sample_texts=[short], log=lambda *_: None)
    assert report["geometry"]["compact"] is True
    tflite = next((tmp_path / "tflite").rglob("*.tflite"))
    assert report["bucket_signatures"] == ["segments_1", "segments_2", "serving_default"]
    keras_clf = Classifier.load(tmp_path / "compact.keras")
    expected = keras_clf(short)[1]
    np.testing.assert_allclose(Classifier.load(tflite)(short)[1], expected, atol=1e-5)
    # each document runs on its bucket's signature, and every bucket answers as the Keras model
    runner = BucketedLiteRT(tflite)
    texts = [short, " ".join([short] * 3), " ".join([short] * 4)]  # 1, 2 and 3 (of 4) segments
    enc = keras_clf.reader.encode(texts)
    assert [runner.signature_for(m[None])[0] for m in enc["padding_mask"]] == ["segments_1", "segments_2",
                                                                                 "serving_default"]
    np.testing.assert_allclose(Classifier.load(tflite)(texts)[1], keras_clf(texts)[1], atol=1e-5)
    saved = export_model(str(tmp_path / "compact.keras"), str(tmp_path / "sm"), "saved_model", tokenizer=folder,
                         sample_texts=texts, log=lambda *_: None)
    np.testing.assert_allclose(Classifier.load(saved["artifact_path"])(texts)[1], keras_clf(texts)[1], atol=1e-5)
    default = make_compact(model, False)
    x = model.preprocessor.tokenizer([short])
    assert np.abs(np.asarray(keras.ops.softmax(default(x))) - expected).max() > 1e-3
