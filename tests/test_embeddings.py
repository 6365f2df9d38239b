"""PaddingAwareEmbedding: a lookup whose padding row gets no gradient (PyTorch's padding_idx), tied reverse."""
import numpy as np
import tensorflow as tf

from hat_keras.layers import PaddingAwareEmbedding

from harness import run_layer_test


def test_padding_row_gets_no_lookup_gradient():
    ids = np.array([[0, 3, 3, 1]], "int32")
    layer = run_layer_test(PaddingAwareEmbedding, {"input_dim": 5, "output_dim": 4, "padding_idx": 0}, ids,
                           (1, 4, 4), expected_num_trainable_weights=1, run_mixed_precision_check=False)
    table = np.asarray(layer.embeddings)
    np.testing.assert_array_equal(np.asarray(layer(ids)), table[ids])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(ids))
    grad = tf.convert_to_tensor(tape.gradient(loss, layer.embeddings)).numpy()
    np.testing.assert_array_equal(grad.sum(axis=1), [0, 4, 0, 8, 0])  # row 3 looked up twice; pad row none
    hidden = np.ones((1, 2, 4), "float32")
    np.testing.assert_allclose(np.asarray(layer(hidden, reverse=True)), hidden @ table.T, atol=1e-6)
