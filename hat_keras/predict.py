"""`hat-keras predict`: one code path for `.keras`, SavedModel and `.tflite` document classifiers.

Each runs in its own runtime: Keras, TensorFlow (the SavedModel's `classify_text`, in-graph tokenization)
and the LiteRT interpreter (host tokenizer from the vocabulary bundled inside the `.tflite`); the SavedModel
and LiteRT clients are `hat_keras.runtime`'s, shared with the exporters and benchmarks.
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


MODEL_FILES = (".keras", ".tflite")


def find_model(path):
    """The model `predict` runs for `path`: a file as given; a folder that is a model as it is (a SavedModel,
    a TF Serving model root -- its highest version --, or a checkpoint or preset folder with config.json); any
    other folder only when exactly one finished model lies in it, at any depth. Hidden folders, among them
    unfinished exports (`.OUT.partial-*`, `hat_keras.staging`), are not searched, and a path inside one is
    refused. PredictError naming the candidates otherwise."""
    from hat_keras.staging import is_partial

    if any(is_partial(part) for part in os.path.abspath(path).split(os.sep)):
        raise PredictError(f"{path}: inside an unfinished export (a .partial folder of an export that is running "
                           "or was killed), not a finished model")
    if not os.path.isdir(path):
        return path
    own = _model_folder(path)
    if own:
        return own
    found = []
    for folder, subfolders, files in os.walk(path):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        model = _model_folder(folder) if folder != path else None
        if model:
            found.append(model)
            subfolders[:] = []
            continue
        found += [os.path.join(folder, f) for f in sorted(files) if f.endswith(MODEL_FILES)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise PredictError(f"{path}: no model in this folder (a .keras or .tflite file, a SavedModel, or a "
                           "checkpoint or preset folder with config.json)")
    names = ", ".join(os.path.relpath(f, path) for f in found)
    raise PredictError(f"{path}: {len(found)} models in this folder ({names}); pass the one to use")


def _model_folder(path):
    """`path` if it is a SavedModel or a checkpoint / preset folder, the highest version of a TF Serving model
    root, else None."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")) or os.path.isfile(os.path.join(path, "config.json")):
        return path
    versions = [d for d in os.listdir(path) if d.isdigit() and os.path.isfile(os.path.join(path, d, "saved_model.pb"))]
    return os.path.join(path, max(versions, key=int)) if versions else None


def _documents(texts):
    """(list of documents, whether `texts` was one string): a string is one document, as the tokenizer takes
    it, not a sequence of one-character documents; anything else must be a sequence of strings."""
    from hat_keras.tokenization.tokenizer import check_text_inputs

    if isinstance(texts, str):
        return [texts], True
    texts = list(texts)
    check_text_inputs(texts, "Classifier")
    return texts, False


