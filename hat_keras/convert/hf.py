"""HF-format HAT checkpoints <-> Keras models: `load_hf_checkpoint` (what `hat_keras.load` does with an HF
folder) and `save_pretrained`.

Semantics follow the code the released checkpoints were trained with (spec §0.1, §5): the layout comes
from the keys and must agree with config.json; tied and duplicated tensors resolve as transformers
resolves them; head weights absent from the checkpoint are newly initialised and reported, as HF does.
"""
import dataclasses
import logging
import os
import re
import shutil
import tempfile
import warnings

import numpy as np

from hat_keras.config import AUTO_MAP, HATConfig, HATConfigError, layout_to_string
from hat_keras.convert.checkpoint import CheckpointError, read_state_dict, write_safetensors
from hat_keras.models import HATBackbone, HATTask
from hat_keras.models.weight_map import ENCODER_PREFIX, model_ports

logger = logging.getLogger("hat_keras")

# Keys upstream ignores on load (`_keys_to_ignore_on_load_*`).
_IGNORED = re.compile(r"(^|\.)pooler\.dense\.|embeddings\.position_ids$|embeddings\.token_type_ids$")


@dataclasses.dataclass
class LoadReport:
    """What a conversion did: shown by the CLI, kept on the model as `model.load_report`."""
    source: str
    layout: str
    task: str
    loaded: list
    initialized: list
    unused: list
    tie_warnings: list

    def summary(self):
        lines = [f"source: {self.source}", f"layout: {self.layout}  ({len(self.layout.split('|'))} layers)",
                 f"task: {self.task}", f"loaded: {len(self.loaded)} tensors"]
        if self.initialized:
            lines.append(f"newly initialized (not in the checkpoint; train before use): {self.initialized}")
        if self.unused:
            lines.append(f"unused checkpoint tensors (another head's): {self.unused}")
        lines += [f"warning: {w}" for w in self.tie_warnings]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------- reading

def _strip_prefix(state):
    """Accept checkpoints saved from HATModel itself (no `hi_transformer.` prefix, or upstream's `hat.`)."""
    if any(k.startswith(ENCODER_PREFIX) for k in state):
        return state
    for prefix in ("hat.", ""):
        if f"{prefix}embeddings.word_embeddings.weight" in state:
            return {(ENCODER_PREFIX + k[len(prefix):] if k.startswith(prefix + "embeddings.")
                     or k.startswith(prefix + "encoder.") else k): v for k, v in state.items()}
    return state


def layout_from_keys(state):
    """Spec §5.1: layer i has S iff a `layer.{i}.sentence_encoder.` key exists, D iff `document_encoder.`."""
    kinds = {}
    for k in state:
        m = re.match(r"hi_transformer\.encoder\.layer\.(\d+)\.(sentence|document)_encoder\.", k)
        if m:
            kinds.setdefault(int(m.group(1)), set()).add(m.group(2))
    if not kinds:
        return None
    n = max(kinds) + 1
    return "|".join(("S" if "sentence" in kinds.get(i, ()) else "") + ("D" if "document" in kinds.get(i, ()) else "")
                    for i in range(n))


def check_layout(config, state, source):
    from_keys = layout_from_keys(state)
    if from_keys is None:
        raise CheckpointError(f"{source}: no `hi_transformer.encoder.layer.*` tensors: not a HAT checkpoint")
    if from_keys != config.layout:
        raise HATConfigError(f"{source}: config.json encoder_layout is {config.layout!r} but the weights hold "
                             f"{from_keys!r}; fix the config (the weights define the layers)")


