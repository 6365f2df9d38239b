"""`training_report.json` in the output folder: which backend and how many devices a run trained on, and the
training loss of every step, kept across resumes (a resumed run rewrites the steps it repeats).

Keras reports at each batch end the *running mean* of the loss since the interval began (batches have one
size, so the mean is unweighted). The loss of the steps since the last report is recovered from two
consecutive means: n * mean_n - m * mean_m over the n - m steps in between; with `steps_per_execution` > 1
Keras reports once per execution, so an entry is then the mean over those steps.
"""
import json
import logging
import os

import keras
import tensorflow as tf

logger = logging.getLogger("hat_keras")

REPORT = "training_report.json"


def describe_strategy(strategy):
    """{"backend", "strategy", "devices", "platform", "device_kind", "processes"} of a tf.distribute strategy or
    a keras.distribution one (JAX)."""
    if hasattr(strategy, "describe"):
        return strategy.describe()
    from hat_keras.training.strategy import num_workers

    try:
        devices = list(getattr(strategy.extended, "worker_devices", ()) or ())
    except RuntimeError:  # the default strategy has no worker devices
        devices = []
    platform = tf.DeviceSpec.from_string(devices[0]).device_type if devices else None
    if platform is None:
        platform = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
    return {"backend": keras.config.backend(), "strategy": type(strategy).__name__,
            "devices": int(strategy.num_replicas_in_sync), "platform": platform.lower(), "device_kind": platform,
            "processes": num_workers(strategy)}


def announce(info, global_batch):
    """The line a run prints first: backend, device count, batch split."""
    n = info["devices"]
    logger.info("training on %d %s device%s (%s backend, %s): global batch %d = %d per device", n,
                info["platform"], "" if n == 1 else "s", info["backend"], info["strategy"], global_batch,
                global_batch // max(n, 1))


class TrainingReport(keras.callbacks.Callback):
    """Writes `training_report.json` at every interval end and at the end of training (chief only):
    run facts (`info`) plus `step_losses`: [[global step, loss], ...] in step order."""

    def __init__(self, path, info, enabled=True):
        super().__init__()
        self.path, self.info, self.enabled = path, dict(info), enabled
        self.step_losses = []
        self._fresh = True
        if enabled and tf.io.gfile.exists(path):
            try:
                with tf.io.gfile.GFile(path) as f:
                    self.step_losses = [list(e) for e in json.load(f).get("step_losses", [])]
            except (ValueError, TypeError):
                logger.warning("%s: unreadable; starting a new report", path)

    def on_epoch_begin(self, epoch, logs=None):
        self._first_step = epoch * int(self.params.get("steps") or 0)
        self._seen, self._total = 0, 0.0
        if self._fresh:  # a resumed run: forget what the killed run logged after its last checkpoint
            self.step_losses = [e for e in self.step_losses if e[0] <= self._first_step]
            self._fresh = False

    def on_train_batch_end(self, batch, logs=None):
        if not logs or "loss" not in logs:
            return
        n = int(batch) + 1
        total = float(logs["loss"]) * n
        if n > self._seen:
            self.step_losses.append([self._first_step + n, (total - self._total) / (n - self._seen)])
            self._seen, self._total = n, total

    def on_epoch_end(self, epoch, logs=None):
        self.write()

    def on_train_end(self, logs=None):
        self.write()

    def write(self, **extra):
        if not self.enabled:
            return
        self.info.update(extra)
        report = {**self.info, "steps": self.step_losses[-1][0] if self.step_losses else 0,
                  "step_losses": self.step_losses}
        tmp = self.path + ".tmp"
        with tf.io.gfile.GFile(tmp, "w") as f:
            f.write(json.dumps(report, indent=1))
        tf.io.gfile.rename(tmp, self.path, overwrite=True)


def report_path(output_dir):
    return os.path.join(output_dir, REPORT)
