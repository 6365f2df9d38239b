"""Callbacks for resumable, observable training: backup/restore at checkpoint intervals, TensorBoard,
throughput, and the best model as `.keras`.

Training runs in "intervals": `fit` sees an endless dataset with `steps_per_epoch` = the checkpoint
interval, so `IntervalCheckpoint` saves every N steps. A rerun restores the newest committed checkpoint
(weights, optimizer state and global step) before its input pipeline is built, then skips exactly the
examples of the restored global step and starts `fit` at that step's interval.
"""
import importlib.util
import json
import logging
import os
import time

import keras
import numpy as np
import tensorflow as tf

from hat_keras.training.strategy import is_chief, worker_id

logger = logging.getLogger("hat_keras")


CHECKPOINT_PREFIX = "step-"
LEGACY_FILES = ("latest.weights.h5", "training_metadata.json")  # BackupAndRestore's, from earlier versions
KEEP_CHECKPOINTS = 2  # the newest and the one before (if the newest cannot be read, the run resumes from it)


class ResumeError(ValueError):
    """A checkpoint that cannot be restored into this run; the message names the files."""


def worker_backup_dir(backup_dir, strategy=None):
    """The chief checkpoints into `backup_dir`, other workers into their own sub-folder (identical under
    synchronous training), so that workers never write the same file."""
    if not is_chief(strategy):
        return os.path.join(backup_dir, f"worker_{worker_id(strategy)}")
    return backup_dir


def write_atomically(save, path):
    """`save(tmp)` into a temporary file beside `path` (same suffix, which Keras checks), then rename it
    over `path`: a full disk or a kill never leaves a half-written model where a whole one is expected.
    A failed write is removed and named in one line; an earlier `path` is kept."""
    stem, suffix = (path[:-len(".weights.h5")], ".weights.h5") if path.endswith(".weights.h5") else \
        os.path.splitext(path)
    tmp = f"{stem}.partial-{os.getpid()}{suffix}"
    try:
        save(tmp)
        tf.io.gfile.rename(tmp, path, overwrite=True)
    except BaseException as e:
        if tf.io.gfile.exists(tmp):
            tf.io.gfile.remove(tmp)
        if isinstance(e, (OSError, tf.errors.OpError)):
            reason = getattr(e, "strerror", None) or str(e).strip().splitlines()[0]
            kept = " (the earlier one is kept)" if tf.io.gfile.exists(path) else ""
            raise OSError(f"{path}: cannot be written: {reason}{kept}") from e
        raise


def _paths(folder, step):
    stem = os.path.join(folder, f"{CHECKPOINT_PREFIX}{int(step):09d}")
    return stem + ".weights.h5", stem + ".json"


def checkpoint_records(folder):
    """Committed checkpoints in `folder`, newest first: [(record, weights path)]. A checkpoint counts once
    its `.json` is written, which happens after its weights file is complete."""
    out = []
    for path in tf.io.gfile.glob(os.path.join(folder, CHECKPOINT_PREFIX + "*.json")):
        try:
            with tf.io.gfile.GFile(path) as f:
                record = json.load(f)
            weights = _paths(folder, record["step"])[0]
        except (ValueError, KeyError, TypeError):
            continue
        if tf.io.gfile.exists(weights):
            out.append((record, weights))
    return sorted(out, key=lambda r: -int(r[0]["step"]))


def saved_step(backup_dir, strategy=None):
    """The global step of the newest committed checkpoint (0 when there is none)."""
    records = checkpoint_records(worker_backup_dir(backup_dir, strategy))
    return int(records[0][0]["step"]) if records else 0


def clear_checkpoints(folder):
    """Remove this worker's checkpoint files (and an earlier version's) from `folder`."""
    if not tf.io.gfile.isdir(folder):
        return
    for name in tf.io.gfile.listdir(folder):
        if name.startswith(CHECKPOINT_PREFIX) or name.split(".bkp")[0] in LEGACY_FILES:
            tf.io.gfile.remove(os.path.join(folder, name))


