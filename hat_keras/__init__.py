"""hat-keras: the Hierarchical Attention Transformer (HAT) for TensorFlow / Keras 3."""
import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from hat_keras.config import HATConfig, HATConfigError, layout_from_string, layout_to_string  # noqa: E402
from hat_keras.models import (HATBackbone, HATMaskedLM, HATMultipleChoice, HATSequentialSentenceClassifier,  # noqa: E402
                              HATTextClassifier, HATTokenClassifier, all_positions)
from hat_keras.convert import (CheckpointError, LoadReport, from_pretrained, load_state_dict,  # noqa: E402
                               read_state_dict, save_pretrained)
from hat_keras.tokenization import (HATMaskedLMPreprocessor, HATMultipleChoicePreprocessor, HATSequentialSentenceClassifierPreprocessor, HATTextClassifierPreprocessor, HATTokenizer, tokenizer_files_present)  # noqa: E402,E501

from hat_keras.training import TrainArgs, finetune_classifier, get_strategy, train_mlm  # noqa: E402
__version__ = "0.1.0"
from hat_keras.context import extend_context  # noqa: E402