def resolve_ties(config, state, source):
    """Spec §5.3: word embeddings feed the decoder; lm bias = decoder.bias; first D table for all D layers."""
    warns = []
    state = dict(state)

    def same(a, b):
        return a.shape == b.shape and np.array_equal(a, b)

    word = ENCODER_PREFIX + "embeddings.word_embeddings.weight"
    if "lm_head.decoder.weight" in state:
        dec = state.pop("lm_head.decoder.weight")
        if word in state and not same(dec, state[word]):
            warns.append("lm_head.decoder.weight differs from the word embeddings; the word embeddings are used "
                         "for both (as transformers ties them)")
    if "lm_head.decoder.bias" in state:
        dbias = state.pop("lm_head.decoder.bias")
        if "lm_head.bias" in state and not same(dbias, state["lm_head.bias"]):
            warns.append("lm_head.bias differs from lm_head.decoder.bias; lm_head.decoder.bias is used")
        state["lm_head.bias"] = dbias
    d_layers = [i for i, b in enumerate(config.layout.split("|")) if "D" in b]
    tables = [f"{ENCODER_PREFIX}encoder.layer.{i}.position_embeddings.weight" for i in d_layers]
    present = [t for t in tables if t in state]
    if present:
        first = state[present[0]]
        if any(not same(state[t], first) for t in present[1:]):
            warns.append(f"the D layers' position_embeddings differ; {present[0]} is used for all (tied upstream)")
        for t in tables:
            state[t] = first
    pid = state.pop(ENCODER_PREFIX + "embeddings.position_ids", None)
    if pid is not None:
        pad, K = config.pad_token_id, config.max_sentence_length
        want = np.tile(np.arange(pad + 1, K + pad + 1), pid.size // K if pid.size % K == 0 else 0)
        if pid.size % K or not np.array_equal(pid.reshape(-1), want):
            raise CheckpointError(f"{source}: hi_transformer.embeddings.position_ids is not "
                                  f"tile(arange({pad + 1}, {K + pad + 1})): the checkpoint's segment geometry "
                                  f"disagrees with max_sentence_length={K}")
    for w in warns:
        warnings.warn(f"{source}: {w}", stacklevel=3)
    return state, warns


def check_tensor(key, value, source):
    """A weight must be a finite floating-point array: an integer dtype means a wrong header (e.g. F32
    bytes labelled I32, which reads as values around 1e9) or a file that holds no HAT weights."""
    dtype = np.asarray(value).dtype
    if dtype.kind != "f" and dtype.name != "bfloat16":
        raise CheckpointError(f"{source}: tensor {key!r} has dtype {dtype.name}; HAT weights are floating point "
                              "(F32, F16 or BF16): the file's header is wrong or it is not a HAT checkpoint")
    if not np.all(np.isfinite(value)):
        raise CheckpointError(f"{source}: tensor {key!r} holds NaN or infinite values")


def load_state_dict(model, state, source="<state dict>", config=None, strict_head=False, new_head=False):
    """Assign HF tensors to a built Keras model. Encoder tensors must all be present with the right shapes;
    head tensors that are absent are left as initialised and reported. Raises one error listing every
    missing, unexpected and mis-shaped key. `new_head=True`: the caller is about to train the head, so
    its newly initialised weights are expected (still in the report, not warned about)."""
    state = _strip_prefix(state)
    config = config or hat_config_of(model)
    check_layout(config, state, source)
    state, tie_warnings = resolve_ties(config, state, source)
    ports = model_ports(model)
    missing, bad_shape, assignments, initialized = [], [], [], []
    for port in ports:
        absent = [k for k in port.keys if k not in state]
        if absent:
            (initialized if port.head and not strict_head else missing).extend(absent)
            continue
        for key in port.keys:
            check_tensor(key, state[key], source)
        # Each HF tensor's own expected shape (the model's variable in HF layout), so that a mis-shaped
        # tensor is named before the conversion (a fused QKV concatenation) could fail on it.
        wants = [tuple(a.shape) for a in port.to_hf(np.zeros(tuple(port.variable.shape), np.float32))]
        wrong = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {w}"
                 for k, w in zip(port.keys, wants) if tuple(state[k].shape) != w]
        if wrong:
            bad_shape.extend(wrong)
            continue
        assignments.append((port, port.to_keras([state[k] for k in port.keys])))
    consumed = {k for p in ports for k in p.keys}
    leftover = sorted(k for k in state if k not in consumed and not _IGNORED.search(k))
    unexpected = [k for k in leftover if k.startswith(ENCODER_PREFIX)]
    unused = [k for k in leftover if not k.startswith(ENCODER_PREFIX)]
    problems = []
    if missing:
        problems.append(f"missing keys: {missing}")
    if unexpected:
        problems.append(f"unexpected keys: {unexpected}")
    if bad_shape:
        problems.append(f"shape mismatches: {bad_shape}")
    if problems:
        raise CheckpointError(f"{source}: does not fit {type(model).__name__} ({config.layout}):\n  "
                              + "\n  ".join(problems))
    for port, value in assignments:
        port.variable.assign(value.astype(port.variable.dtype))
    report = LoadReport(source=str(source), layout=config.layout, task=type(model).__name__,
                        loaded=sorted(k for p, _ in assignments for k in p.keys), initialized=sorted(initialized),
                        unused=unused, tie_warnings=tie_warnings)
    if initialized and not new_head:
        logger.warning("Some weights of %s were not initialized from the checkpoint at %s and are newly "
                       "initialized: %s\nYou should probably train this model on a down-stream task.",
                       type(model).__name__, source, initialized)
    return report


