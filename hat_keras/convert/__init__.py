"""Conversion between HF-format HAT checkpoints and Keras models, and BERT warm starts."""
from hat_keras.convert.checkpoint import CheckpointError, read_state_dict, write_safetensors
from hat_keras.convert.hf import (LoadReport, build_model, describe, export_state_dict, hat_config_of,
                                  layout_from_keys, load_hf_checkpoint, load_state_dict, save_pretrained)
