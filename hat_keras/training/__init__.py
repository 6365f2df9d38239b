"""Training on one code path for TPUs, GPUs, clusters and CPUs (tf.distribute + tf.data + Keras fit)."""
from hat_keras.training.data import (DataError, Examples, assert_static, distribute, make_dataset, read_examples,
                                     write_pretokenized)
from hat_keras.training.optimization import LinearWarmupDecay, create_optimizer
from hat_keras.training.recipes import TrainArgs, TrainResult, finetune_classifier, train, train_mlm
from hat_keras.training.strategy import get_strategy, multi_worker_fit_fixes, set_logical_cpus
