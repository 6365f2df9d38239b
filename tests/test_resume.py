"""Resuming training: a rerun continues exactly from the step its newest checkpoint holds, or refuses with
one line naming each changed setting; `--overwrite` starts fresh. Tiny HAT, a few steps per run."""
import errno
import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from hat_keras.training import TrainArgs, finetune_classifier
from hat_keras.training import callbacks as cb
from hat_keras.training import run_record
from hat_keras.training.run_record import RECORD_NAME, ResumeError
from training_helpers import write_jsonl, write_tiny_hat

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    model = write_tiny_hat(str(root / "hat"), dropout=0.1)  # dropout: the run's random masks must repeat too
    other = write_tiny_hat(str(root / "other_hat"), seed=1, dropout=0.1)  # same architecture, other weights
    data = write_jsonl(root / "train.jsonl", 24)
    return root, model, other, data


def _args(out, model_dir, data, **kw):
    base = dict(output_dir=str(out), train_data=[str(data)], model=model_dir, batch_size=4, max_steps=10,
                checkpoint_every=2, learning_rate=1e-3, tensorboard=False, verbose=0, seed=3)
    return TrainArgs(**{**base, **kw})


class StopAt(keras.callbacks.Callback):
    """Simulates a kill in the middle of an interval (after the checkpoint of the interval before)."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == self.step:
            raise KeyboardInterrupt(f"stopped at step {self.step}")


def _train(args, **kw):
    return finetune_classifier(args, **kw)


def _listing(folder):
    return sorted((os.path.relpath(os.path.join(d, f), folder), os.path.getsize(os.path.join(d, f)))
                  for d, _, fs in os.walk(folder) for f in fs)


def test_interrupted_run_resumes_exactly(setup):
    """Killed at step 7 (checkpoint at 6): the rerun restores step 6, skips exactly 6 batches of data, draws
    the same dropout masks and ends with the weights of an uninterrupted run (bit for bit), at step 10, with
    the whole run's history. A second uninterrupted run with the same seed (the new head initialised from it)
    ends with the same weights; another seed does not."""
    root, model, _, data = setup
    with pytest.raises(KeyboardInterrupt):
        _train(_args(root / "a", model, data), extra_callbacks=[StopAt(7)])
    assert cb.saved_step(str(root / "a" / "backup")) == 6
    resumed = _train(_args(root / "a", model, data))
    straight = _train(_args(root / "b", model, data))
    again = _train(_args(root / "b2", model, data))
    assert resumed.steps == straight.steps == 10
    for a, b, c in zip(resumed.model.weights, straight.model.weights, again.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
        np.testing.assert_array_equal(c.numpy(), b.numpy(), err_msg=a.path)
    assert len(resumed.history["loss"]) == 5
    assert resumed.history["loss"] == straight.history["loss"]
    other_seed = _train(_args(root / "b3", model, data, seed=4, max_steps=2))
    assert other_seed.history["loss"][0] != straight.history["loss"][0]
    # only the newest two committed checkpoints are kept
    assert sorted(os.listdir(root / "a" / "backup")) == [
        "step-000000008.json", "step-000000008.weights.h5", "step-000000010.json", "step-000000010.weights.h5"]
    results = json.loads((root / "a" / "results.json").read_text())
    assert results["steps"] == 10 and len(results["history"]["loss"]) == 5

    # The reported case on the command line: this run at step 10 with interval 2, rerun with
    # --max-steps 24 --checkpoint-every 4 (it trained 4 steps, to step 14, from the data of step 20).
    cli = [sys.executable, "-m", "hat_keras.cli", "train", "text_classifier", model, "--train", str(data),
           "-o", str(root / "b"), "--batch-size", "4", "--learning-rate", "1e-3", "--seed", "3",
           "--no-tensorboard", "--quiet", "--max-steps", "24", "--checkpoint-every", "4"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": os.path.dirname(HERE)}
    again = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 1, again.stderr[-2000:]
    err = [line for line in again.stderr.splitlines() if "error" in line.lower()]
    assert len(err) == 1 and err[0].startswith("hat-keras train: error: "), again.stderr[-2000:]
    assert "checkpoint interval (--checkpoint-every) 2 -> 4; total steps (--max-steps / --epochs) 10 -> 24" in err[0]
    assert json.loads((root / "b" / "train_state.json").read_text())["step"] == 10


def test_changed_settings_are_refused_and_overwrite_starts_fresh(setup, tmp_path):
    """Batch size, interval and step count, seed, model weights, data: each change is refused in one line
    that names it and how to start fresh, and touches nothing; --overwrite then trains from step 0."""
    root, model, other, _ = setup
    data = write_jsonl(tmp_path / "train.jsonl", 24)
    out = tmp_path / "out"
    _train(_args(out, model, data, max_steps=4))
    before = _listing(out)
    for change, message in [
            ({"batch_size": 8}, "batch size (--batch-size x replicas) 4 -> 8"),
            ({"checkpoint_every": 4, "max_steps": 24},
             "checkpoint interval (--checkpoint-every) 2 -> 4; total steps (--max-steps / --epochs) 4 -> 24"),
            ({"seed": 4}, "seed (--seed) 3 -> 4"),
            ({"model": other}, f"model (--model): checkpoint {os.path.abspath(model)}")]:
        with pytest.raises(ResumeError) as e:
            _train(_args(out, model, data, **{"max_steps": 4, **change}))
        text = str(e.value)
        assert message in text and "--overwrite" in text and "--output folder" in text and "\n" not in text, text
        assert _listing(out) == before  # a refusal touches nothing
    with open(data, "a") as f:
        f.write(json.dumps({"text": "alpha beta", "label": "yes"}) + "\n")
    with pytest.raises(ResumeError, match=r"training data \(--train\): .*train.jsonl changed \(size \d+ -> \d+\)"):
        _train(_args(out, model, data, max_steps=4))
    fresh = _train(_args(out, model, data, max_steps=4, overwrite=True))
    assert fresh.steps == 4 and len(fresh.history["loss"]) == 2
    record = json.loads((out / RECORD_NAME).read_text())
    assert record["training_data"][str(data)]["size"] == os.path.getsize(data)


def test_same_bytes_at_another_path_resume(setup, tmp_path):
    """Run records compare model and data by content: the run resumes from copies at other paths."""
    root, model, _, data = setup
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        _train(_args(out, model, data, max_steps=4), extra_callbacks=[StopAt(3)])
    moved_model, moved_data = tmp_path / "moved_hat", tmp_path / "moved.jsonl"
    shutil.copytree(model, moved_model)
    shutil.copy(data, moved_data)
    with open(moved_data, "a") as f:
        f.write(json.dumps({"text": "alpha", "label": "yes"}) + "\n")
    with pytest.raises(ResumeError, match=r"training data \(--train\): added .*moved.jsonl; removed .*train.jsonl"):
        _train(_args(out, str(moved_model), moved_data, max_steps=4))
    shutil.copy(data, moved_data)
    assert _train(_args(out, str(moved_model), moved_data, max_steps=4)).steps == 4


def test_a_second_run_into_a_locked_folder_is_refused(setup, tmp_path):
    root, model, _, data = setup
    with run_record.locked(str(tmp_path / "out")):
        with pytest.raises(ResumeError) as e:
            _train(_args(tmp_path / "out", model, data, max_steps=2))
    assert str(e.value) == (f"{tmp_path / 'out'}: another training run (pid {os.getpid()}) is writing this "
                            "folder; wait for it to end, or train into another --output folder")
    assert _train(_args(tmp_path / "out", model, data, max_steps=2)).steps == 2  # released


def test_a_failed_write_keeps_the_earlier_best_model(tmp_path):
    """A full disk during `best.keras`: the earlier file stays whole, no partial file is left, and the
    error names the path and the reason."""
    best = tmp_path / "best.keras"
    best.write_bytes(b"earlier best")

    def full_disk(path):
        with open(path, "wb") as f:
            f.write(b"PK half a zip")
        raise OSError(errno.ENOSPC, "No space left on device")

    callback = cb.BestModel(str(best), "val_loss", "min")
    callback.set_model(type("Model", (), {"save": staticmethod(full_disk)})())
    with pytest.raises(OSError) as e:
        callback.on_epoch_end(0, {"val_loss": 0.5})
    assert str(e.value) == f"{best}: cannot be written: No space left on device (the earlier one is kept)"
    assert best.read_bytes() == b"earlier best" and os.listdir(tmp_path) == ["best.keras"]
    assert callback.best == float("inf")  # not taken as saved
    with pytest.raises(ValueError, match=r"monitor='val_f1' \(--monitor\) is not a logged metric; logged: loss"):
        cb.BestModel(str(best), "val_f1", "max").on_epoch_end(0, {"loss": 0.3})


def test_compact_fine_tuning_is_recorded_and_compared(setup, tmp_path):
    """`compact=True` (--compact) on a non-compact folder trains a compact classifier: best.keras and hf/ keep
    it; a rerun without it is another architecture and is refused, naming --compact."""
    import hat_keras

    root, model, _, data = setup
    out = tmp_path / "out"
    result = _train(_args(out, model, data, max_steps=2, compact=True))
    assert result.model.backbone.compact
    assert json.loads((out / RECORD_NAME).read_text())["model"]["compact"] is True
    assert hat_keras.load(out / "best.keras").backbone.compact
    assert json.loads((out / "hf" / "config.json").read_text())["compact"] is True
    with pytest.raises(ResumeError, match=r"model \(--model\): compact True -> False \(--compact\)"):
        _train(_args(out, model, data, max_steps=2))
    from hat_keras.training import train
    with pytest.raises(ValueError, match=r"compact=True \(--compact\): masked_lm has no pooled head"):
        train("masked_lm", _args(tmp_path / "mlm", model, data, compact=True))
    assert not (tmp_path / "mlm").exists()  # refused before anything is written
