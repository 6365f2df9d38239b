"""Segment contributions (`hat_keras.explain`) against numpy computed from the backbone's segment states and
the pooler's weights; the logits are the model's own."""
import numpy as np
import pytest

from harness import head_model
from hat_keras.explain import classify_with_contributions


def documents(rng):
    ids = rng.integers(1, 1000, (3, 128)).astype("int32")
    mask = np.ones_like(ids)
    ids[:, ::32] = 101
    ids[1, 40:], mask[1, 40:] = 0, 0  # two padded segments: identical states, a tie on every feature
    ids[2, 5:32], mask[2, 5:32] = 0, 0
    return {"token_ids": ids, "padding_mask": mask}


def numpy_reference(model, x):
    states = np.asarray(model.backbone(x)["segment_output"], np.float64)  # (B, N, H)
    pooling = model.pooler.pooling
    if pooling == "max":
        top = states == states.max(axis=1, keepdims=True)
        return (top / top.sum(axis=1, keepdims=True)).mean(axis=2)
    if pooling == "attentive":
        w, b = (np.asarray(v, np.float64) for v in model.pooler.lin_proj.weights)
        v = np.asarray(model.pooler.v.weights[0], np.float64)
        scores = np.tanh((states @ w + b) @ v)[..., 0]
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    one_hot = np.zeros(states.shape[:2])
    one_hot[:, 0 if pooling == "first" else -1] = 1
    return one_hot


@pytest.mark.parametrize("head", ["seqcls-max", "seqcls-attentive", "seqcls-first", "seqcls-last"])
def test_contributions_follow_the_pooling(fixtures_dir, head):
    model = head_model(fixtures_dir, "tiny-e2", head)
    x = documents(np.random.default_rng(0))
    logits, contributions = classify_with_contributions(model, x)
    np.testing.assert_array_equal(np.asarray(logits), np.asarray(model(x)))
    c = np.asarray(contributions)
    assert c.shape == (3, 4) and c.dtype == np.float32
    np.testing.assert_allclose(c.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(c, numpy_reference(model, x), atol=1e-6)
    if head == "seqcls-max":
        assert c[1, 2] == c[1, 3] > 0  # tied padded segments share their features equally
