"""HATPooler against numpy: max / first / last / attentive pooling, then tanh(dense)."""
import numpy as np
import pytest

from hat_keras.layers import HATPooler

from harness import run_layer_test


def _numpy_pool(pooler, x):
    if pooler.pooling == "first":
        z = x[:, 0]
    elif pooler.pooling == "last":
        z = x[:, -1]
    elif pooler.pooling == "max":
        z = x.max(axis=1)
    else:
        w1, b1 = (np.asarray(v) for v in pooler.lin_proj.weights)
        v = np.asarray(pooler.v.kernel)
        scores = np.tanh((x @ w1 + b1) @ v)  # (B, N, 1)
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        z = (p / p.sum(axis=1, keepdims=True) * x).sum(axis=1)
    w, b = (np.asarray(v) for v in pooler.dense.weights)
    return np.tanh(z @ w + b)


@pytest.mark.parametrize("pooling", ["max", "first", "last", "attentive"])
def test_pooler(pooling):
    x = np.random.default_rng(0).normal(size=(2, 3, 8)).astype("float32")
    pooler = run_layer_test(HATPooler, {"hidden_dim": 8, "pooling": pooling, "segment_length": 4}, x, (2, 8),
                            expected_num_trainable_weights=5 if pooling == "attentive" else 2)
    np.testing.assert_allclose(np.asarray(pooler(x)), _numpy_pool(pooler, x), atol=1e-5)


def test_unknown_pooling_is_refused():
    with pytest.raises(ValueError, match="pooling='mean'"):
        HATPooler(8, "mean")