def restore_checkpoint(model, backup_dir, strategy=None):
    """Load the newest committed checkpoint that reads (weights, optimizer state and step) into a compiled
    model, before the input pipeline is built. Returns its record ({"step", "interval", ...}) or None."""
    folder = worker_backup_dir(backup_dir, strategy)
    failures = []
    for record, weights in checkpoint_records(folder):
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        try:
            model.load_weights(weights)
        except (OSError, ValueError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            logger.warning("%s: cannot be restored (%s); trying the checkpoint before it", weights, first)
            failures.append(f"{weights}: {first}")
            continue
        step = int(model.optimizer.iterations.numpy())
        if step != int(record["step"]):
            raise ResumeError(f"{weights}: holds global step {step} but its record says {record['step']}")
        return record
    if failures:
        raise ResumeError("no checkpoint could be restored: " + "; ".join(failures))
    return None


class IntervalCheckpoint(keras.callbacks.Callback):
    """At every interval end: weights and optimizer state to `step-N.weights.h5`, then the commit record
    `step-N.json` (global step, interval, the best monitored value so far); older checkpoints beyond the
    newest two, and any a killed run left unfinished, are removed. A kill at any moment leaves the last
    committed checkpoint intact."""

    def __init__(self, backup_dir, strategy=None, interval=None, best_of=None, history=None):
        super().__init__()
        self.folder = worker_backup_dir(backup_dir, strategy)
        tf.io.gfile.makedirs(self.folder)  # mkdir -p (workers create the shared parent at the same time)
        self.interval = interval
        self.best_of = best_of  # the ModelCheckpoint whose `best` a resumed run continues from
        # Per-interval logs of the whole run (a resumed run starts from the restored record's).
        self.history = {k: list(v) for k, v in (history or {}).items()}

    def on_epoch_end(self, epoch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        for k, v in (logs or {}).items():
            if _is_number(v):
                self.history.setdefault(k, []).append(float(v))
        weights, record_path = _paths(self.folder, step)
        write_atomically(lambda tmp: self.model.save_weights(tmp, overwrite=True), weights)
        record = {"step": step, "interval": self.interval, "intervals_done": epoch + 1, "history": self.history}
        best = getattr(self.best_of, "best", None)
        if best is not None and _is_number(best) and abs(float(best)) != float("inf"):
            record["best"] = float(best)
        tmp = f"{record_path}.tmp"
        with tf.io.gfile.GFile(tmp, "w") as f:
            f.write(json.dumps(record))
        tf.io.gfile.rename(tmp, record_path, overwrite=True)
        self._prune(step)

    def _prune(self, newest):
        keep = {int(r["step"]) for r, _ in checkpoint_records(self.folder)[:KEEP_CHECKPOINTS]} | {newest}
        for name in tf.io.gfile.listdir(self.folder):
            if not name.startswith(CHECKPOINT_PREFIX):
                continue
            try:
                step = int(name[len(CHECKPOINT_PREFIX):].split(".")[0])
            except ValueError:
                continue
            if step not in keep or name.endswith(".tmp") or ".partial-" in name:
                tf.io.gfile.remove(os.path.join(self.folder, name))


class BestModel(keras.callbacks.Callback):
    """The best model so far (by `monitor`) as `.keras`, written atomically (Keras' ModelCheckpoint writes
    the zip in place, so a full disk or a kill mid-write leaves a file that is not a zip). `best` is the best
    value so far; a resumed run starts from the restored one. A monitor the logs lack is an error."""

    def __init__(self, path, monitor, mode="min", initial_value=None):
        super().__init__()
        self.path, self.monitor = path, monitor
        self.better = (lambda a, b: a < b) if mode == "min" else (lambda a, b: a > b)
        self.best = initial_value if initial_value is not None else (float("inf") if mode == "min"
                                                                     else -float("inf"))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(f"monitor={self.monitor!r} (--monitor) is not a logged metric; logged: "
                             + ", ".join(sorted(k for k in logs if _is_number(logs[k]))))
        value = float(logs[self.monitor])
        if self.better(value, self.best):
            write_atomically(self.model.save, self.path)
            self.best = value


class DropoutStreams(keras.callbacks.Callback):
    """Each interval draws its dropout masks from a stream fixed by the generator's starting state (set by
    `--seed`) and the interval's index. The generators' states are not in the checkpointed weights, so
    without this a resumed run would restart them and draw other masks than the uninterrupted run."""

    def on_train_begin(self, logs=None):
        weights = {id(v) for v in self.model.non_trainable_weights}
        self._starts = [(v, int(v.numpy()[0])) for v in self.model.non_trainable_variables
                        if id(v) not in weights and v.path.endswith("seed_generator_state")]

    def on_epoch_begin(self, epoch, logs=None):
        for state, start in self._starts:
            state.assign(np.array([(start + 1_000_003 * int(epoch)) % 2**31, 0], dtype=state.dtype))


class Throughput(keras.callbacks.Callback):
    """Logs `examples_per_second` and `tokens_per_second` (sequence positions, padding included; not for
    bucketed batches, `sequence_length=None`, whose length varies) per interval, from wall time between
    interval begin and end."""

    def __init__(self, global_batch_size, sequence_length):
        super().__init__()
        self.global_batch_size = global_batch_size
        self.sequence_length = sequence_length
        self.history = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        examples = self._steps * self.global_batch_size
        rate = {"examples_per_second": examples / seconds}
        if self.sequence_length:
            rate["tokens_per_second"] = examples * self.sequence_length / seconds
        self.history.append({"interval": epoch, "steps": self._steps, "seconds": seconds, **rate})
        if logs is not None:
            logs.update(rate)


class TrainState(keras.callbacks.Callback):
    """Writes `train_state.json` (global step, interval, last logs) after each interval: a cheap way for
    scripts and tests to see where a run is."""

    def __init__(self, path, strategy=None):
        super().__init__()
        self.path = path
        self.enabled = is_chief(strategy)

    def on_epoch_end(self, epoch, logs=None):
        if not self.enabled:
            return
        state = {"step": int(self.model.optimizer.iterations.numpy()), "interval": epoch + 1,
                 "logs": {k: float(v) for k, v in (logs or {}).items() if _is_number(v)}}
        tmp = self.path + ".tmp"
        with tf.io.gfile.GFile(tmp, "w") as f:
            f.write(json.dumps(state, indent=1))
        tf.io.gfile.rename(tmp, self.path, overwrite=True)


def _is_number(v):
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def standard_callbacks(output_dir, strategy=None, monitor="loss", mode="auto", tensorboard=True,
                       global_batch_size=None, sequence_length=None, interval=None, resumed=None):
    """Throughput, TensorBoard and the best `.keras` (chief only), then the interval checkpoint (which
    records the best value so far) and train_state.json. `resumed`: the restored checkpoint's record."""
    callbacks, best = [DropoutStreams()], None
    if global_batch_size:
        callbacks.append(Throughput(global_batch_size, sequence_length))
    if is_chief(strategy):
        if tensorboard and importlib.util.find_spec("tensorboard") is None:
            logger.warning("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)")
        elif tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(os.path.join(output_dir, "logs"), update_freq="epoch"))
        best = BestModel(os.path.join(output_dir, "best.keras"), monitor, mode, (resumed or {}).get("best"))
        callbacks.append(best)
    callbacks.append(IntervalCheckpoint(os.path.join(output_dir, "backup"), strategy, interval, best_of=best,
                                        history=(resumed or {}).get("history")))
    callbacks.append(TrainState(os.path.join(output_dir, "train_state.json"), strategy))
    return callbacks
