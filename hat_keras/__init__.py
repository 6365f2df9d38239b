"""hat-keras: the Hierarchical Attention Transformer (HAT) for TensorFlow / Keras 3.

The models and the converter are backend-agnostic Keras 3 (they also run on the JAX backend, e.g. for a
GPU benchmark where TensorFlow is not installed); tokenization, training and export need TensorFlow and
are imported only where it is installed.
"""
import importlib.util as _util
import os as _os


def _installed(name):
    try:
        return _util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _import_tensorflow_quietly():
    """Import TensorFlow without its C++ start-up notices (absl's pre-init line, oneDNN, the CUDA stub and
    cuInit probes on machines without a GPU): they go to file descriptor 2 before any Python setting applies,
    so fd 2 is captured for the import and the device probe only (`hat_keras.logs`: shown again if the import
    fails or `logs.configure(verbose=True)` runs). HAT_KERAS_DEBUG=1 or TF_CPP_MIN_LOG_LEVEL=0 keeps them."""
    import sys

    from hat_keras import logs

    if "tensorflow" in sys.modules or _os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return
    with logs.native_stderr(hold=True):
        import tensorflow

        tensorflow.config.list_physical_devices()  # the CUDA probe, before any device is configured


_HAS_TF = _installed("tensorflow")
if _HAS_TF:
    _os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    # Under every backend: tokenization, tf.data in training and export import TensorFlow anyway (below), and
    # its start-up lines would otherwise reach the terminal on the JAX backend.
    _import_tensorflow_quietly()

from hat_keras.config import HATConfig, HATConfigError, layout_from_string, layout_to_string  # noqa: E402
from hat_keras.models import (HATBackbone, HATMaskedLM, HATMultipleChoice, HATSequentialSentenceClassifier,  # noqa: E402
                              HATTextClassifier, HATTokenClassifier, all_positions)
from hat_keras.convert import CheckpointError, LoadReport, load_state_dict, read_state_dict, save_pretrained  # noqa: E402
from hat_keras.loading import ModelNotFound, from_pretrained, load  # noqa: E402

from hat_keras.config import __version__  # noqa: E402,F401

if _HAS_TF:
    from hat_keras.tokenization import (HATMaskedLMPreprocessor, HATMultipleChoicePreprocessor,  # noqa: E402
                                        HATSequentialSentenceClassifierPreprocessor, HATTextClassifierPreprocessor,
                                        HATTokenizer, tokenizer_files_present)
    from hat_keras.training import TrainArgs, finetune_classifier, get_strategy, train_mlm  # noqa: E402
    from hat_keras.context import extend_context  # noqa: E402
