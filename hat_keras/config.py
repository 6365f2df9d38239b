"""HATConfig: the HF `config.json` of a HAT checkpoint, validated, as the single source of truth.

Every field of the original `HATConfig` is kept with its upstream default; unknown fields (the junk the
released configs carry, `auto_map`, `id2label`, ...) are preserved so a save/convert round trip writes
them back unchanged.
"""
import copy
import json
import os

__version__ = "0.1.0"  # the package version (pyproject.toml); run records and exports carry it

DEFAULTS = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "max_sentences": 64,
    "max_sentence_size": 128,
    "model_max_length": 8192,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
    "use_cache": True,
    "classifier_dropout": None,
}

MODEL_TYPE = "hierarchical-transformer"
AUTO_MAP = {
    "AutoConfig": "configuration_hat.HATConfig",
    "AutoTokenizer": "tokenization_hat.HATTokenizer",
    "AutoModel": "modelling_hat.HATModel",
    "AutoModelForMaskedLM": "modelling_hat.HATForMaskedLM",
    "AutoModelForMultipleChoice": "modelling_hat.HATForMultipleChoice",
    "AutoModelForQuestionAnswering": "modelling_hat.HATForQuestionAnswering",
    "AutoModelForSequenceClassification": "modelling_hat.HATForSequenceClassification",
    "AutoModelForTokenClassification": "modelling_hat.HATForTokenClassification",
}
_INT_FIELDS = ("vocab_size", "hidden_size", "max_sentences", "max_sentence_length", "num_hidden_layers",
               "num_attention_heads", "intermediate_size", "type_vocab_size", "pad_token_id")


class HATConfigError(ValueError):
    """A config.json that cannot describe a HAT; the message names the field."""


def layout_to_string(encoder_layout):
    """{"0": {"sentence_encoder": True, "document_encoder": False}, ...} -> "S|..."."""
    blocks = []
    for i in range(len(encoder_layout)):
        entry = encoder_layout[str(i)] if str(i) in encoder_layout else encoder_layout[i]
        blocks.append(("S" if entry.get("sentence_encoder") else "") + ("D" if entry.get("document_encoder") else ""))
    return "|".join(blocks)


def layout_from_string(pattern):
    """"S|SD|D" -> encoder_layout dict as stored in config.json (spec 1.2)."""
    blocks = [b.strip().upper() for b in pattern.split("|")]
    for i, b in enumerate(blocks):
        if b not in ("S", "SD", "D"):
            raise HATConfigError(f"encoder layout {pattern!r}: block {i} is {b!r}; each block must be S, SD or D")
    return {str(i): {"sentence_encoder": "S" in b, "document_encoder": "D" in b} for i, b in enumerate(blocks)}


