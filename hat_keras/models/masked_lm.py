"""HATMaskedLM: the released checkpoints' head (spec §3.1), decoder tied to the word embeddings."""
import keras
from keras_hub.layers import MaskedLMHead
from keras_hub.models import MaskedLM

from hat_keras.models.weight_map import Port, dense_ports, layer_norm_ports
from hat_keras import compat
from hat_keras.layers import get_activation
from hat_keras.models.backbone import hat_kernel_initializer
from hat_keras.models.task import HATTask
from hat_keras.tokenization.preprocessors import HATMaskedLMPreprocessor
from hat_keras.tokenization.tokenizer import HATTokenizer


@keras.saving.register_keras_serializable(package="hat_keras")
class HATMaskedLM(HATTask, MaskedLM):
    """Logits at `mask_positions` (B, P) -> (B, P, vocab): dense -> gelu -> LayerNorm -> E^T + bias.

    Pass every position (`all_positions`) to get upstream's per-token logits (B, S, V).
    """

    preprocessor_cls = HATMaskedLMPreprocessor
    task_names = ("masked_lm", "mlm")
    architectures = ("HATForMaskedLM",)
    head_prefixes = ("lm_head.",)
    # training: continued pre-training on unlabelled text (the original recipe, spec §1.3)
    supports_training = True
    train_options = ("mask_rate",)
    default_learning_rate = 1e-4

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

    @classmethod
    def from_hat_config(cls, config, backbone, state=None, pooling=None, **kwargs):
        return cls(backbone, **kwargs)

    @classmethod
    def text_preprocessor(cls, tokenizer, backbone, args=None, **options):
        """The MLM preprocessor, masking `args.mask_rate` of the tokens."""
        if args is not None:
            options.setdefault("mask_selection_rate", args.mask_rate)
        return super().text_preprocessor(tokenizer, backbone, args, **options)

    @classmethod
    def pretokenized_preprocessor(cls, backbone, args):
        """Masks pre-tokenized ids; the tokenizer (from `args.model`) gives the mask and special ids."""
        if not args.model:
            raise ValueError("MLM on pre-tokenized data needs the model folder for the tokenizer's special ids")
        from hat_keras.tokenization.pretokenized import PretokenizedMasker  # TensorFlow: only when training

        tokenizer = HATTokenizer.from_pretrained(args.model)
        return PretokenizedMasker(backbone.vocabulary_size, tokenizer.mask_token_id,
                                  sorted(tokenizer.special_token_ids),
                                  backbone.segment_length * backbone.max_segments, args.mask_rate)

    def head_ports(self):
        dense, layer_norm, bias = compat.masked_lm_head_parts(self.masked_lm_head)
        return [*dense_ports("lm_head.dense", dense), *layer_norm_ports("lm_head.layer_norm", layer_norm),
                Port(("lm_head.bias",), bias, head=True)]

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def default_metrics(self):
        """Accuracy at masked positions only (the preprocessor's sample weights are 1 at real masked
        positions and 0 at the padding of `mask_positions`)."""
        return [keras.metrics.SparseCategoricalAccuracy(name="masked_accuracy")]


def all_positions(token_ids):
    """mask_positions selecting every token, for upstream-style (B, S, V) logits."""
    import numpy as np

    token_ids = np.asarray(token_ids)
    return np.broadcast_to(np.arange(token_ids.shape[-1], dtype="int32"), token_ids.shape).copy()
