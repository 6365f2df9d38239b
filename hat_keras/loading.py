"""`hat_keras.load`: the one way to open a HAT model, whatever form it was saved in.

Three forms exist: a `.keras` archive (`model.save`), a keras-hub preset folder (`save_to_preset`,
`hat-keras convert SRC DIR`) and an HF-format checkpoint folder (config.json + model.safetensors or
pytorch_model.bin, what the PyTorch code and `save_pretrained` write). Every loader in the package
(CLI, exporters, training, predict) goes through `load`.
"""
import json
import os
import warnings
import zipfile


class ModelNotFound(FileNotFoundError):
    """The path is not a HAT model in any of the three forms; the message says what was looked for."""


def model_format(path):
    """"keras", "preset" or "hf" for a path, or raise ModelNotFound naming what is missing."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelNotFound(f"{path}: no such file or folder")
    if os.path.isfile(path):
        if not path.endswith(".keras"):
            raise ModelNotFound(f"{path}: a model file must be a `.keras` archive")
        if not zipfile.is_zipfile(path):
            raise ModelNotFound(f"{path}: exists but is not a `.keras` archive (not a zip file)")
        return "keras"
    config = os.path.join(path, "config.json")
    if not os.path.isfile(config):
        raise ModelNotFound(f"{path}: no config.json (expected a keras-hub preset folder or an HF-format "
                            "checkpoint folder)")
    try:
        with open(config, encoding="utf-8") as f:
            meta = json.load(f)
    except json.JSONDecodeError as e:
        raise ModelNotFound(f"{config}: not valid JSON ({e})") from None
    return "preset" if isinstance(meta, dict) and "registered_name" in meta else "hf"


def load(path, task=None, **overrides):
    """Open a HAT model saved as a `.keras` file, a keras-hub preset folder or an HF-format folder.

    task: for HF folders, which head to build (see `hat_keras.models.HATTask.resolve`; default: what the
    checkpoint holds); for presets, "backbone" returns the backbone even where a task was saved.
    overrides: `load_hf_checkpoint` arguments for HF folders (pooling, num_labels, dtype, load_tokenizer, ...).
    The returned model carries its preprocessor (raw text in) wherever the saved form has a tokenizer.
    """
    import keras

    import hat_keras.models  # noqa: F401  (registers the serializable classes: the tasks and, through them,
    # the tokenizer and preprocessors)

    kind = model_format(path)
    path = os.fspath(path)
    if kind == "keras":
        if overrides:
            raise TypeError(f"{path}: a .keras file takes no overrides ({sorted(overrides)})")
        return _checked(keras.saving.load_model(path, compile=False), path)
    if kind == "preset":
        import keras_hub

        if overrides:
            raise TypeError(f"{path}: a preset folder takes no overrides ({sorted(overrides)})")
        task_file = os.path.join(path, "task.json")
        if task == "backbone" or not os.path.isfile(task_file):
            return _checked(keras_hub.models.Backbone.from_preset(path), path)
        with open(task_file, encoding="utf-8") as f:
            name = json.load(f).get("registered_name")
        task_cls = keras.saving.get_registered_object(name)  # keras-hub only loads through the task's class
        if task_cls is None:
            raise ModelNotFound(f"{task_file}: task class {name!r} is not registered (import the package that "
                                "defines it)")
        return _checked(task_cls.from_preset(path), path)
    from hat_keras.convert import load_hf_checkpoint

    return load_hf_checkpoint(path, task=task, **overrides)


def _checked(model, path):
    """Only HAT models pass: a `.keras` file or preset holding another Keras model (a `Sequential`, keras-hub's
    `BertBackbone`) is refused, naming its class, instead of failing later in whatever reads `.backbone`.
    A saved task whose tokenizer has more ids than its embedding table is refused at load time."""
    from hat_keras.models import HATBackbone, HATTask

    if not isinstance(model, (HATBackbone, HATTask)):
        raise ModelNotFound(f"{path}: holds a {type(model).__name__} ({type(model).__module__}), not a HAT model "
                            "(HATBackbone or a HAT task such as HATTextClassifier)")
    tokenizer = getattr(getattr(model, "preprocessor", None), "tokenizer", None)
    backbone = getattr(model, "backbone", None)
    if tokenizer is not None and backbone is not None and hasattr(backbone, "vocabulary_size"):
        from hat_keras.tokenization import check_vocabulary_size

        check_vocabulary_size(tokenizer, backbone.vocabulary_size, path)
    return model


def from_pretrained(path, task=None, **overrides):
    """Deprecated spelling of `load` (which reads HF-format folders and the other two forms alike)."""
    warnings.warn("hat_keras.from_pretrained is deprecated; use hat_keras.load (same arguments)", DeprecationWarning,
                  stacklevel=2)
    return load(path, task=task, **overrides)
