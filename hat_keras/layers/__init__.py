"""Keras layers of HAT; each is registered for `.keras` saving."""
from hat_keras.layers.activations import gelu_erf, gelu_tanh, get_activation
from hat_keras.layers.embeddings import HATPositionIds, PaddingAwareEmbedding, check_sequence_length
from hat_keras.layers.hat_layer import MASK_VALUE, HATAttentionBias, HATLayer
from hat_keras.layers.pooling import POOLINGS, HATPooler
from hat_keras.layers.transformer_block import HATTransformerBlock
