"""HAT backbone and task models (Functional keras-hub models; constructor arguments are the config).

Every task derives from `HATTask`, which is also the registry the converter, exporters, CLI and training
use; importing the task modules here registers them.
"""
from hat_keras.layers.pooling import POOLINGS  # the --pooling choices of every command
from hat_keras.models.backbone import HATBackbone
from hat_keras.models.masked_lm import HATMaskedLM, all_positions
from hat_keras.models.multiple_choice import HATMultipleChoice
from hat_keras.models.sequential_sentence_classifier import HATSequentialSentenceClassifier
from hat_keras.models.task import HATTask
from hat_keras.models.text_classifier import HATTextClassifier
from hat_keras.models.token_classifier import HATTokenClassifier
from hat_keras.tokenization.tokenizer import HATTokenizer

# keras_hub.tokenizers.Tokenizer.from_preset(dir) picks the Tokenizer subclass whose `backbone_cls` is the
# preset's backbone class; the tokenizer sits below the models, so the link is made from here.
HATTokenizer.backbone_cls = HATBackbone
