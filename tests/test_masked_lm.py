"""HATMaskedLM: masked-LM logits at the chosen positions = LayerNorm(gelu(dense(h))) @ E^T + b (numpy)."""
import numpy as np

from hat_keras import HATMaskedLM, HATMaskedLMPreprocessor, compat
from hat_keras.models.masked_lm import all_positions

import numpy_reference as ref
from harness import TINY_TEXTS, TINY_VOCAB, run_task_test, tiny_backbone, tiny_tokenizer


def test_masked_lm(tmp_path):
    preprocessor = HATMaskedLMPreprocessor(tiny_tokenizer(), mask_selection_length=4)
    assert HATMaskedLM.preprocessor_cls is HATMaskedLMPreprocessor
    x, y, w = preprocessor(TINY_TEXTS)  # masking is random: fix one draw, then train and predict on it
    model = HATMaskedLM(tiny_backbone())
    run_task_test(model, (x, y, w), (4, 4, len(TINY_VOCAB)), tmp_path)
    full = {**x, "mask_positions": all_positions(x["token_ids"])}
    encoder_inputs = {k: x[k] for k in ("token_ids", "padding_mask", "segment_ids")}
    h = np.asarray(model.backbone(encoder_inputs)["sequence_output"], np.float64)
    dense, norm, bias = compat.masked_lm_head_parts(model.masked_lm_head)
    bias = np.asarray(bias)
    wd, bd = (np.asarray(v, np.float64) for v in dense.weights)
    z = h @ wd + bd
    z = ref.layer_norm(0.5 * z * (1 + ref.erf(z / np.sqrt(2))), norm, model.backbone.layer_norm_epsilon)
    want = z @ np.asarray(model.backbone.token_embedding.embeddings, np.float64).T + bias
    np.testing.assert_allclose(np.asarray(model(full)), want, atol=5e-5)
