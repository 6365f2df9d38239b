"""hat-keras: the Hierarchical Attention Transformer (HAT) for TensorFlow / Keras 3."""
import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from hat_keras.config import HATConfig, HATConfigError, layout_from_string, layout_to_string  # noqa: E402

__version__ = "0.1.0"
