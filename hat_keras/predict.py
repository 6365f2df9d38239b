"""`hat-keras predict`: one code path for `.keras`, SavedModel and `.tflite` document classifiers.

Each runs in its own runtime: Keras, TensorFlow (the SavedModel's `classify_text`, in-graph tokenization)
and the LiteRT interpreter (host tokenizer from the vocabulary bundled inside the `.tflite`); the SavedModel
and LiteRT clients are `hat_keras.runtime`'s, shared with the exporters and benchmarks.
"""
import codecs
import dataclasses
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


LONG = ("truncate", "windows")  # --long: what to do with a document longer than max_segments x segment_length


def check_long(long):
    if long not in LONG:
        raise PredictError(f"--long {long}: choose one of {', '.join(LONG)}")
    return long


@dataclasses.dataclass
class Reading:
    """What a classifier read of one document, in sub-word tokens of its text (the [CLS] that starts each
    segment is not counted): `tokens` of the text's `document_tokens`, in `segments` real (not padding)
    segments, over `windows` windows (1 with --long truncate). `tokens < document_tokens` means part of the
    text was not read: the end, when truncated; with `sentences` segmentation also the tail of a sentence
    longer than a segment (upstream's rule), in either mode."""
    segments: int
    tokens: int
    document_tokens: int
    windows: int = 1

    def as_dict(self):
        return dataclasses.asdict(self)

    def describe(self):
        text = f"read {self.segments} segments, {self.tokens:,} of {self.document_tokens:,} tokens"
        return text + (f" in {self.windows} windows" if self.windows > 1 else "")


def read_counts(padding_mask, segment_length):
    """(B, N·K) padding masks -> per document (real segments, tokens in them). A segment is real when its first
    position (its [CLS]) is; its other real positions are the text's sub-word tokens."""
    mask = np.asarray(padding_mask).reshape(len(padding_mask), -1, segment_length)
    segments = (mask[:, :, 0] > 0).sum(axis=1)
    return segments, mask.sum(axis=(1, 2)) - segments


def mix_windows(probabilities, tokens):
    """The document's probabilities (C,) from its windows' (W, C): their mean, weighted by each window's tokens.

    A mean of probabilities (not of logits) is itself a probability, for softmax and multi-label sigmoid heads
    alike, and lets each window's confidence count. Weighted by tokens because the last window is usually
    partial: with equal weights a few words that spill over into a last window would count as much as a full
    window of text, and the answer would swing with where the document happens to end. A document of full
    windows gets the plain mean; an empty one (no tokens) the mean of its one window."""
    weights = np.asarray(tokens, np.float64)
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    return (weights[:, None] * np.asarray(probabilities, np.float64)).sum(axis=0) / weights.sum()


