"""HATMultipleChoice: each choice encoded alone; scores (B, C) equal the one-choice-at-a-time head."""
import numpy as np

from hat_keras import HATMultipleChoice, HATMultipleChoicePreprocessor

from harness import TINY_TEXTS, run_task_test, tiny_backbone, tiny_tokenizer


def test_multiple_choice(tmp_path):
    pre = HATMultipleChoicePreprocessor(tiny_tokenizer())
    model = HATMultipleChoice(tiny_backbone(), preprocessor=pre)
    assert HATMultipleChoice.preprocessor_cls is HATMultipleChoicePreprocessor
    choices = [[TINY_TEXTS[0], TINY_TEXTS[1]], [TINY_TEXTS[2], TINY_TEXTS[3]]]
    run_task_test(model, (choices, [1, 0]), (2, 2), tmp_path)
    x = pre(choices)
    flat = {k: v.reshape(4, -1) for k, v in x.items()}
    segments = np.asarray(model.backbone(flat)["segment_output"], np.float64)
    w, b = (np.asarray(v, np.float64) for v in model.pooler.dense.weights)
    wo, bo = (np.asarray(v, np.float64) for v in model.output_dense.weights)
    want = (np.tanh(segments[:, -1] @ w + b) @ wo + bo).reshape(2, 2)  # `last` pooling by default
    np.testing.assert_allclose(np.asarray(model(x)), want, atol=1e-5)
