"""HATAttentionBias and HATPositionIds against their closed forms (spec §2.2-2.3)."""
import numpy as np

from hat_keras.layers import MASK_VALUE, HATAttentionBias, HATPositionIds

from harness import run_layer_test


def test_attention_bias():
    mask = np.array([[1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0]], "int32")  # segments of K=4: partial, full, empty
    layer = run_layer_test(HATAttentionBias, {"segment_length": 4}, mask, ((3, 1, 1, 4), (1, 1, 1, 3), (1, 3)),
                           run_mixed_precision_check=False, run_training_check=False)
    seg, doc, pos = (np.asarray(t) for t in layer(mask))
    np.testing.assert_array_equal(seg.reshape(-1), (1 - mask.reshape(-1)) * np.float32(MASK_VALUE))
    np.testing.assert_array_equal(doc.reshape(-1), np.array([0, 0, 1]) * np.float32(MASK_VALUE))
    np.testing.assert_array_equal(pos, [[1, 2, 0]])


def test_position_ids_restart_in_every_segment():
    ids = np.array([[5, 6, 7, 0, 8, 9, 0, 0]], "int32")
    layer = run_layer_test(HATPositionIds, {"segment_length": 4, "max_segments": 2, "pad_token_id": 0}, ids,
                           (1, 8), run_mixed_precision_check=False, run_training_check=False)
    want = np.tile(np.arange(1, 5), 2)  # upstream's position_ids buffer: pad + 1 .. K + pad, per segment
    np.testing.assert_array_equal(np.asarray(layer(ids))[0], np.where(ids[0] == 0, 0, want))