class Reader:
    """How one runtime reads documents, so that `long`, the counts and --explain work alike on every runtime.

    `tokenizer`: the host HATTokenizer that segments texts as the runtime does (`segmentation`, `max_segments`);
    `probabilities(ids)`: (B, C) for (B, N·K) token ids and padding mask; `encode(texts)` (default: the host
    tokenizer): the ids the runtime classifies; `contributions(ids)`: (probabilities, (B, N) segment
    contributions) where the runtime gives them; `compact`: the model pools over real segments only.
    """

    def __init__(self, tokenizer, segmentation, max_segments, probabilities, encode=None, contributions=None,
                 compact=False):
        self.tokenizer, self.segmentation, self.max_segments = tokenizer, segmentation, int(max_segments)
        self.segment_length = int(tokenizer.segment_length)
        self.probabilities, self.contributions, self.compact = probabilities, contributions, bool(compact)
        self._encode = encode

    def encode(self, texts):
        if self._encode is not None:
            return self._encode(list(texts))
        return self.tokenizer(list(texts), segmentation=self.segmentation, max_segments=self.max_segments)

    def document_tokens(self, texts):
        """Sub-word tokens of each whole text (B,), however long."""
        return np.asarray(self.tokenizer.tokenize(list(texts)).row_lengths())

    def windows(self, text):
        """One document as consecutive, non-overlapping windows of max_segments segments: (W, N·K) ids and mask.

        The text is segmented once, as the tokenizer segments it for a model with room for all of it (capacity
        N·2^j, doubled until a segment is left empty, so nothing was cut), and the segments are cut every N. So each
        window holds the tokenizer's own segments of its part of the text, no segment is split between windows
        or read twice, and the first window is exactly what truncation reads. (Tokenizing each window's text on
        its own would need the segments' character offsets to cut the text, and gives the same segments.)"""
        N, K = self.max_segments, self.segment_length
        n, tokens = N, int(self.document_tokens([text])[0])
        while (n - 1) * (K - 1) < tokens:  # a first guess from the token count: uniform needs no retry
            n *= 2
        while True:
            enc = self.tokenizer([text], segmentation=self.segmentation, max_segments=n)
            used = int(read_counts(enc["padding_mask"], K)[0][0])
            if used < n:
                break
            n *= 2
        count = max(1, -(-used // N))
        return {k: np.asarray(enc[k])[0, :count * N * K].reshape(count, N * K).astype(np.int32)
                for k in ("token_ids", "padding_mask")}


class Classifier:
    """`Classifier.load(path)(texts) -> (labels, probabilities)` for any supported artifact.

    `texts`: a list of documents -> (B labels, probabilities (B, C)); one string is one document -> (label,
    probabilities (C,)), without the batch axis, as `HATTokenizer` does for a string. An empty list gives
    `([], (0, C))` on every runtime, as the SavedModel's signatures do.
    `long`: a document longer than max_segments x segment_length tokens is truncated ("truncate", the default:
    the model reads its beginning) or classified over consecutive windows of that size whose probabilities are
    averaged, weighted by their tokens ("windows"; see `Reader.windows` and `mix_windows`).
    `read(texts)` says what was read of each document (`Reading`); `explain(texts)` also returns each
    segment's contribution (`hat_keras.explain`) and text, where the artifact can give them (`.keras` /
    checkpoints, and the web export's `.tflite`)."""

    def __init__(self, reader, labels, kind, long="truncate", run=None):
        self.reader, self.labels, self.kind, self.long = reader, list(labels), kind, check_long(long)
        self._run = run  # texts -> probabilities, where the runtime tokenizes in its own graph (SavedModel)

    @property
    def compact(self):
        return self.reader.compact

    def __call__(self, texts):
        batch, single = _documents(texts)
        probs = self._probabilities(batch)
        labels = [self.labels[i] for i in probs.argmax(-1)]
        return (labels[0], probs[0]) if single else (labels, probs)

    def _probabilities(self, batch):
        if not batch:
            return np.zeros((0, len(self.labels)), np.float32)
        if self.long == "truncate":
            out = self._run(batch) if self._run is not None else self.reader.probabilities(self.reader.encode(batch))
            return np.asarray(out, np.float32)
        rows = []
        for text in batch:
            windows = self.reader.windows(text)
            rows.append(mix_windows(self.reader.probabilities(windows),
                                    read_counts(windows["padding_mask"], self.reader.segment_length)[1]))
        return np.asarray(rows, np.float32)

    def read(self, texts):
        """What was read of each document (a `Reading`; a list of them for a list of texts). Tokenizes only."""
        batch, single = _documents(texts)
        if not batch:
            return []
        K, totals = self.reader.segment_length, self.reader.document_tokens(batch)
        if self.long == "truncate":
            segments, tokens = read_counts(self.reader.encode(batch)["padding_mask"], K)
            out = [Reading(int(s), int(t), int(d)) for s, t, d in zip(segments, tokens, totals)]
        else:
            out = []
            for text, total in zip(batch, totals):
                windows = self.reader.windows(text)
                segments, tokens = read_counts(windows["padding_mask"], K)
                out.append(Reading(int(segments.sum()), int(tokens.sum()), int(total), len(segments)))
        return out[0] if single else out

    def explain(self, texts):
        """(labels, probabilities (B, C), contributions, segment texts) and, for one string, the same without
        the batch axis. Truncated: contributions (B, N) and B lists of N texts ("" for a padding segment);
        windows: per document its windows' segments in order (W·N of them), each window's contributions
        scaled by its share of the mixed probabilities (`mix_windows`), so a document's still sum to 1."""
        if self.reader.contributions is None:
            raise PredictError(f"--explain needs a .keras file, a checkpoint or the web export's model.tflite "
                               f"(this {self.kind} model has no segment contributions)")
        batch, single = _documents(texts)
        N, K, tokenizer = self.reader.max_segments, self.reader.segment_length, self.reader.tokenizer
        if not batch:
            probs, contributions, segments = np.zeros((0, len(self.labels)), np.float32), np.zeros((0, N)), []
        elif self.long == "truncate":
            enc = self.reader.encode(batch)
            probs, contributions = self.reader.contributions(enc)
            segments = _segment_texts(tokenizer, enc, N, K)
        else:
            probs, contributions, segments = [], [], []
            for text in batch:
                windows = self.reader.windows(text)
                p, c = self.reader.contributions(windows)
                tokens = read_counts(windows["padding_mask"], K)[1].astype(np.float64)
                share = tokens / tokens.sum() if tokens.sum() > 0 else np.full(len(tokens), 1 / len(tokens))
                probs.append(mix_windows(p, tokens))
                contributions.append((np.asarray(c, np.float64) * share[:, None]).reshape(-1).astype(np.float32))
                segments.append([t for window in _segment_texts(tokenizer, windows, N, K) for t in window])
        probs = np.asarray(probs, np.float32)
        if not isinstance(contributions, list):
            contributions = np.asarray(contributions, np.float32)
        labels = [self.labels[i] for i in probs.argmax(-1)]
        if single:
            return labels[0], probs[0], contributions[0], segments[0]
        return labels, probs, contributions, segments

    @classmethod
    def load(cls, path, segmentation=None, long="truncate"):
        from hat_keras.tokenization.segmentation import check_segmentation

        path = os.fspath(path)
        check_long(long)
        if segmentation is not None:
            check_segmentation(segmentation)
        if not os.path.exists(path):
            raise PredictError(f"{path}: no such model file or folder")
        path = find_model(path)
        if path.endswith(".tflite"):
            return cls._tflite(path, segmentation, long)
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            return cls._saved_model(path, segmentation, long)
        return cls._keras(path, segmentation, long)

    @classmethod
    def _tflite(cls, path, segmentation, long):
        from hat_keras.runtime import TFLiteTextClassifier

        try:
            runner = TFLiteTextClassifier(path, segmentation=segmentation)
        except Exception as e:  # a .tflite without the bundled vocabulary/labels
            raise PredictError(f"{path}: not a hat-keras .tflite with bundled vocabulary and labels ({e})") from None
        contributions = None
        if "segment_contributions" in runner.info.get("outputs", []):
            def contributions(enc):
                outs = [runner.runner(token_ids=enc["token_ids"][i:i + 1], padding_mask=enc["padding_mask"][i:i + 1])
                        for i in range(len(enc["token_ids"]))]
                return (_softmax(np.concatenate([o["logits"] for o in outs])),
                        np.concatenate([o["segment_contributions"] for o in outs]))
        reader = Reader(runner.tokenizer, runner.segmentation, runner.info["max_segments"], runner.probabilities,
                        encode=runner.encode, contributions=contributions, compact=runner.info.get("compact", False))
        return cls(reader, runner.labels, "tflite", long)

    @classmethod
    def _saved_model(cls, path, segmentation, long):
        """`segmentation` other than the export's is refused: `classify_text` tokenizes in the graph, with the
        segmentation fixed when it was exported. Windows segment on the host with the tokenizer rebuilt from
        the assets, which needs that segmentation recorded (exports since it is)."""
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
        tokenizer = runner.host_tokenizer()
        if tokenizer is None:
            if long == "windows":
                raise PredictError(f"--long windows: {path} does not record its segmentation, so its windows cannot "
                                   "be cut as its graph would; export it again, or use the .keras model or a .tflite")
            tokenizer = _assets_tokenizer(path, runner.info)
        reader = Reader(tokenizer, runner.segmentation, runner.info["max_segments"], runner.probabilities,
                        encode=runner.encode, compact=runner.info.get("compact", False))
        return cls(reader, runner.labels, "saved_model", long, run=runner)

    @classmethod
    def _keras(cls, path, segmentation, long):
        import keras

        from hat_keras.exporting.source import is_document_classifier
        from hat_keras.inference import trim_segments
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
        backbone = model.backbone
        K = backbone.segment_length

        def activate(logits):
            return 1 / (1 + np.exp(-logits)) if getattr(model, "problem_type", "") == "multi_label_classification" \
                else _softmax(logits)

        def inputs(enc):
            """A compact model ignores trailing padded segments: they are dropped, so short texts run faster."""
            x = {k: np.asarray(enc[k], np.int32) for k in ("token_ids", "padding_mask")}
            return trim_segments(x, K) if backbone.compact else x

        def probabilities(enc):
            # keras.Model.predict: the ids as they are (the task's own predict would run the preprocessor on them)
            return activate(np.asarray(keras.Model.predict(model, inputs(enc), verbose=0), np.float64))

        def contributions(enc):
            from hat_keras.explain import classify_with_contributions

            x = inputs(enc)
            logits, contributions = classify_with_contributions(model, x)
            contributions = np.asarray(contributions)
            width = len(enc["token_ids"][0]) // K - contributions.shape[1]  # segments trimmed: contribute 0
            return activate(np.asarray(logits)), np.pad(contributions, ((0, 0), (0, width)))

        reader = Reader(pre.tokenizer, pre.segmentation, pre.max_segments, probabilities, encode=pre,
                        contributions=contributions, compact=backbone.compact)
        return cls(reader, model_label_names(model, model.num_classes), "keras", long)


def _assets_tokenizer(path, info):
    """The tokenizer of a SavedModel's assets, for counting tokens when its segmentation is not recorded."""
    from hat_keras.tokenization import HATTokenizer

    return HATTokenizer.from_pretrained(os.path.join(path, "assets"), max_segments=info["max_segments"],
                                        segment_length=info["segment_length"])


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
                  err=None, explain=False, long="truncate"):
    """Classify text files. Files that are not text get one error line each (`err`); without `skip_bad`
    nothing is classified then and PredictError is raised, with it the other files are classified.

    Each row says what was read of its document (`"read"`: a `Reading`). With --explain, a compact model's
    rows list its real segments only (padding cannot contribute there); other models' list every segment,
    padding included, since it enters their pooling."""
    import sys
    err = err or (lambda msg: print(msg, file=sys.stderr))
    check_long(long)
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
    clf = Classifier.load(model_path, segmentation, long)
    if explain:
        labels, probs, contributions, segments = clf.explain(texts)
    else:
        labels, probs = clf(texts)
    readings = clf.read(texts)
    N = clf.reader.max_segments
    results = []
    for d, (f, label, p, reading) in enumerate(zip(files, labels, probs, readings)):
        row = {"file": f, "label": label, "probabilities": {n: round(float(v), 6) for n, v in zip(clf.labels, p)},
               "read": reading.as_dict()}
        if explain:
            shown = [{"window": i // N + 1, "segment": i % N + 1, "contribution": round(float(c), 6), "text": t}
                     for i, (c, t) in enumerate(zip(contributions[d], segments[d]))]
            if clf.compact:  # real segments come first, in every window up to the last real one
                shown = shown[:reading.segments]
            if long == "truncate":
                shown = [{k: v for k, v in seg.items() if k != "window"} for seg in shown]
            row["segments"] = shown
        results.append(row)
        if as_json:
            out(json.dumps(row))
        else:
            out(f"{f}\t{label}\t" + "  ".join(f"{n}={v:.4f}" for n, v in row["probabilities"].items())
                + f"\t{reading.describe()}")
            for seg in row.get("segments", []):
                where = (f"window {seg['window']} " if "window" in seg else "") + f"segment {seg['segment']}"
                out(f"  {where}\t{100 * seg['contribution']:5.1f}%\t{(seg['text'] or '(padding)')[:100]}")
    return results
