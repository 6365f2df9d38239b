"""Eager, tf.function and XLA inference agree; one compiled function per input shape."""
import numpy as np
import pytest

import hat_keras
from hat_keras.inference import CompiledForward, compiled_forward, predict

from harness import assert_close, batch, head_model, refs


@pytest.fixture(scope="module")
def classifier(fixtures_dir):
    return head_model(fixtures_dir, "tiny-e2", "seqcls-max"), refs(fixtures_dir, "tiny-e2")


@pytest.mark.parametrize("jit", [False, True, "auto"])
def test_compiled_matches_eager_and_fixture(classifier, jit):
    model, r = classifier
    x = batch(r, "a")
    eager = np.asarray(model(x, training=False))
    compiled = np.asarray(CompiledForward(model, jit_compile=jit)(x))
    np.testing.assert_allclose(compiled, eager, atol=1e-5, rtol=1e-5)
    assert_close(compiled, r["a_seqcls_max_logits"])


def test_backbone_xla_matches_fixture(fixtures_dir):
    mlm = hat_keras.from_pretrained(fixtures_dir / "tiny-e2" / "mlm")
    r = refs(fixtures_dir, "tiny-e2")
    out = predict(mlm.backbone, batch(r, "a"), jit_compile=True)
    assert_close(out["sequence_output"], r["a_last_hidden_state"])


def test_one_function_per_shape(classifier):
    model, r = classifier
    forward = compiled_forward(model, jit_compile=False)
    assert compiled_forward(model, jit_compile=False) is forward
    x = batch(r, "a")
    K = model.backbone.segment_length
    for n in (1, 2, 1, 2):
        forward({k: v[:, :n * K] for k, v in x.items()})
    assert forward.num_compiled == 2


def test_chunk_sizes():
    from hat_keras.inference import chunk_sizes

    assert chunk_sizes(8, 2) == [2, 2, 2, 2]
    assert chunk_sizes(5, 2) == [2, 2, 1]
    assert chunk_sizes(3, 2) == [1, 1, 1]
    assert chunk_sizes(1, 2) == [1]
    assert chunk_sizes(8, 1) == [8]


@pytest.mark.parametrize("prefix", ["a", "b"])
def test_concurrent_chunks_match_fixture(classifier, prefix):
    """A batch split over concurrent calls gives the batched call's logits, in order (4 docs: 2+2; 3: 1+1+1)."""
    model, r = classifier
    x = batch(r, prefix)
    split = CompiledForward(model, workers=2)
    whole = CompiledForward(model, workers=1)
    out = np.asarray(split(x))
    # XLA may pick a different summation order per batch size, so chunks agree to float rounding, not bits
    np.testing.assert_allclose(out, np.asarray(whole(x)), atol=5e-6, rtol=1e-5)
    assert_close(out, r[f"{prefix}_seqcls_max_logits"])
    assert split.num_compiled == 1 and whole.num_compiled == 1


def test_concurrent_chunks_backbone_and_multiple_choice(fixtures_dir):
    mlm = hat_keras.from_pretrained(fixtures_dir / "tiny-e2" / "mlm")
    r = refs(fixtures_dir, "tiny-e2")
    out = predict(mlm.backbone, batch(r, "a"), workers=2)
    assert_close(out["sequence_output"], r["a_last_hidden_state"])
    assert_close(out["segment_output"], r["a_last_hidden_state"][:, ::mlm.backbone.segment_length])
    mc = head_model(fixtures_dir, "tiny-e2", "multiplechoice")
    x = {"token_ids": r["mc_input_ids"].astype("int32"), "padding_mask": r["mc_attention_mask"].astype("int32")}
    assert_close(predict(mc, x, workers=2), r["mc_logits_at_minus_L"])  # see test_parity.test_heads
