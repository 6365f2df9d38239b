"""HATLayer (S, D and SD) against the numpy reference: segment-wise, then cross-segment attention."""
import keras
import numpy as np
import pytest

from hat_keras.layers import HATAttentionBias, HATLayer

import numpy_reference as ref
from harness import run_layer_test


@pytest.mark.parametrize("kind", ["S", "D", "SD"])
def test_hat_layer(kind):
    K, N, H = 4, 3, 16
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, N * K, H)).astype("float32")
    mask = np.ones((2, N * K), "int32")
    mask[0, 6:] = 0  # second segment half padded, third segment empty
    seg_bias, doc_bias, positions = HATAttentionBias(K)(mask)
    kwargs = dict(sentence_encoder="S" in kind, document_encoder="D" in kind, hidden_dim=H, num_heads=2,
                  intermediate_dim=24, segment_length=K, max_segments=N)
    inputs = {"x": x, "segment_bias": seg_bias, "document_bias": doc_bias, "segment_positions": positions}
    layer = run_layer_test(HATLayer, kwargs, inputs, (2, N * K, H), expected_num_trainable_weights=12 * len(kind),
                           mixed_input_data={**inputs, "x": keras.ops.cast(x, "bfloat16")})  # biases stay float32
    want = ref.hat_layer(x.astype(np.float64), mask, layer)
    got = np.asarray(layer(**inputs))
    real = mask.astype(bool)  # padded positions are not read by anything downstream
    np.testing.assert_allclose(got[real], want[real], atol=3e-5)
    firsts = np.asarray(layer(**inputs, first_only=True))
    np.testing.assert_allclose(firsts, got.reshape(2, N, K, H)[:, :, 0], atol=3e-5)
