"""Compact mode: trailing padded segments can be dropped without changing any output; default unchanged."""
import numpy as np
import pytest

import hat_keras
from hat_keras.inference import CompiledForward, make_compact, real_segments, trim_segments

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
    assert x["token_ids"].shape == (2, 12)
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