class HATConfig:
    """Attribute access over the config dict. `to_dict()` gives back every field, known or not."""

    def __init__(self, **fields):
        values = copy.deepcopy(DEFAULTS)
        values.update(copy.deepcopy(fields))
        layout = values.get("encoder_layout")
        if isinstance(layout, str):
            values["encoder_layout"] = layout_from_string(layout)
            values.setdefault("num_hidden_layers", len(values["encoder_layout"]))
            if "num_hidden_layers" not in fields:
                values["num_hidden_layers"] = len(values["encoder_layout"])
        values.setdefault("model_type", MODEL_TYPE)
        object.__setattr__(self, "_values", values)
        self.validate()

    # ---- access -------------------------------------------------------------------------------------
    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"HATConfig has no field {name!r}") from None

    def __setattr__(self, name, value):
        self._values[name] = value

    def get(self, name, default=None):
        return self._values.get(name, default)

    def to_dict(self):
        return copy.deepcopy(self._values)

    def __eq__(self, other):
        return isinstance(other, HATConfig) and self._values == other._values

    def __repr__(self):
        return f"HATConfig(layout={self.layout!r}, hidden={self.hidden_size}, K={self.segment_length}, " \
               f"max_segments={self.max_segments}, vocab={self.vocab_size})"

    # ---- derived ------------------------------------------------------------------------------------
    @property
    def layout(self):
        return layout_to_string(self.encoder_layout)

    @property
    def segment_length(self):
        return self.max_sentence_length

    @property
    def max_segments(self):
        return self.max_sentences

    @property
    def max_length(self):
        return self.max_sentences * self.max_sentence_length

    @property
    def num_labels(self):
        if self._values.get("id2label"):
            return len(self._values["id2label"])
        return int(self._values.get("num_labels", 2))

    @property
    def classifier_dropout_rate(self):
        c = self._values.get("classifier_dropout")
        return self.hidden_dropout_prob if c is None else c

    def backbone_kwargs(self):
        """Constructor arguments of HATBackbone (the Keras side of the config)."""
        return dict(
            vocabulary_size=self.vocab_size, hidden_dim=self.hidden_size, num_heads=self.num_attention_heads,
            intermediate_dim=self.intermediate_size, layout=self.layout,
            segment_length=self.max_sentence_length, max_segments=self.max_sentences,
            type_vocab_size=self.type_vocab_size, pad_token_id=self.pad_token_id,
            layer_norm_epsilon=self.layer_norm_eps, dropout=self.hidden_dropout_prob,
            attention_dropout=self.attention_probs_dropout_prob, hidden_act=self.hidden_act,
            compact=self.compact,
        )

    @property
    def compact(self):
        """`"compact": true` in config.json: heads pool over real segments only (`HATBackbone(compact=True)`).
        Absent in the released checkpoints, which keep upstream's pooling over padded segments too."""
        return bool(self._values.get("compact", False))

    # ---- validation ---------------------------------------------------------------------------------
    def validate(self):
        v = self._values
        if "max_sentence_length" not in v:
            raise HATConfigError("config field 'max_sentence_length' is missing: HAT needs the segment length K "
                                 "(the upstream code fails with AttributeError without it)")
        if v.get("encoder_layout") in (None, {}):
            raise HATConfigError("config field 'encoder_layout' is missing: it says which layers are S, SD or D")
        for name in _INT_FIELDS:
            val = v.get(name)
            if not isinstance(val, int) or isinstance(val, bool):
                raise HATConfigError(f"config field {name!r} must be an integer, got {val!r}")
            if name != "pad_token_id" and val <= 0:
                raise HATConfigError(f"config field {name!r} must be positive, got {val}")
        if v["pad_token_id"] < 0 or v["pad_token_id"] >= v["vocab_size"]:
            raise HATConfigError(f"config field 'pad_token_id'={v['pad_token_id']} is outside the vocabulary "
                                 f"(vocab_size={v['vocab_size']})")
        if v["hidden_size"] % v["num_attention_heads"]:
            raise HATConfigError(f"config field 'num_attention_heads'={v['num_attention_heads']} does not divide "
                                 f"'hidden_size'={v['hidden_size']}")
        layout = v["encoder_layout"]
        if not isinstance(layout, dict):
            raise HATConfigError("config field 'encoder_layout' must be a dict of layer entries, got "
                                 f"{type(layout).__name__}")
        if len(layout) != v["num_hidden_layers"]:
            raise HATConfigError(f"config field 'encoder_layout' has {len(layout)} entries but "
                                 f"'num_hidden_layers' is {v['num_hidden_layers']}")
        for i in range(len(layout)):
            entry = layout.get(str(i), layout.get(i))
            if entry is None:
                raise HATConfigError(f"config field 'encoder_layout' has no entry for layer {i}")
            s, d = bool(entry.get("sentence_encoder")), bool(entry.get("document_encoder"))
            if not (s or d):
                raise HATConfigError(f"config field 'encoder_layout[{i}]' has neither a sentence_encoder nor a "
                                     f"document_encoder")
        if v.get("hidden_act") not in ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu"):
            raise HATConfigError(f"config field 'hidden_act'={v.get('hidden_act')!r} is not supported "
                                 "(gelu, gelu_new, gelu_pytorch_tanh, relu)")
        if v.get("position_embedding_type", "absolute") != "absolute":
            raise HATConfigError(f"config field 'position_embedding_type'={v['position_embedding_type']!r}: only "
                                 "'absolute' is supported (no released HAT uses another)")
        if not isinstance(v.get("compact", False), bool):
            raise HATConfigError(f"config field 'compact' must be true or false, got {v['compact']!r}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= float(v[name]) < 1.0:
                raise HATConfigError(f"config field {name!r} must be in [0, 1), got {v[name]}")

    # ---- I/O ----------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d):
        return cls(**d)

    @classmethod
    def from_json_file(cls, path):
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no config.json") from None
        except json.JSONDecodeError as e:
            raise HATConfigError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(data, dict):
            raise HATConfigError(f"{path}: a config.json must hold a JSON object")
        try:
            return cls(**data)
        except HATConfigError as e:
            raise HATConfigError(f"{path}: {e}") from None

    @classmethod
    def from_pretrained(cls, path):
        if os.path.isdir(path):
            path = os.path.join(path, "config.json")
        return cls.from_json_file(path)

    def to_json_string(self):
        return json.dumps(self._values, indent=2, sort_keys=True) + "\n"

    def save_pretrained(self, directory):
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "config.json"), "w", encoding="utf-8") as f:
            f.write(self.to_json_string())

    @classmethod
    def from_backbone_kwargs(cls, kw, **extra):
        """Inverse of `backbone_kwargs` (for save_pretrained of a model built in Keras)."""
        layout = layout_from_string(kw["layout"])
        K, N = kw["segment_length"], kw["max_segments"]
        fields = dict(
            architectures=["HATForMaskedLM"], model_type=MODEL_TYPE, auto_map=dict(AUTO_MAP),
            vocab_size=kw["vocabulary_size"], hidden_size=kw["hidden_dim"], num_attention_heads=kw["num_heads"],
            intermediate_size=kw["intermediate_dim"], encoder_layout=layout, num_hidden_layers=len(layout),
            max_sentence_length=K, max_sentence_size=K, max_sentences=N, model_max_length=K * N,
            max_position_embeddings=K, type_vocab_size=kw["type_vocab_size"], pad_token_id=kw["pad_token_id"],
            layer_norm_eps=kw["layer_norm_epsilon"], hidden_dropout_prob=kw["dropout"],
            attention_probs_dropout_prob=kw["attention_dropout"], hidden_act=kw.get("hidden_act", "gelu"),
        )
        if kw.get("compact"):
            fields["compact"] = True
        fields.update(extra)
        return cls(**fields)