# ----------------------------------------------------------------------------------------------- build

def _infer_task(config, state, task, source):
    """`task` if given; else the checkpoint's `architectures`; else its head keys; else the backbone."""
    if task is not None:
        return HATTask.resolve(task)
    for arch in config.get("architectures") or []:
        found = HATTask.for_architecture(arch)
        if found is not None:
            return found
    found = HATTask.for_state(state)
    if found is None:
        logger.info("%s: no head recognised; returning the backbone", source)
    return found or HATBackbone


def build_model(config, task, pooling=None, state=None, use_segment_position_embeddings=False, dtype=None,
                compact=None, **task_kwargs):
    """A randomly initialised Keras model of a task (class or name) for a HATConfig; `state` (the
    checkpoint's keys) settles choices the config leaves open, such as attentive pooling. `compact`:
    None follows the config's `compact` key; True / False override it."""
    task_cls = HATTask.resolve(task)
    overrides = {} if compact is None else {"compact": bool(compact)}
    backbone = HATBackbone.from_hat_config(config, use_segment_position_embeddings=use_segment_position_embeddings,
                                           dtype=dtype, **overrides)
    if task_cls is HATBackbone:
        return backbone
    return task_cls.from_hat_config(config, backbone, state=state, pooling=pooling, **task_kwargs)


