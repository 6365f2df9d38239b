"""Raw text -> `token_ids`/`padding_mask`, on the host (numpy) and in-graph (tf ops), from one HATTokenizer.

Both paths run the same tokenizer graph, so a phone app that tokenizes on the host feeds a `.tflite` exactly
the ids the SavedModel's `classify_text` computes in-graph.
"""
import json
import os

import numpy as np

from hat_keras.tokenization.tokenizer import TOKENIZER_FILES


def write_tokenizer_files(tokenizer, folder):
    """Write a HATTokenizer (e.g. the one inside a `.keras` model) as HF-format files that `from_pretrained`
    reads back to the same ids (`HATTokenizer.save_pretrained`), plus a config.json with the segment geometry.
    Returns `folder`."""
    os.makedirs(folder, exist_ok=True)
    tokenizer.save_pretrained(folder)
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        json.dump({"max_sentences": tokenizer.max_segments, "max_sentence_length": tokenizer.segment_length,
                   "model_max_length": tokenizer.model_max_length}, f, indent=1)
    return folder


def tokenizer_files(folder):
    """{name: bytes} of the tokenizer files in `folder` (what an export bundles beside its config)."""
    out = {}
    for name in TOKENIZER_FILES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                out[name] = f.read()
    return out


class TextEncoder:
    """`encode(texts)` on the host and `encode_tf(strings)` in a graph, with one segmentation mode."""

    def __init__(self, source, segmentation=None):
        if source.tokenizer_dir is None:
            raise ValueError("no tokenizer: pass a tokenizer folder (with vocab.txt) to export raw-text endpoints")
        from hat_keras.tokenization import HATTokenizer, check_vocabulary_size

        self.tokenizer = HATTokenizer.from_pretrained(source.tokenizer_dir, max_segments=source.max_segments,
                                                      segment_length=source.segment_length)
        check_vocabulary_size(self.tokenizer, source.backbone.vocabulary_size, source.tokenizer_dir)
        self.segmentation = segmentation or source.segmentation or self.tokenizer.segmentation
        self.source = source

    def trackables(self):
        """Layers an ExportArchive must track for `encode_tf` to be saved."""
        return [self.tokenizer]

    def settings(self):
        t = self.tokenizer
        return {"segmentation": self.segmentation, "max_segments": t.max_segments,
                "segment_length": t.segment_length, "model_max_length": t.model_max_length,
                "cls_token_id": int(t.cls_token_id), "pad_token_id": int(t.pad_token_id)}

    def encode(self, texts):
        """list[str] -> dict of int32 numpy (B, N·K): token_ids, padding_mask, segment_ids."""
        out = self.tokenizer([str(t) for t in texts], segmentation=self.segmentation)
        return {k: np.asarray(v, dtype=np.int32) for k, v in out.items()}

    def encode_tf(self, texts):
        """tf.string (B,) -> dict of int32 tensors (B, N·K)."""
        return self.tokenizer(texts, segmentation=self.segmentation)


def read_texts(path, limit=None, field="text"):
    """Texts (and labels when present) of the documents in `path`, in file order:
    - `.jsonl`: JSON lines, each an object with a `text` field (or a string);
    - `.json`: a JSON array of such objects or strings, or JSON lines as in `.jsonl`;
    - anything else: plain text, one document per line.
    Errors name the file and line (JSON lines) or array index (`docs.json[3]`), with the JSON parser's whole
    message; a file without any document is an error, not an empty list."""
    texts, labels = [], []
    try:
        with open(path, encoding="utf-8") as f:
            for where, row in _rows(path, f):
                if isinstance(row, dict) and field in row and isinstance(row[field], str):
                    texts.append(row[field])
                    labels.append(row.get("label"))
                elif isinstance(row, str):
                    texts.append(row)
                    labels.append(None)
                elif isinstance(row, dict) and field in row:
                    raise ValueError(f"{where}: `{field}` must be a string, got {type(row[field]).__name__}")
                elif isinstance(row, dict):
                    raise ValueError(f"{where}: no `{field}` field")
                else:
                    raise ValueError(f"{where}: expected an object with `{field}` or a string, got "
                                     f"{type(row).__name__}")
                if limit and len(texts) >= limit:
                    break
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not texts:
        raise ValueError(f"{path}: no documents (empty file)")
    return texts, labels


def _rows(path, f):
    """(where, row) per document of the open file `path`: a plain-text line as a string, or the parsed JSON
    value of a line (`where`: `path:line`) or of an array element (`path[i]`)."""
    json_lines = path.endswith(".jsonl")
    if not json_lines and not path.endswith(".json"):
        for n, line in enumerate(f, 1):
            if line.strip():
                yield f"{path}:{n}", line.rstrip("\n")
        return
    hint = "" if json_lines else "; a .json file holds a JSON array or JSON lines"
    for n, line in enumerate(f, 1):
        if not line.strip():
            continue
        if not json_lines and line.lstrip().startswith("["):  # the array starts here: parse the rest whole
            try:
                rows = json.loads("\n" * (n - 1) + line + f.read())  # blank lines first: the error's line is the file's
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not valid JSON ({e})") from None
            for i, row in enumerate(rows):
                yield f"{path}[{i}]", row
            return
        json_lines = True  # the first document is a line: every line is one
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{n}: not valid JSON ({e}){hint}") from None
        yield f"{path}:{n}", row
