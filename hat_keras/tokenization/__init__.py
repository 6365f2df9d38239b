"""Tokenization for HAT: the original HATTokenizer's segmentations, in-graph, plus keras-hub style
preprocessors for the HAT tasks."""
from hat_keras.tokenization.tokenizer import (HATTokenizer, HATTokenizerNotFound,  # noqa: F401
                                              check_vocabulary_size, tokenizer_files_present)
from hat_keras.tokenization.word_tokenizers import HATBytePairTokenizer, HATWordPieceTokenizer  # noqa: F401
from hat_keras.tokenization.preprocessors import (HATMaskedLMPreprocessor,  # noqa: F401
                                                  HATMultipleChoicePreprocessor,
                                                  HATSequentialSentenceClassifierPreprocessor,
                                                  HATTextClassifierPreprocessor)


def _link_tasks():
    """keras-hub convention: each task class names its preprocessor class."""
    from hat_keras import models

    models.HATMaskedLM.preprocessor_cls = HATMaskedLMPreprocessor
    models.HATTextClassifier.preprocessor_cls = HATTextClassifierPreprocessor
    models.HATMultipleChoice.preprocessor_cls = HATMultipleChoicePreprocessor
    models.HATSequentialSentenceClassifier.preprocessor_cls = HATSequentialSentenceClassifierPreprocessor


_link_tasks()
