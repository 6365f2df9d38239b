"""HATSequentialSentenceClassifier: one prediction per segment; padded segments (-1) do not count."""
import numpy as np

from hat_keras import HATSequentialSentenceClassifier
from hat_keras.models.heads import MaskedBinaryCrossentropy

from harness import run_task_test, tiny_backbone, tiny_inputs


def test_sequential_sentence_classifier(tmp_path):
    model = HATSequentialSentenceClassifier(tiny_backbone(), 2)
    x = tiny_inputs(batch=4)
    labels = np.array([[[1, 0], [0, 1], [-1, -1]]] * 4, "float32")
    run_task_test(model, (x, labels), (4, 3, 2), tmp_path)
    segments = np.asarray(model.backbone(x)["segment_output"], np.float64)
    ws, bs = (np.asarray(v, np.float64) for v in model.sentencizer.weights)
    wo, bo = (np.asarray(v, np.float64) for v in model.output_dense.weights)
    logits = np.tanh(segments @ ws + bs) @ wo + bo
    np.testing.assert_allclose(np.asarray(model(x)), logits, atol=1e-5)
    # the default loss: BCE on logits over the real segments only
    p = 1 / (1 + np.exp(-logits[:, :2]))
    t = labels[:, :2]
    want = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(-1).sum() / 8
    assert isinstance(model.default_loss(), MaskedBinaryCrossentropy)
    np.testing.assert_allclose(float(model.default_loss()(labels, logits.astype("float32"))), want, rtol=1e-5)
