"""Training numbers that quality claims rest on: val_loss is the exact mean cross-entropy over the real
evaluation documents however the last batch is padded (numpy reference, TensorFlow and Keras-JAX on two
devices), and out-of-range settings are refused before anything is read."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from hat_keras.training import TrainArgs, finetune_classifier
from training_helpers import write_jsonl, write_tiny_hat

HERE = os.path.dirname(os.path.abspath(__file__))


def numpy_cross_entropy(logits, labels):
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def padded_eval_run(root):
    """7 evaluation documents in batches of 3 (global 3 x replicas): the last batch is mostly padding."""
    model = write_tiny_hat(os.path.join(root, "hat"))
    train = write_jsonl(os.path.join(root, "train.jsonl"), 12)
    evaluation = write_jsonl(os.path.join(root, "eval.jsonl"), 7, seed=5)
    args = TrainArgs(output_dir=os.path.join(root, "out"), train_data=[train], eval_data=[evaluation], model=model,
                     batch_size=3, eval_batch_size=3, max_steps=2, checkpoint_every=2, learning_rate=1e-3,
                     tensorboard=False, verbose=0, seed=1)
    result = finetune_classifier(args)
    if keras.config.backend() == "jax":
        keras.distribution.set_distribution(None)  # predict 7 documents on one device
    rows = [json.loads(line) for line in open(evaluation)]
    logits = np.asarray(result.model.predict([r["text"] for r in rows], verbose=0))
    labels = np.array([result.model.label_names.index(r["label"]) for r in rows])
    return {"val_loss": result.history["val_loss"][-1], "eval_loss": result.eval_results["loss"],
            "numpy": numpy_cross_entropy(logits, labels)}


def test_val_loss_is_the_mean_over_real_documents_on_tensorflow(tmp_path):
    out = padded_eval_run(str(tmp_path))
    assert out["val_loss"] == pytest.approx(out["numpy"], rel=1e-5)
    assert out["eval_loss"] == pytest.approx(out["numpy"], rel=1e-5)


def test_val_loss_is_the_mean_over_real_documents_on_jax_two_devices(tmp_path):
    pytest.importorskip("jax")
    code = (f"import json, sys; sys.path[:0] = [{HERE!r}]; from test_training_numbers import padded_eval_run; "
            f"print('RESULT', json.dumps(padded_eval_run({str(tmp_path)!r})))")
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "PYTHONPATH": os.path.dirname(HERE)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT ")[-1])
    assert out["val_loss"] == pytest.approx(out["numpy"], rel=1e-5)
    assert out["eval_loss"] == pytest.approx(out["numpy"], rel=1e-5)


@pytest.mark.parametrize("field, value, message", [
    ("max_steps", 0, "max_steps=0 (--max-steps): must be an integer >= 1"),
    ("learning_rate", -1.0, "learning_rate=-1.0 (--learning-rate): must be a number > 0"),
    ("batch_size", 0, "batch_size=0 (--batch-size): must be an integer >= 1"),
    ("eval_batch_size", -2, "eval_batch_size=-2 (--eval-batch-size): must be an integer >= 1"),
    ("warmup_ratio", 1.5, "warmup_ratio=1.5 (--warmup-ratio): must be a number in [0, 1]"),
    ("epochs", float("nan"), "epochs=nan (--epochs): must be a number > 0"),
])
def test_out_of_range_settings_are_refused_before_anything_is_written(tmp_path, field, value, message):
    args = TrainArgs(output_dir=str(tmp_path / "out"), train_data=[str(tmp_path / "missing.jsonl")],
                     model=str(tmp_path / "missing"), **{field: value})
    with pytest.raises(ValueError) as e:
        finetune_classifier(args)
    assert str(e.value) == message
    assert not (tmp_path / "out").exists()
