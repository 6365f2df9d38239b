"""The in-graph preprocessors the trainers map over examples. Each task names its own
(`HATTask.text_preprocessor`, `HATTask.pretokenized_preprocessor`); everything returns fixed shapes so
batches are static."""
from hat_keras.models import HATTask
from hat_keras.tokenization import HATTokenizer, check_vocabulary_size
from hat_keras.tokenization.pretokenized import (MASK_RATE, PretokenizedClassifierInputs,  # noqa: F401
                                                 PretokenizedMasker, mask_selection_length)


def text_preprocessor(task, model_dir, backbone, args=None, **options):
    """The tokenizer's keras-hub preprocessor for `task` (any registry name or alias, or the class), sized
    to the backbone: every example becomes max_segments x segment_length tokens. `args` (TrainArgs) gives
    the task's own settings (the MLM mask rate); `options` go to its preprocessor (e.g. segmentation)."""
    task = HATTask.resolve(task)
    tokenizer = HATTokenizer.from_pretrained(model_dir)
    check_vocabulary_size(tokenizer, backbone.vocabulary_size, model_dir)
    return task.text_preprocessor(tokenizer, backbone, args, **options)
