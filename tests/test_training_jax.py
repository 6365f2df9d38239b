"""Training on the Keras JAX backend with keras.distribution.DataParallel over two virtual CPU devices.

Each run is a subprocess with KERAS_BACKEND=jax and XLA_FLAGS=--xla_force_host_platform_device_count=2 (the
test process itself runs the TensorFlow backend, and JAX fixes its devices at start-up). References: a
one-device run with the same global batch and seed, each device's copy of every variable, the TensorFlow
backend reloading what JAX trained (and the reverse), and an uninterrupted run's step count.
"""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from training_helpers import write_jsonl, write_tiny_hat

pytest.importorskip("jax")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
JOB = os.path.join(HERE, "train_tiny_job.py")


def jax_env(devices=2):
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2",
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
           "PYTHONPATH": HERE + os.pathsep + ROOT}
    env.pop("TF_CONFIG", None)
    return env


def _result(stdout):
    line = [l for l in stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def _finish(proc, timeout=600):
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-4000:]
    return out


def test_jax_data_parallel_two_devices_equals_one_device(tmp_path):
    """Two devices (global batch 4 = 2 + 2) vs one device (global batch 4), same seed and masks: loss falls,
    the devices hold bit-identical copies, both runs end with the same weights, the report names backend and
    devices, and the TensorFlow backend reloads best.keras with the same outputs."""
    common = ["--max-steps", "20", "--checkpoint-every", "10", "--deterministic"]
    runs = {}
    for name, flags in (("two", ["--strategy", "data_parallel", "--batch-size", "2"]),
                        ("one", ["--strategy", "one_device", "--batch-size", "4"])):
        out = tmp_path / name
        runs[name] = (out, subprocess.Popen(
            [sys.executable, JOB, "--out", str(out), *common, *flags, "--weights-out", str(tmp_path / f"{name}.npz"),
             "--outputs-out", str(tmp_path / f"{name}_outputs.npz")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=jax_env(2)))
    results = {name: _result(_finish(proc)) for name, (_, proc) in runs.items()}
    two, one = results["two"], results["one"]

    assert two["backend"] == one["backend"] == "jax"
    assert (two["replicas"], one["replicas"]) == (2, 1) and two["steps"] == one["steps"] == 20
    assert two["copies_per_variable"] == [2] and two["variables_differing_across_devices"] == 0
    assert two["loss"][-1] < two["loss"][0] - 0.3, two["loss"]
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-5)
    w2, w1 = np.load(tmp_path / "two.npz"), np.load(tmp_path / "one.npz")
    assert len(w2.files) == len(w1.files) > 10
    for k in w2.files:
        np.testing.assert_allclose(w2[k], w1[k], rtol=1e-4, atol=1e-5, err_msg=k)

    report = json.loads((tmp_path / "two" / "training_report.json").read_text())
    assert (report["backend"], report["devices"], report["platform"], report["global_batch_size"]) == \
        ("jax", 2, "cpu", 4)
    steps = [s for s, _ in report["step_losses"]]
    assert steps == list(range(1, 21)) and report["steps"] == 20
    # the per-step losses average to the interval losses Keras logged
    losses = np.array([l for _, l in report["step_losses"]])
    np.testing.assert_allclose([losses[:10].mean(), losses[10:].mean()], two["loss"], rtol=1e-4)

    # JAX -> TensorFlow: the same logits from best.keras (the final weights: the loss only fell)
    import keras

    import hat_keras  # noqa: F401  (registers the classes)

    ref = np.load(tmp_path / "two_outputs.npz")
    model = keras.saving.load_model(tmp_path / "two" / "best.keras", compile=False)
    x = {k: ref[k] for k in ("token_ids", "padding_mask", "mask_positions")}
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), ref["logits"], atol=2e-5)


