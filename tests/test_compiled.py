"""Eager, tf.function and XLA inference agree; one compiled function per input shape."""
import numpy as np
import pytest

import hat_keras
from hat_keras.inference import CompiledForward, compiled_forward, predict

from harness import assert_close, batch, head_model, refs


@pytest.fixture(scope="module")
def classifier(fixtures_dir):
    return head_model(fixtures_dir, "tiny-e2", "seqcls-max"), refs(fixtures_dir, "tiny-e2")


@pytest.mark.parametrize("jit", [False, True, "auto"])
def test_compiled_matches_eager_and_fixture(classifier, jit):
    model, r = classifier
    x = batch(r, "a")
    eager = np.asarray(model(x, training=False))
    compiled = np.asarray(CompiledForward(model, jit_compile=jit)(x))
    np.testing.assert_allclose(compiled, eager, atol=1e-5, rtol=1e-5)
    assert_close(compiled, r["a_seqcls_max_logits"])


def test_backbone_xla_matches_fixture(fixtures_dir):
    mlm = hat_keras.from_pretrained(fixtures_dir / "tiny-e2" / "mlm")
    r = refs(fixtures_dir, "tiny-e2")
    out = predict(mlm.backbone, batch(r, "a"), jit_compile=True)
    assert_close(out["sequence_output"], r["a_last_hidden_state"])


def test_one_function_per_shape(classifier):
    model, r = classifier
    forward = compiled_forward(model, jit_compile=False)
    assert compiled_forward(model, jit_compile=False) is forward
    x = batch(r, "a")
    K = model.backbone.segment_length
    for n in (1, 2, 1, 2):
        forward({k: v[:, :n * K] for k, v in x.items()})
    assert forward.num_compiled == 2
