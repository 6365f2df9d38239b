"""Compact models train and evaluate on batches bucketed by real segment count: every document lands once
in the smallest bucket holding it, evaluation still counts every document exactly, and a run whose
documents share one bucket trains the weights the full-length run trains."""
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from hat_keras.training import TrainArgs, finetune_classifier
from hat_keras.training.data import bucket_batches
from test_training_numbers import numpy_cross_entropy
from training_helpers import K, N, doc, write_tiny_hat


def _examples(lengths):
    """Documents of `lengths` real tokens at full width N*K, labelled by their index."""
    ids = np.zeros((len(lengths), N * K), "int32")
    for i, n in enumerate(lengths):
        ids[i, :n] = 7
    x = {"token_ids": ids, "padding_mask": (ids > 0).astype("int32")}
    return tf.data.Dataset.from_tensor_slices((x, np.arange(len(lengths)), np.ones(len(lengths), "float32")))


@pytest.mark.parametrize("drop", [True, False])
def test_every_document_lands_once_in_its_bucket(drop):
    lengths = [3, 40, 17, 16, 64, 1, 33, 20, 5, 50, 18]
    expected_bucket = {i: [1, 2, 4, 4][(n - 1) // K] for i, n in enumerate(lengths)}  # 1, 2, 4 segments of K
    seen = []
    for x, label, weight in bucket_batches(_examples(lengths), 2, K, [1, 2, 4], drop_remainder=drop):
        width = x["token_ids"].shape[1]
        assert x["token_ids"].shape == (2, width) and x["padding_mask"].shape == (2, width)
        real = [int(i) for i, w in zip(label.numpy(), weight.numpy()) if w > 0]
        assert all(expected_bucket[i] * K == width for i in real)
        assert all(x["padding_mask"][r].numpy().sum() == lengths[i] for r, i in enumerate(real))
        seen += real
    if drop:  # training: a partial batch waits for the next epoch's documents
        assert len(seen) == len(set(seen)) and len(seen) >= len(lengths) - 3
    else:  # evaluation: every document once, padded rows weigh 0
        assert sorted(seen) == list(range(len(lengths)))


def _write(path, n_words, seed):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i, n in enumerate(n_words):
            f.write(json.dumps({"text": doc(rng, i % 2, n), "label": ["no", "yes"][i % 2]}) + "\n")
    return path


def _train(root, name, train, evaluation, **kw):
    args = TrainArgs(output_dir=os.path.join(root, name), train_data=[train], eval_data=[evaluation],
                     model=os.path.join(root, "hat"), batch_size=3, eval_batch_size=3, max_steps=4,
                     checkpoint_every=4, learning_rate=1e-3, tensorboard=False, verbose=0, seed=1, compact=True, **kw)
    return finetune_classifier(args)


def test_bucketed_training_is_exact(tmp_path):
    root = str(tmp_path)
    write_tiny_hat(os.path.join(root, "hat"), initializer_range=0.2)
    # every training document fills 2 of the 4 segments (a sentence each): bucketing only halves the length
    same = _write(os.path.join(root, "train.jsonl"), [16] * 12, seed=0)
    mixed = _write(os.path.join(root, "eval.jsonl"), [8, 48, 16, 40, 8, 24, 48], seed=5)
    bucketed = _train(root, "bucketed", same, mixed)
    full = _train(root, "full", same, mixed, bucketing=False)
    for a, b in zip(bucketed.model.weights, full.model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=2e-5, err_msg=a.path)
    # val_loss over mixed-length documents in bucketed, padded batches is the mean over the 7 real ones
    rows = [json.loads(line) for line in open(mixed)]
    logits = np.asarray(bucketed.model.predict([r["text"] for r in rows], verbose=0))
    labels = np.array([bucketed.model.label_names.index(r["label"]) for r in rows])
    assert bucketed.eval_results["loss"] == pytest.approx(numpy_cross_entropy(logits, labels), rel=1e-5)
    assert bucketed.history["val_loss"][-1] == pytest.approx(full.history["val_loss"][-1], rel=1e-4)
    record = json.load(open(os.path.join(root, "bucketed", "run.json")))
    assert record.get("bucketing") is True


def bucketed_jax_run(root):
    """Bucketed training and evaluation on Keras-JAX (run in a subprocess with two virtual devices)."""
    import keras

    write_tiny_hat(os.path.join(root, "hat"), initializer_range=0.2)
    same = _write(os.path.join(root, "train.jsonl"), [16] * 12, seed=0)
    mixed = _write(os.path.join(root, "eval.jsonl"), [8, 48, 16, 40, 8, 24, 48], seed=5)
    result = _train(root, "jax", same, mixed)
    keras.distribution.set_distribution(None)  # predict 7 documents on one device
    rows = [json.loads(line) for line in open(mixed)]
    logits = np.asarray(result.model.predict([r["text"] for r in rows], verbose=0))
    labels = np.array([result.model.label_names.index(r["label"]) for r in rows])
    return {"eval_loss": result.eval_results["loss"], "numpy": numpy_cross_entropy(logits, labels)}


def test_bucketed_training_on_jax_two_devices(tmp_path):
    pytest.importorskip("jax")
    here = os.path.dirname(os.path.abspath(__file__))
    code = (f"import json, sys; sys.path[:0] = [{here!r}]; from test_bucketing import bucketed_jax_run; "
            f"print('RESULT', json.dumps(bucketed_jax_run({str(tmp_path)!r})))")
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "PYTHONPATH": os.path.dirname(here)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT ")[-1])
    assert out["eval_loss"] == pytest.approx(out["numpy"], rel=1e-5)
