"""HATTransformerBlock against the numpy BERT layer, full and first-token-only."""
import keras
import numpy as np

from hat_keras.layers import HATTransformerBlock

import numpy_reference as ref
from harness import run_layer_test


def test_transformer_block():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 16)).astype("float32")
    bias = np.zeros((2, 1, 1, 6), "float32")
    bias[1, ..., 4:] = np.finfo("float32").min  # two masked keys
    kwargs = {"hidden_dim": 16, "num_heads": 4, "intermediate_dim": 24}
    layer = run_layer_test(HATTransformerBlock, kwargs, (x, bias), (2, 6, 16), expected_num_trainable_weights=12,
                           mixed_input_data=(keras.ops.cast(x, "bfloat16"), bias))  # the bias stays float32
    want = ref.block(x.astype(np.float64), bias.astype(np.float64), layer)
    np.testing.assert_allclose(np.asarray(layer(x, bias)), want, atol=2e-5)
    np.testing.assert_allclose(np.asarray(layer(x, bias, first_only=True)), want[:, :1], atol=2e-5)
