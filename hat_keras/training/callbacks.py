"""Callbacks for resumable, observable training: backup/restore at checkpoint intervals, TensorBoard,
throughput, and the best model as `.keras`.

Training runs in "intervals": `fit` sees an endless dataset with `steps_per_epoch` = the checkpoint
interval, so Keras' epoch-level `BackupAndRestore` saves every N steps and a killed run resumes exactly
at its last checkpoint (weights, optimizer state and step), with the input skipped to the same place.
"""
import importlib.util
import json
import logging
import os
import time

import keras
import tensorflow as tf

from hat_keras.training.strategy import is_chief, worker_id

logger = logging.getLogger("hat_keras")


class IntervalBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` at every interval end. Non-chief workers keep their own copy (identical under
    synchronous training) so workers never write the same file."""

    def __init__(self, backup_dir, strategy=None):
        if not is_chief(strategy):
            backup_dir = os.path.join(backup_dir, f"worker_{worker_id(strategy)}")
        # Created here (mkdir -p): Keras checks, then creates without exist_ok, which races when a non-chief
        # worker creates the shared parent of its own folder at the same moment.
        tf.io.gfile.makedirs(backup_dir)
        super().__init__(backup_dir, save_freq="epoch", double_checkpoint=True, delete_checkpoint=False)


def completed_intervals(backup_dir, strategy=None):
    """Intervals a previous run finished (0 for a fresh run): read before building the input pipeline."""
    if not is_chief(strategy):
        backup_dir = os.path.join(backup_dir, f"worker_{worker_id(strategy)}")
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        path = os.path.join(backup_dir, name)
        if tf.io.gfile.exists(path):
            try:
                with tf.io.gfile.GFile(path) as f:
                    return int(json.load(f)["epoch"])
            except (ValueError, KeyError):
                continue
    return 0


class Throughput(keras.callbacks.Callback):
    """Logs `tokens_per_second` (sequence positions, padding included) and `examples_per_second` per
    interval, from wall time between interval begin and end."""

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
        rate = {"examples_per_second": examples / seconds,
                "tokens_per_second": examples * self.sequence_length / seconds}
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
                       global_batch_size=None, sequence_length=None):
    """Backup/resume, TensorBoard, throughput, train_state.json and the best `.keras` (chief only)."""
    callbacks = [IntervalBackup(os.path.join(output_dir, "backup"), strategy)]
    if global_batch_size and sequence_length:
        callbacks.append(Throughput(global_batch_size, sequence_length))
    callbacks.append(TrainState(os.path.join(output_dir, "train_state.json"), strategy))
    if is_chief(strategy):
        if tensorboard and importlib.util.find_spec("tensorboard") is None:
            logger.warning("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)")
        elif tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(os.path.join(output_dir, "logs"), update_freq="epoch"))
        callbacks.append(keras.callbacks.ModelCheckpoint(os.path.join(output_dir, "best.keras"), monitor=monitor,
                                                         mode=mode, save_best_only=True, verbose=0))
    return callbacks
