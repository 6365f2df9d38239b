"""`.keras` archive export: the Keras model itself, verified by reloading it."""
import os
import time

import numpy as np

from hat_keras.exporting.verify import TOLERANCES, verified_export
from hat_keras.loading import load


def eager_latencies(model, samples):
    """Seconds per document, one at a time after one warm-up call (also the benchmark's Keras baseline)."""
    model(samples.inputs(0), training=False)
    secs = []
    for i in range(len(samples)):
        t = time.perf_counter()
        model(samples.inputs(i), training=False)
        secs.append(time.perf_counter() - t)
    return secs


def export_keras(source, out_dir, samples=None, tolerance=None, log=print):
    import keras
    tolerance = dict(tolerance or TOLERANCES[None])
    artifact = "model.keras"

    def write(tmp):
        source.model.save(os.path.join(tmp, artifact))
        return {}

    def run(path, samples):
        model = load(path)
        full = np.asarray(model(samples.inputs(), training=False), np.float32)
        return full, eager_latencies(model, samples), {"runtime": f"keras {keras.__version__} (eager)"}

    return verified_export(out_dir, artifact, write, run, source, samples, tolerance, "keras", log=log)