def test_tensorflow_trained_model_loads_under_jax(tmp_path):
    """TensorFlow -> JAX: a classifier fitted here (TF backend) and saved as .keras gives the same logits in a
    JAX process."""
    import keras

    import hat_keras as h
    from training_helpers import tiny_backbone_kwargs

    keras.utils.set_random_seed(0)
    model = h.HATTextClassifier(h.HATBackbone(**tiny_backbone_kwargs(vocabulary_size=70)), num_classes=3)
    rng = np.random.RandomState(1)
    ids = rng.randint(5, 70, size=(8, 64)).astype("int32")
    ids[:, ::16] = 2
    x = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, rng.randint(0, 3, 8), batch_size=4, epochs=2, verbose=0)  # weights away from initialisation
    path = str(tmp_path / "tf.keras")
    model.save(path)
    expected = keras.ops.convert_to_numpy(model(x))
    np.savez(tmp_path / "x.npz", **x)
    code = f"""
import json, numpy as np, keras
import hat_keras
assert keras.config.backend() == "jax"
x = dict(np.load({str(tmp_path / 'x.npz')!r}))
model = keras.saving.load_model({path!r}, compile=False)
np.save({str(tmp_path / 'jax_logits.npy')!r}, keras.ops.convert_to_numpy(model(x)))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=jax_env(1),
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    np.testing.assert_allclose(np.load(tmp_path / "jax_logits.npy"), expected, atol=2e-5)


def _cli(out, model, train, evaluate, total, interval):
    return [sys.executable, "-m", "hat_keras.cli", "train", "text_classifier", str(model), "--train", str(train),
            "--eval", str(evaluate), "-o", str(out), "--max-steps", str(total), "--checkpoint-every",
            str(interval), "--batch-size", "2", "--precision", "mixed_bfloat16", "--learning-rate", "1e-3",
            "--progress", "lines", "--json"]


def test_jax_cli_classify_sigkill_resumes_and_tf_predicts(tmp_path):
    """`hat-keras train classify` under JAX on text (tokenized in tf.data), bf16, two devices: killed after its
    first checkpoint, the same command resumes and ends at the uninterrupted step count; TensorBoard logs,
    the HF folder and a best.keras that the TensorFlow backend runs on raw text."""
    model = write_tiny_hat(str(tmp_path / "hat"))
    train, evaluate = write_jsonl(tmp_path / "train.jsonl", 24), write_jsonl(tmp_path / "eval.jsonl", 6, seed=1)
    out, total, interval = tmp_path / "run", 15, 5
    cmd = _cli(out, model, train, evaluate, total, interval)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=jax_env(2),
                            cwd=ROOT)
    state, killed_at = out / "train_state.json", None
    try:
        deadline = time.time() + 540
        while time.time() < deadline and proc.poll() is None:
            if state.exists():
                try:
                    step = json.loads(state.read_text())["step"]
                except (ValueError, KeyError):
                    step = 0
                if interval <= step < total:
                    os.kill(proc.pid, signal.SIGKILL)
                    killed_at = step
                    break
            time.sleep(0.05)
    finally:
        if proc.poll() is None and killed_at is None:
            proc.kill()
        first = proc.communicate(timeout=60)[0]
    assert killed_at is not None, "the run finished or stalled before it could be killed:\n" + first[-3000:]
    assert proc.returncode == -signal.SIGKILL
    assert "training on 2 cpu devices (jax backend" in first, first[-3000:]

    resumed = subprocess.run(cmd, capture_output=True, text=True, env=jax_env(2), cwd=ROOT, timeout=600)
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-4000:]
    assert "training on 2 cpu devices (jax backend" in log and "resuming at step" in log, log[-3000:]
    assert json.loads(resumed.stdout)["steps"] == total
    report = json.loads((out / "training_report.json").read_text())
    assert report["devices"] == 2 and report["dtype_policy"] == "mixed_bfloat16"
    assert [s for s, _ in report["step_losses"]] == list(range(1, total + 1))  # no step lost or counted twice
    assert list((out / "logs" / "train").glob("events.out.tfevents.*"))
    assert (out / "hf" / "model.safetensors").exists() and (out / "hf" / "vocab.txt").exists()

    # best.keras (trained under JAX) on raw text under TensorFlow, against the HF folder written beside it
    import hat_keras
    from hat_keras.predict import Classifier

    texts = [json.loads(l)["text"] for l in open(evaluate)]
    clf = Classifier.load(out / "best.keras")
    labels, probs = clf(texts)
    assert clf.labels == ["no", "yes"] and set(labels) <= {"no", "yes"}
    hf = hat_keras.load(out / "hf")
    logits = np.asarray(hf.predict(texts, verbose=0), "float32")
    ref = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(probs, ref / ref.sum(-1, keepdims=True), atol=2e-2)  # bf16 activations
