"""HATMaskedLM: the released checkpoints' head (spec §3.1), decoder tied to the word embeddings."""
import keras
from keras_hub.layers import MaskedLMHead
from keras_hub.models import MaskedLM

from hat_keras.layers import get_activation
from hat_keras.models.backbone import HATBackbone, OptionalSegmentIds, hat_kernel_initializer


@keras.saving.register_keras_serializable(package="hat_keras")
class HATMaskedLM(OptionalSegmentIds, MaskedLM):
    """Logits at `mask_positions` (B, P) -> (B, P, vocab): dense -> gelu -> LayerNorm -> E^T + bias.

    Pass every position (`all_positions`) to get upstream's per-token logits (B, S, V).
    """

    backbone_cls = HATBackbone
    preprocessor_cls = None  # set in hat_keras.tokenization when available

    def __init__(self, backbone, preprocessor=None, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.masked_lm_head = MaskedLMHead(
            vocabulary_size=backbone.vocabulary_size, token_embedding=backbone.token_embedding,
            intermediate_activation=get_activation(backbone.hidden_act),
            layer_norm_epsilon=backbone.layer_norm_epsilon,
            kernel_initializer=hat_kernel_initializer(backbone.initializer_range),
            dtype=backbone.dtype_policy, name="mlm_head")
        # === Functional Model ===
        inputs = {**backbone.input,
                  "mask_positions": keras.Input(shape=(None,), dtype="int32", name="mask_positions")}
        outputs = backbone(backbone.input)
        logits = self.masked_lm_head(outputs["sequence_output"], inputs["mask_positions"])
        super().__init__(inputs=inputs, outputs=logits, **kwargs)


def all_positions(token_ids):
    """mask_positions selecting every token, for upstream-style (B, S, V) logits."""
    import numpy as np

    token_ids = np.asarray(token_ids)
    return np.broadcast_to(np.arange(token_ids.shape[-1], dtype="int32"), token_ids.shape).copy()
