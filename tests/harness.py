"""Shared test harness (in the spirit of keras-hub's test_case.py): fixture loading and model checks."""
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np

from hat_keras import HATConfig, read_state_dict
from hat_keras.convert import build_model, load_state_dict
from hat_keras.convert.hf import TASK_NAMES

TINY = ("tiny-e2", "tiny-s1", "tiny-l1", "tiny-b2", "tiny-adhoc")
HEAD_TASK = {"HATForSequenceClassification": "text_classifier", "HATForMultipleChoice": "multiple_choice",
             "HATModelForSequentialSentenceClassification": "sequential_sentence_classifier"}
ATOL = RTOL = 1e-5


def refs(fixtures, name):
    return np.load(fixtures / name / "refs.npz")


def batch(r, prefix, token_types=None):
    """Model inputs (int32) from a fixture batch; token types only where the reference passed them."""
    x = {"token_ids": r[f"{prefix}_input_ids"].astype("int32"),
         "padding_mask": r[f"{prefix}_attention_mask"].astype("int32")}
    if token_types:
        x["segment_ids"] = r[f"{prefix}_token_type_ids"].astype("int32")
    return x


def head_model(fixtures, name, head):
    """Rebuild a fixture head model: ../mlm encoder + head.safetensors (fixture README §2)."""
    folder = fixtures / name / head
    meta = json.loads((folder / "head.json").read_text())
    config = HATConfig.from_pretrained(folder)
    if meta.get("full_checkpoint"):
        state = read_state_dict(folder)
    else:
        state = {k: v for k, v in read_state_dict(fixtures / name / "mlm").items() if k.startswith("hi_transformer.")}
        state.update(read_state_dict(folder / "head.safetensors"))
    model = build_model(config, TASK_NAMES[HEAD_TASK[meta["cls"]]], pooling=meta["pooling"])
    report = load_state_dict(model, state, source=str(folder), config=config)
    assert not report.initialized, report.initialized
    return model


def assert_close(actual, expected, atol=ATOL, rtol=RTOL, what=""):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, atol=atol, rtol=rtol, err_msg=what)


def run_fresh_python(code, timeout=600):
    """Run code in a new interpreter (e.g. load a .keras file importing only hat_keras)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


@keras.saving.register_keras_serializable(package="hat_keras_tests")
class LayerHolder(keras.Model):
    """A minimal model that carries a preprocessing layer through `.keras` saving, as a task does."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer

    def call(self, x):
        return x

    def get_config(self):
        return {**super().get_config(), "layer": keras.layers.serialize(self.layer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = keras.layers.deserialize(config["layer"])
        return cls(**config)
