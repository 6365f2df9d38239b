"""Tokenization for HAT: the original HATTokenizer's segmentations, in-graph, plus keras-hub style
preprocessors for the HAT tasks (each task names its own in `preprocessor_cls`)."""
from hat_keras.tokenization.tokenizer import (HATTokenizer, HATTokenizerNotFound,  # noqa: F401
                                              check_vocabulary_size, tokenizer_files_present)
from hat_keras.tokenization.word_tokenizers import HATBytePairTokenizer, HATWordPieceTokenizer  # noqa: F401
from hat_keras.tokenization.preprocessors import (HATMaskedLMPreprocessor,  # noqa: F401
                                                  HATMultipleChoicePreprocessor,
                                                  HATSequentialSentenceClassifierPreprocessor,
                                                  HATTextClassifierPreprocessor)
