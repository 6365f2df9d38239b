"""HATTextClassifier: raw text in (its own preprocessor), the head against numpy, default metrics."""
import numpy as np
import pytest

from hat_keras import HATTextClassifier, HATTextClassifierPreprocessor

from harness import TINY_TEXTS, run_task_test, tiny_backbone, tiny_inputs, tiny_tokenizer


def test_text_classifier(tmp_path):
    model = HATTextClassifier(tiny_backbone(), 3, preprocessor=HATTextClassifierPreprocessor(tiny_tokenizer()))
    assert HATTextClassifier.preprocessor_cls is HATTextClassifierPreprocessor
    run_task_test(model, (TINY_TEXTS, [0, 1, 2, 1]), (4, 3), tmp_path)
    x = tiny_inputs()
    segments = np.asarray(model.backbone(x)["segment_output"], np.float64)
    w, b = (np.asarray(v, np.float64) for v in model.pooler.dense.weights)
    wo, bo = (np.asarray(v, np.float64) for v in model.output_dense.weights)
    want = np.tanh(segments.max(axis=1) @ w + b) @ wo + bo  # max pooling, tanh(dense), logits
    np.testing.assert_allclose(np.asarray(model(x)), want, atol=1e-5)


@pytest.mark.parametrize("average", ["micro", "macro"])
def test_default_multi_label_metrics_threshold_probabilities_at_half(average):
    """F1 of sigmoid(logits) > 0.5 (logit > 0), against numpy."""
    model = HATTextClassifier(tiny_backbone(), 4, problem_type="multi_label_classification")
    metric = next(m for m in model.default_metrics() if m.name == f"{average}_f1")
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=2.0, size=(64, 4)).astype("float32")
    labels = (rng.random((64, 4)) < 0.4).astype("float32")
    metric.update_state(labels, logits)
    pred = 1 / (1 + np.exp(-logits)) > 0.5
    tp, fp, fn = ((pred & (labels > 0)).sum(0), (pred & (labels == 0)).sum(0), (~pred & (labels > 0)).sum(0))
    f1 = (2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum()) if average == "micro"
          else np.mean(2 * tp / np.maximum(2 * tp + fp + fn, 1)))
    np.testing.assert_allclose(float(metric.result()), f1, rtol=1e-5)