def load_hf_checkpoint(path, task=None, pooling=None, use_segment_position_embeddings=False, num_labels=None,
                       problem_type=None, load_tokenizer=True, dtype=None, new_head=False, compact=None,
                       **task_kwargs):
    """Load an HF-format HAT checkpoint folder (config.json + model.safetensors / pytorch_model.bin).

    The HF branch of `hat_keras.load`, which is how the rest of the package and its users open models.

    task: None (from `architectures` and the keys), a task class, or a name from `HATTask.names()`:
    "backbone", "masked_lm", "text_classifier", "sequential_sentence_classifier", "multiple_choice",
    "token_classifier".
    pooling: for classifiers ("max", "attentive", "first", "last"); upstream passes it to the constructor.
    num_labels: override the config's label count (e.g. a new head on a pre-trained MLM checkpoint).
    problem_type: override the config's `problem_type` (single_label_classification, multi_label_classification,
    regression).
    dtype: a Keras dtype policy ("float32" default, "mixed_bfloat16", "float64" for exactness checks).
    new_head: True when the caller trains the head next (fine-tuning): no "newly initialized" warning for it.
    compact: None (default) as config.json says (`"compact": true`, else upstream pooling); True / False
    override it, e.g. to fine-tune a compact classifier on a released encoder.
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path}: not a checkpoint folder (config.json plus weights)")
    config = HATConfig.from_pretrained(path)
    if num_labels is not None:
        config.num_labels = int(num_labels)
        config._values.pop("id2label", None)
        config._values.pop("label2id", None)
    if problem_type is not None:
        config.problem_type = problem_type
    state = _strip_prefix(read_state_dict(path))
    task_cls = _infer_task(config, state, task, path)
    check_layout(config, state, path)
    model = build_model(config, task_cls, pooling=pooling, state=state,
                        use_segment_position_embeddings=use_segment_position_embeddings, dtype=dtype,
                        compact=compact, **task_kwargs)
    report = load_state_dict(model, state, source=path, config=config, new_head=new_head)
    model.hat_config = config
    model.load_report = report
    if load_tokenizer and getattr(task_cls, "preprocessor_cls", None) is not None:
        _attach_preprocessor(model, path)
    return model


def _attach_preprocessor(model, path):
    """Attach the checkpoint's tokenizer and the task's preprocessor when the tokenizer files are there,
    so `fit`/`predict` take raw strings (keras-hub style)."""
    from hat_keras.tokenization import HATTokenizer, check_vocabulary_size

    tokenizer = HATTokenizer.from_pretrained(path, missing_ok=True)
    if tokenizer is not None:
        check_vocabulary_size(tokenizer, model.backbone.vocabulary_size, path)
        model.preprocessor = type(model).preprocessor_cls(tokenizer)


# ------------------------------------------------------------------------------------------------ save

def hat_config_of(model, **extra):
    """The HATConfig of a Keras model: its own if it came from a checkpoint, else built from its backbone."""
    backbone = model if isinstance(model, HATBackbone) else model.backbone
    base = getattr(model, "hat_config", None)
    kw = backbone.get_config()
    fields = base.to_dict() if base is not None else {}
    derived = HATConfig.from_backbone_kwargs(kw).to_dict()
    for k in ("vocab_size", "hidden_size", "num_attention_heads", "intermediate_size", "encoder_layout",
              "num_hidden_layers", "max_sentence_length", "max_sentences", "type_vocab_size", "pad_token_id",
              "layer_norm_eps", "hidden_act"):
        fields[k] = derived[k]
    for k, v in derived.items():
        fields.setdefault(k, v)
    fields["model_max_length"] = max(fields.get("model_max_length", 0), kw["segment_length"] * kw["max_segments"]) \
        if base is not None else derived["model_max_length"]
    fields["max_sentence_size"] = kw["segment_length"]
    if backbone.compact:  # every runtime reading config.json pools as the model does
        fields["compact"] = True
    else:
        fields.pop("compact", None)  # released-checkpoint semantics: no key, as upstream writes it
    fields["architectures"] = [type(model).architectures[0]]
    fields.setdefault("auto_map", dict(AUTO_MAP))
    num_classes = getattr(model, "num_classes", None)
    if num_classes is not None:
        fields["num_labels"] = int(num_classes)
        if fields.get("id2label") and len(fields["id2label"]) != num_classes:
            fields.pop("id2label"), fields.pop("label2id", None)
        fields.setdefault("id2label", {str(i): f"LABEL_{i}" for i in range(num_classes)})
        fields.setdefault("label2id", {v: int(k) for k, v in fields["id2label"].items()})
    names = getattr(model, "label_names", None)
    if names and len(names) == num_classes:
        fields["id2label"] = {str(i): n for i, n in enumerate(names)}
        fields["label2id"] = {n: i for i, n in enumerate(names)}
    if getattr(model, "problem_type", None):
        fields["problem_type"] = model.problem_type
    fields.update(extra)
    return HATConfig(**fields)


def export_state_dict(model):
    """{HF key: array} for a Keras model, with upstream's names (position_ids buffer included)."""
    state = {}
    for port in model_ports(model):
        for k, v in zip(port.keys, port.to_hf(np.asarray(port.variable.numpy(), dtype=np.float32))):
            state[k] = np.ascontiguousarray(v)
    backbone = model if isinstance(model, HATBackbone) else model.backbone
    pad, K, N = backbone.pad_token_id, backbone.segment_length, backbone.max_segments
    position_ids = np.tile(np.arange(pad + 1, K + pad + 1), N)[None].astype(np.int64)
    state[ENCODER_PREFIX + "embeddings.position_ids"] = position_ids
    return state


def save_pretrained(model, directory, **config_extra):
    """Write `config.json` + `model.safetensors` with the original key names (loadable by the PyTorch code).

    Tied copies are left out as transformers leaves them out (`lm_head.decoder.*`); the loader re-ties them.
    Written to a temporary folder first, so a failure leaves nothing half-written at `directory`.
    """
    directory = os.fspath(directory)
    config = hat_config_of(model, **config_extra)
    state = export_state_dict(model)
    parent = os.path.dirname(os.path.abspath(directory)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".hat_save_", dir=parent)
    try:
        config.save_pretrained(tmp)
        write_safetensors(state, os.path.join(tmp, "model.safetensors"))
        tokenizer = getattr(getattr(model, "preprocessor", None), "tokenizer", None)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(tmp):
            os.replace(os.path.join(tmp, name), os.path.join(directory, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def describe(model):
    """Layout and parameter counts for `hat-keras info` / `convert`."""
    backbone = model if isinstance(model, HATBackbone) else model.backbone
    return {"task": type(model).__name__, "layout": backbone.layout,
            "segments": f"{backbone.max_segments} x {backbone.segment_length} tokens",
            "compact": bool(backbone.compact),
            "encoder_parameters": int(backbone.count_params()), "total_parameters": int(model.count_params())}


def layout_string(config):
    return layout_to_string(config.encoder_layout)
