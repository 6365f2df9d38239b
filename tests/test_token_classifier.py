"""HATTokenClassifier: per-token logits = dense(sequence_output); label -100 is ignored by the loss."""
import numpy as np

from hat_keras import HATTokenClassifier

from harness import run_task_test, tiny_backbone, tiny_inputs


def test_token_classifier(tmp_path):
    model = HATTokenClassifier(tiny_backbone(), 3)
    x = tiny_inputs(batch=4)
    labels = np.random.default_rng(0).integers(0, 3, (4, 24)).astype("int32")
    labels[:, -4:] = -100
    run_task_test(model, (x, labels), (4, 24, 3), tmp_path)
    h = np.asarray(model.backbone(x)["sequence_output"], np.float64)
    w, b = (np.asarray(v, np.float64) for v in model.output_dense.weights)
    logits = h @ w + b
    np.testing.assert_allclose(np.asarray(model(x)), logits, atol=1e-5)
    keep = labels != -100
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    want = -np.take_along_axis(logp, np.where(keep, labels, 0)[..., None], -1)[..., 0][keep].mean()
    np.testing.assert_allclose(float(model.default_loss()(labels, logits.astype("float32"))), want, rtol=1e-5)