class Classifier:
    """`Classifier.load(path)(texts) -> (labels, probabilities)` for any supported artifact.

    `texts`: a list of documents -> (B labels, probabilities (B, C)); one string is one document -> (label,
    probabilities (C,)), without the batch axis, as `HATTokenizer` does for a string. An empty list gives
    `([], (0, C))` on every runtime, as the SavedModel's signatures do.
    `explain(texts)` also returns each segment's contribution (`hat_keras.explain`) and text, where the
    artifact can give them (`.keras`/checkpoints, and the web export's `.tflite`)."""

    def __init__(self, run, labels, kind, explain=None):
        self._run, self.labels, self.kind, self._explain = run, list(labels), kind, explain

    def __call__(self, texts):
        batch, single = _documents(texts)
        probs = np.asarray(self._run(batch), dtype=np.float32)
        labels = [self.labels[i] for i in probs.argmax(-1)]
        return (labels[0], probs[0]) if single else (labels, probs)

    def explain(self, texts):
        """(labels, probabilities (B, C), contributions (B, N), segment texts: B lists of N strings); for one
        string, the same without the batch axis."""
        if self._explain is None:
            raise PredictError(f"--explain needs a .keras file, a checkpoint or the web export's model.tflite "
                               f"(this {self.kind} model has no segment contributions)")
        batch, single = _documents(texts)
        probs, contributions, segments = self._explain(batch)
        probs, contributions = np.asarray(probs, np.float32), np.asarray(contributions, np.float32)
        labels = [self.labels[i] for i in probs.argmax(-1)]
        if single:
            return labels[0], probs[0], contributions[0], segments[0]
        return labels, probs, contributions, segments

    @classmethod
    def load(cls, path, segmentation=None):
        from hat_keras.tokenization.segmentation import check_segmentation

        path = os.fspath(path)
        if segmentation is not None:
            check_segmentation(segmentation)
        if not os.path.exists(path):
            raise PredictError(f"{path}: no such model file or folder")
        path = find_model(path)
        if path.endswith(".tflite"):
            return cls._tflite(path, segmentation)
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            return cls._saved_model(path, segmentation)
        return cls._keras(path, segmentation)

    @classmethod
    def _tflite(cls, path, segmentation):
        from hat_keras.runtime import TFLiteTextClassifier

        try:
            runner = TFLiteTextClassifier(path, segmentation=segmentation)
        except Exception as e:  # a .tflite without the bundled vocabulary/labels
            raise PredictError(f"{path}: not a hat-keras .tflite with bundled vocabulary and labels ({e})") from None
        explain = None
        if "segment_contributions" in runner.info.get("outputs", []):
            def explain(texts):
                if not texts:
                    return (np.zeros((0, len(runner.labels)), np.float32),
                            np.zeros((0, runner.info["max_segments"]), np.float32), [])
                enc = runner.encode(texts)
                outs = [runner.runner(token_ids=enc["token_ids"][i:i + 1], padding_mask=enc["padding_mask"][i:i + 1])
                        for i in range(len(texts))]
                logits = np.concatenate([o["logits"] for o in outs])
                return (_softmax(logits), np.concatenate([o["segment_contributions"] for o in outs]),
                        _segment_texts(runner.tokenizer, enc, runner.info["max_segments"],
                                       runner.info["segment_length"]))
        return cls(runner, runner.labels, "tflite", explain)

    @classmethod
    def _saved_model(cls, path, segmentation):
        """`segmentation` other than the export's is refused: `classify_text` tokenizes in the graph, with the
        segmentation fixed when it was exported."""
        from hat_keras.runtime import SavedModelTextClassifier

        try:
            runner = SavedModelTextClassifier(path)
        except ValueError as e:
            raise PredictError(str(e)) from None
        if segmentation and segmentation != runner.segmentation:
            has = f"{runner.segmentation} segmentation" if runner.segmentation else \
                "the segmentation it was exported with (not recorded in this export)"
            raise PredictError(f"--segmentation {segmentation}: this SavedModel tokenizes in its graph with {has}; "
                               f"export it again with --segmentation {segmentation}, or classify with the .keras "
                               "model or a .tflite export, which tokenize in Python")
        return cls(runner, runner.labels, "saved_model")

    @classmethod
    def _keras(cls, path, segmentation):
        from hat_keras.exporting.source import is_document_classifier
        from hat_keras.loading import load
        from hat_keras.models.task import model_label_names

        model = load(path)
        if not is_document_classifier(model):
            raise PredictError(f"{path}: {type(model).__name__} is not a document classifier")
        pre = getattr(model, "preprocessor", None)
        if pre is None:
            raise PredictError(f"{path}: the model has no tokenizer attached (put vocab.txt beside the checkpoint, "
                               "or save the model with its preprocessor)")
        if segmentation:
            pre.segmentation = segmentation

        def activate(logits):
            return 1 / (1 + np.exp(-logits)) if getattr(model, "problem_type", "") == "multi_label_classification" \
                else _softmax(logits)

        def run(texts):
            return activate(np.asarray(model.predict(texts, verbose=0)))  # the attached preprocessor tokenizes

        def explain(texts):
            from hat_keras.explain import classify_with_contributions
            if not texts:
                return (np.zeros((0, model.num_classes), np.float32),
                        np.zeros((0, model.backbone.max_segments), np.float32), [])
            x = pre(texts)
            logits, contributions = classify_with_contributions(model, x)
            return (activate(np.asarray(logits)), np.asarray(contributions),
                    _segment_texts(pre.tokenizer, x, model.backbone.max_segments, model.backbone.segment_length))

        return cls(run, model_label_names(model, model.num_classes), "keras", explain)


def _segment_texts(tokenizer, encoded, max_segments, segment_length):
    """Per document, each segment's WordPiece tokens joined back into text ("" for a padding segment)."""
    vocab = tokenizer.get_vocabulary()
    ids = np.asarray(encoded["token_ids"]).reshape(-1, max_segments, segment_length)
    mask = np.asarray(encoded["padding_mask"]).reshape(-1, max_segments, segment_length)
    out = []
    for doc_ids, doc_mask in zip(ids, mask):
        texts = []
        for seg_ids, seg_mask in zip(doc_ids, doc_mask):
            words = []
            for i in seg_ids[1:][seg_mask[1:] > 0]:
                token = vocab[int(i)]
                if token.startswith("##") and words:
                    words[-1] += token[2:]
                else:
                    words.append(token)
            texts.append(" ".join(words))
        out.append(texts)
    return out


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
                  err=None, explain=False):
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
    if explain:
        labels, probs, contributions, segments = clf.explain(texts)
    else:
        labels, probs = clf(texts)
    results = []
    for d, (f, label, p) in enumerate(zip(files, labels, probs)):
        row = {"file": f, "label": label, "probabilities": {n: round(float(v), 6) for n, v in zip(clf.labels, p)}}
        if explain:
            row["segments"] = [{"contribution": round(float(c), 6), "text": t}
                               for c, t in zip(contributions[d], segments[d])]
        results.append(row)
        if as_json:
            out(json.dumps(row))
        else:
            out(f"{f}\t{label}\t" + "  ".join(f"{n}={v:.4f}" for n, v in row["probabilities"].items()))
            for i, seg in enumerate(row.get("segments", [])):
                text = seg["text"] or "(padding)"
                out(f"  segment {i + 1}\t{100 * seg['contribution']:5.1f}%\t{text[:100]}")
    return results
