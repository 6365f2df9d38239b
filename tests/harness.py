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
    model = build_model(config, HEAD_TASK[meta["cls"]], pooling=meta["pooling"])
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


# ---- keras-hub style checks (cf. keras_hub's TestCase): one call per public layer, backbone and task ----

def _to_numpy(x):
    return keras.tree.map_structure(lambda t: np.asarray(keras.ops.convert_to_numpy(t)), x)


def _call(layer, inputs, **kwargs):
    """Layers take their call arguments as a dict (keyword arguments), a tuple (positional) or one tensor."""
    if isinstance(inputs, dict):
        return layer(**inputs, **kwargs)
    if isinstance(inputs, tuple):
        return layer(*inputs, **kwargs)
    return layer(inputs, **kwargs)


def _dtype(t):
    return keras.backend.standardize_dtype(t.dtype)


def _without_names(config):
    """A config with the auto-generated layer names left out (they differ between two instances)."""
    if isinstance(config, dict):
        return {k: _without_names(v) for k, v in config.items() if k != "name"}
    if isinstance(config, list):
        return [_without_names(v) for v in config]
    return config


def run_serialization_test(instance):
    """The config survives JSON and `from_config` unchanged (what `.keras` saving relies on)."""
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(instance)))
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is type(instance)

    def own(layer):  # a task's config holds its backbone and preprocessor as objects: compare those apart
        return _without_names({k: v for k, v in layer.get_config().items() if k not in ("backbone", "preprocessor")})

    assert own(revived) == own(instance)
    if hasattr(instance, "backbone"):
        assert own(revived.backbone) == own(instance.backbone)
        assert [tuple(w.shape) for w in revived.weights] == [tuple(w.shape) for w in instance.weights]
    return revived


def run_layer_test(cls, init_kwargs, input_data, expected_output_shape, expected_num_trainable_weights=None,
                   run_mixed_precision_check=True, run_training_check=True, mixed_input_data=None):
    """Build, call, serialize, check the output shapes, that every trainable weight gets a gradient, and that
    mixed_bfloat16 computes in bfloat16 with float32 variables (`mixed_input_data`: inputs for that check, for
    layers that take activations already in the compute dtype)."""
    layer = cls(**init_kwargs)
    out = _to_numpy(_call(layer, input_data))
    shapes = keras.tree.map_structure(lambda t: t.shape, out)
    assert shapes == expected_output_shape, f"{cls.__name__}: output shapes {shapes} != {expected_output_shape}"
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights
    revived = run_serialization_test(layer)
    _call(revived, input_data)
    if run_training_check and layer.trainable_weights:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            flat = keras.tree.flatten(_call(layer, input_data, training=True))
            loss = sum(tf.reduce_sum(tf.cast(t, "float32") ** 2) for t in flat if t.dtype.is_floating)
        grads = tape.gradient(loss, layer.trainable_weights)
        missing = [w.path for w, g in zip(layer.trainable_weights, grads) if g is None]
        assert not missing, f"{cls.__name__}: no gradient for {missing}"
    if run_mixed_precision_check:
        mixed = cls(**{**init_kwargs, "dtype": "mixed_bfloat16"})
        flat = keras.tree.flatten(_call(mixed, input_data if mixed_input_data is None else mixed_input_data))
        assert all(w.dtype == "float32" for w in mixed.weights)
        assert any(_dtype(t) == "bfloat16" for t in flat), f"{cls.__name__}: no bfloat16 output"
    return layer


def run_backbone_test(cls, init_kwargs, input_data, expected_output_shape, variable_length_data=(), tmp_path=None):
    """run_layer_test's checks for a Functional backbone, plus other segment counts and a `.keras` round trip."""
    backbone = cls(**init_kwargs)
    out = _to_numpy(backbone(input_data))
    shapes = {k: v.shape for k, v in out.items()}
    assert shapes == expected_output_shape, f"output shapes {shapes} != {expected_output_shape}"
    run_serialization_test(backbone)
    for data in variable_length_data:
        n = data["token_ids"].shape[1] // backbone.segment_length
        shapes = {k: v.shape for k, v in _to_numpy(backbone(data)).items()}
        assert shapes["segment_output"][1] == n and shapes["sequence_output"][1] == data["token_ids"].shape[1]
    if tmp_path is not None:
        path = tmp_path / "backbone.keras"
        backbone.save(path)
        again = _to_numpy(keras.saving.load_model(path)(input_data))
        for k in out:
            np.testing.assert_array_equal(again[k], out[k], err_msg=k)
    mixed = cls(**{**init_kwargs, "dtype": "mixed_bfloat16"})
    assert _dtype(mixed(input_data)["sequence_output"]) == "bfloat16"
    return backbone


def run_task_test(task, train_data, expected_output_shape, tmp_path, batch_size=2):
    """A task end to end: `predict` and one `fit` step on a tf.data pipeline (raw text where the task has a
    preprocessor), `.keras` save/load with identical predictions, and the config round trip."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(train_data).batch(batch_size)
    x = train_data[0]
    preds = np.asarray(task.predict(x, batch_size=batch_size, verbose=0))
    assert preds.shape == expected_output_shape, f"predictions {preds.shape} != {expected_output_shape}"
    np.testing.assert_allclose(np.asarray(task.predict(ds.map(lambda *a: a[0]), verbose=0)), preds,
                               rtol=1e-5, atol=1e-5)
    task.compile(optimizer=keras.optimizers.SGD(1e-3))
    history = task.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    preds = np.asarray(task.predict(x, batch_size=batch_size, verbose=0))
    path = tmp_path / "task.keras"
    task.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(again.predict(x, batch_size=batch_size, verbose=0)), preds,
                               rtol=1e-6, atol=1e-6)
    run_serialization_test(task)
    return again


# ---- tiny models for the per-class tests -----------------------------------------------------------
TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "cat", "dog", "sat", "on", "mat", "ran",
              "far", ".", ",", "##s", "##ed", "and", "it"]
TINY_BACKBONE = dict(vocabulary_size=len(TINY_VOCAB), hidden_dim=16, num_heads=2, intermediate_dim=24,
                     layout="S|SD|D", segment_length=8, max_segments=3)
TINY_TEXTS = ["the cat sat on the mat. the dog ran far.", "a dog sat.", "it ran, and it ran and ran.",
              "the cats and the dogs sat on a mat."]


def tiny_backbone(**overrides):
    from hat_keras import HATBackbone

    keras.utils.set_random_seed(0)
    return HATBackbone(**{**TINY_BACKBONE, **overrides})


def tiny_tokenizer():
    from hat_keras import HATTokenizer

    return HATTokenizer(vocabulary=TINY_VOCAB, max_segments=TINY_BACKBONE["max_segments"],
                        segment_length=TINY_BACKBONE["segment_length"])


def tiny_inputs(batch=2, segments=3, seed=0):
    rng = np.random.default_rng(seed)
    n = segments * TINY_BACKBONE["segment_length"]
    ids = rng.integers(5, len(TINY_VOCAB), (batch, n)).astype("int32")
    mask = np.ones_like(ids)
    ids[0, -3:], mask[0, -3:] = 0, 0
    return {"token_ids": ids, "padding_mask": mask}
