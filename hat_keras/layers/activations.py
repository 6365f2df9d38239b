"""Activations written so every export path keeps them exact.

TensorFlow writes `gelu(approximate=False)` with `Erfc`, which tf2onnx cannot convert (it still exits 0).
`0.5·x·(1+erf(x/√2))` is the same exact GELU, maps to ONNX `Erf`, and TFLite still fuses it to GELU.
"""
import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hat_keras")
def gelu_erf(x):
    """Exact (erf) GELU, as PyTorch `F.gelu` / transformers `ACT2FN["gelu"]`."""
    return 0.5 * x * (1.0 + ops.erf(x / math.sqrt(2.0)))


@keras.saving.register_keras_serializable(package="hat_keras")
def gelu_tanh(x):
    """tanh-approximate GELU (transformers `gelu_new` / `gelu_pytorch_tanh`)."""
    return keras.activations.gelu(x, approximate=True)


HF_ACTIVATIONS = {"gelu": gelu_erf, "gelu_new": gelu_tanh, "gelu_pytorch_tanh": gelu_tanh, "relu": "relu"}


def get_activation(hidden_act):
    """The Keras activation for a transformers `hidden_act` name."""
    if hidden_act not in HF_ACTIVATIONS:
        raise ValueError(f"hidden_act={hidden_act!r} is not supported; use one of {sorted(HF_ACTIVATIONS)}")
    return HF_ACTIVATIONS[hidden_act]
