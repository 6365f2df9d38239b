"""What an export starts from: the Keras model plus what must travel with it (labels, geometry, vocabulary)."""
import dataclasses
import json
import os

import numpy as np

from hat_keras.models.task import model_label_names


class ExportError(RuntimeError):
    """An export could not be produced (bad input, converter failure)."""


@dataclasses.dataclass
class ExportSource:
    model: object                 # a HATTextClassifier (or any HAT task taking token_ids/padding_mask)
    labels: list                  # class names, index order
    segment_length: int           # K
    max_segments: int             # N (config.json max_sentences)
    vocab_path: str = None        # vocab.txt of the tokenizer, when known
    tokenizer_dir: str = None     # folder HATTokenizer.from_pretrained can read
    name: str = "hat"
    tokenizer: object = None      # the model's own HATTokenizer, when no folder holds its vocabulary
    segmentation: str = None      # the model's preprocessor's segmentation (the exports' default)

    @property
    def sequence_length(self):
        return self.segment_length * self.max_segments

    @property
    def backbone(self):
        return self.model if not hasattr(self.model, "backbone") else self.model.backbone

    def geometry(self):
        b = self.backbone
        return {"max_segments": self.max_segments, "segment_length": self.segment_length,
                "sequence_length": self.sequence_length, "pad_token_id": int(b.pad_token_id),
                "vocab_size": int(b.vocabulary_size), "layout": b.layout,
                "inputs": ["token_ids", "padding_mask"], "input_dtype": "int32",
                "compact": bool(getattr(b, "compact", False))}  # runtimes show only real segments then

    def hf_config(self):
        from hat_keras.convert.hf import hat_config_of
        return hat_config_of(self.model, id2label={str(i): n for i, n in enumerate(self.labels)},
                             label2id={n: i for i, n in enumerate(self.labels)}).to_dict()

    def with_tokenizer_files(self, folder):
        """This source with its own tokenizer written to `folder` (vocab_path and tokenizer_dir set), so
        exports can bundle it; unchanged when the tokenizer already lives in a folder or there is none."""
        if self.tokenizer_dir or self.tokenizer is None:
            return self
        from hat_keras.exporting.text import write_tokenizer_files
        folder = write_tokenizer_files(self.tokenizer, folder)
        vocab = os.path.join(folder, "vocab.txt")
        return dataclasses.replace(self, tokenizer_dir=folder, vocab_path=vocab if os.path.exists(vocab) else None)

    def logits(self, token_ids, padding_mask, batch_size=8):
        """The Keras reference: logits as float32 numpy."""
        outs = []
        for i in range(0, len(token_ids), batch_size):
            out = self.model({"token_ids": token_ids[i:i + batch_size], "padding_mask": padding_mask[i:i + batch_size]},
                             training=False)
            outs.append(np.asarray(out, dtype=np.float32))
        return np.concatenate(outs)


def load_model(path):
    """A `.keras` file, an HF-format checkpoint folder (config.json + weights) or a Keras preset folder."""
    from hat_keras.loading import ModelNotFound, load

    try:
        return load(path)
    except ModelNotFound as e:
        raise ExportError(str(e).replace("no such file or folder", "no such model file or folder")) from None


def is_document_classifier(model):
    """Whether the task of `model` classifies whole documents (`HATTask.document_classifier`), the one kind
    serving exports and `predict` take; token and sentence classifiers also have classes, but per token."""
    return bool(getattr(type(model), "document_classifier", False))


def _find_tokenizer_dir(*candidates):
    for c in candidates:
        if c and os.path.isdir(c) and os.path.exists(os.path.join(c, "vocab.txt")):
            return c
    return None


def make_source(model, labels=None, tokenizer=None, name="hat", model_path=None, workdir=None):
    """Wrap a model (object or path) with its labels and tokenizer; one-line errors for bad input.

    The tokenizer is, in this order: the `tokenizer` folder, a vocab.txt beside the model, or the model's
    own (its preprocessor's, e.g. inside a `.keras` file): that one is kept as `source.tokenizer` and
    written as files under `workdir` when given (`source.with_tokenizer_files(folder)` does it later)."""
    if isinstance(model, (str, os.PathLike)):
        model_path = os.fspath(model)
        model = load_model(model_path)
    if not is_document_classifier(model):
        raise ExportError(f"{type(model).__name__}: only document classifiers (HATTextClassifier) can be exported "
                          "for serving; load the checkpoint with task='text_classifier'")
    num_classes = model.num_classes
    if labels is None:
        labels = model_label_names(model, num_classes)
    elif isinstance(labels, (str, os.PathLike)):
        with open(labels, encoding="utf-8") as f:
            labels = [line.strip() for line in f if line.strip()]
    labels = [str(x) for x in labels]
    if len(labels) != num_classes:
        raise ExportError(f"{len(labels)} labels given for a model with {num_classes} classes")
    backbone = model.backbone
    model_dir = model_path if model_path and os.path.isdir(model_path) else (
        os.path.dirname(model_path) if model_path else None)
    tok_dir = _find_tokenizer_dir(os.fspath(tokenizer) if tokenizer else None, model_dir)
    if tokenizer and tok_dir is None:
        raise ExportError(f"{tokenizer}: no vocab.txt there (expected a tokenizer folder)")
    preprocessor = getattr(model, "preprocessor", None)
    own = getattr(preprocessor, "tokenizer", None) if tok_dir is None else None
    source = ExportSource(model=model, labels=labels, segment_length=int(backbone.segment_length),
                          max_segments=int(backbone.max_segments),
                          vocab_path=os.path.join(tok_dir, "vocab.txt") if tok_dir else None,
                          tokenizer_dir=tok_dir, name=name, tokenizer=own,
                          segmentation=getattr(preprocessor, "segmentation", None))
    return source.with_tokenizer_files(os.path.join(workdir, "tokenizer")) if workdir else source


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=False, default=_json_default)
        f.write("\n")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)
