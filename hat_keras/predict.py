"""`hat-keras predict`: one code path for `.keras`, SavedModel and `.tflite` document classifiers.

Each runs in its own runtime: Keras, TensorFlow (the SavedModel's `classify_text`, in-graph tokenization)
and the LiteRT interpreter (host tokenizer from the vocabulary bundled inside the `.tflite`).
"""
import codecs
import json
import os

import numpy as np


class PredictError(ValueError):
    pass


def _softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _saved_model_dir(path):
    """A SavedModel folder, or a TF Serving model root (highest numeric version)."""
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    versions = [d for d in os.listdir(path) if d.isdigit() and os.path.exists(os.path.join(path, d, "saved_model.pb"))]
    if not versions:
        subdirs = [os.path.join(path, d) for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))]
        for sub in subdirs:  # OUT/NAME/VERSION as written by `hat-keras export`
            found = _saved_model_dir(sub) if os.path.isdir(sub) else None
            if found:
                return found
        return None
    return os.path.join(path, max(versions, key=int))


class Classifier:
    """`Classifier.load(path)(texts) -> (labels, probabilities)` for any supported artifact."""

    def __init__(self, run, labels, kind):
        self._run, self.labels, self.kind = run, list(labels), kind

    def __call__(self, texts):
        probs = np.asarray(self._run(list(texts)), dtype=np.float32)
        return [self.labels[i] for i in probs.argmax(-1)], probs

    @classmethod
    def load(cls, path, segmentation=None):
        path = os.fspath(path)
        if not os.path.exists(path):
            raise PredictError(f"{path}: no such model file or folder")
        if path.endswith(".tflite"):
            return cls._tflite(path)
        if os.path.isdir(path) and _saved_model_dir(path):
            return cls._saved_model(_saved_model_dir(path))
        return cls._keras(path, segmentation)

    @classmethod
    def _tflite(cls, path):
        from hat_keras.exporting.tflite import TFLiteTextClassifier

        try:
            runner = TFLiteTextClassifier(path)
        except Exception as e:  # a .tflite without the bundled vocabulary/labels
            raise PredictError(f"{path}: not a hat-keras .tflite with bundled vocabulary and labels ({e})") from None
        return cls(runner, runner.labels, "tflite")

    @classmethod
    def _saved_model(cls, path):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the tokenizer ops, as TF Serving links them)

        loaded = tf.saved_model.load(path)
        if "classify_text" not in loaded.signatures:
            raise PredictError(f"{path}: this SavedModel has no classify_text signature (exported without a "
                               "tokenizer); send token ids to serving_default instead")
        fn = loaded.signatures["classify_text"]

        def run(texts):
            return fn(text=tf.constant(texts))["probabilities"].numpy()

        names = fn(text=tf.constant([""]))["label_names"].numpy()[0]
        return cls(run, [n.decode() for n in names], "saved_model")

    @classmethod
    def _keras(cls, path, segmentation):
        from hat_keras.exporting.source import load_model
        from hat_keras.exporting.source import _labels_of

        model = load_model(path)
        if getattr(model, "num_classes", None) is None:
            raise PredictError(f"{path}: {type(model).__name__} is not a document classifier")
        pre = getattr(model, "preprocessor", None)
        if pre is None:
            raise PredictError(f"{path}: the model has no tokenizer attached (put vocab.txt beside the checkpoint, "
                               "or save the model with its preprocessor)")
        if segmentation:
            pre.segmentation = segmentation

        def run(texts):
            logits = np.asarray(model.predict(texts, verbose=0))  # the attached preprocessor tokenizes
            return 1 / (1 + np.exp(-logits)) if getattr(model, "problem_type", "") == "multi_label_classification" \
                else _softmax(logits)

        return cls(run, _labels_of(model, model.num_classes), "keras")


# Byte-order marks, longest first (UTF-32 LE starts with the UTF-16 LE mark).
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def read_text_file(path, encoding=None):
    """A document's text, or PredictError naming the file: missing, empty, binary (NUL bytes), or not
    decodable. The encoding is `encoding` when given, else the file's byte-order mark, else UTF-8; nothing
    is decoded with replacement characters."""
    if not os.path.isfile(path):
        raise PredictError(f"{path}: no such text file")
    with open(path, "rb") as f:
        raw = f.read()
    if not raw.strip():
        raise PredictError(f"{path}: empty file (no text to classify)")
    detected = next((enc for bom, enc in BOMS if raw.startswith(bom)), None)
    enc = encoding or detected or "utf-8"
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError as e:
        binary = b"\0" in raw and detected is None
        what = "binary file (NUL bytes), not text" if binary else \
            f"not {enc} text (byte 0x{raw[e.start]:02x} at offset {e.start})"
        raise PredictError(f"{path}: {what}; pass --encoding (e.g. latin-1, utf-16) if it is text") from None
    if "\0" in text:
        raise PredictError(f"{path}: binary file (NUL characters after decoding as {enc}), not text; pass "
                           "--encoding if it is text in another encoding")
    if not text.strip():
        raise PredictError(f"{path}: empty file (no text to classify)")
    return text


def predict_files(model_path, files, as_json=False, segmentation=None, out=print, encoding=None, skip_bad=False,
                  err=None):
    """Classify text files. Files that are not text get one error line each (`err`); without `skip_bad`
    nothing is classified then and PredictError is raised, with it the other files are classified."""
    import sys
    err = err or (lambda msg: print(msg, file=sys.stderr))
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise PredictError(f"--encoding {encoding}: unknown encoding") from None
    texts, good, bad = [], [], []
    for f in files:
        try:
            texts.append(read_text_file(f, encoding))
            good.append(f)
        except PredictError as e:
            bad.append(str(e))
    for msg in bad:
        err(f"hat-keras predict: {'skipped' if skip_bad else 'error'}: {msg}")
    if bad and not skip_bad:
        raise PredictError(f"{len(bad)} of {len(files)} files are not readable text (see above); nothing was "
                           "classified (--skip-bad classifies the others)")
    if not good:
        raise PredictError("no readable text file to classify")
    files = good
    clf = Classifier.load(model_path, segmentation)
    labels, probs = clf(texts)
    results = []
    for f, label, p in zip(files, labels, probs):
        row = {"file": f, "label": label, "probabilities": {n: round(float(v), 6) for n, v in zip(clf.labels, p)}}
        results.append(row)
        if as_json:
            out(json.dumps(row))
        else:
            out(f"{f}\t{label}\t" + "  ".join(f"{n}={v:.4f}" for n, v in row["probabilities"].items()))
    return results
