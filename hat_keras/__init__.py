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


_HAS_TF = _installed("tensorflow")
if _HAS_TF:
    _os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from hat_keras.config import HATConfig, HATConfigError, layout_from_string, layout_to_string  # noqa: E402
from hat_keras.models import (HATBackbone, HATMaskedLM, HATMultipleChoice, HATSequentialSentenceClassifier,  # noqa: E402
                              HATTextClassifier, HATTokenClassifier, all_positions)
from hat_keras.convert import (CheckpointError, LoadReport, from_pretrained, load_state_dict,  # noqa: E402
                               read_state_dict, save_pretrained)
from hat_keras.loading import ModelNotFound, load  # noqa: E402

__version__ = "0.1.0"

if _HAS_TF:
    from hat_keras.tokenization import (HATMaskedLMPreprocessor, HATMultipleChoicePreprocessor,  # noqa: E402
                                        HATSequentialSentenceClassifierPreprocessor, HATTextClassifierPreprocessor,
                                        HATTokenizer, tokenizer_files_present)
    from hat_keras.training import TrainArgs, finetune_classifier, get_strategy, train_mlm  # noqa: E402
    from hat_keras.context import extend_context  # noqa: E402
