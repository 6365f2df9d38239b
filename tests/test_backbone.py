"""HATBackbone: keras-hub backbone checks, and its outputs against the numpy reference of every layer."""
import numpy as np

from hat_keras import HATBackbone

import numpy_reference as ref
from harness import TINY_BACKBONE, run_backbone_test, tiny_inputs


def _numpy_backbone(backbone, x):
    ids, mask = x["token_ids"], x["padding_mask"]
    K = backbone.segment_length
    pos = np.where(ids != backbone.pad_token_id, np.arange(ids.shape[1]) % K + backbone.pad_token_id + 1, 0)
    h = (np.asarray(backbone.token_embedding.embeddings, np.float64)[ids]
         + np.asarray(backbone.segment_embedding.embeddings, np.float64)[0]
         + np.asarray(backbone.position_embedding.embeddings, np.float64)[pos])
    h = ref.layer_norm(h, backbone.embeddings_layer_norm, backbone.layer_norm_epsilon)
    for layer in backbone.hat_layers:
        h = ref.hat_layer(h, mask, layer)
    return h


def test_backbone(tmp_path):
    x = tiny_inputs()
    backbone = run_backbone_test(
        HATBackbone, TINY_BACKBONE, x, {"sequence_output": (2, 24, 16), "segment_output": (2, 3, 16)},
        variable_length_data=[tiny_inputs(segments=1), tiny_inputs(segments=2)], tmp_path=tmp_path)
    out = backbone(x)
    want = _numpy_backbone(backbone, x)
    real = x["padding_mask"].astype(bool)
    np.testing.assert_allclose(np.asarray(out["sequence_output"])[real], want[real], atol=5e-5)
    np.testing.assert_allclose(np.asarray(out["segment_output"]), want[:, ::8], atol=5e-5)
