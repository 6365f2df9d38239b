"""Raw text -> `token_ids`/`padding_mask`, on the host (numpy) and in-graph (tf ops), from one HATTokenizer.

Both paths run the same tokenizer graph, so a phone app that tokenizes on the host feeds a `.tflite` exactly
the ids the SavedModel's `classify_text` computes in-graph.
"""
import json
import os

import numpy as np


class TextEncoder:
    """`encode(texts)` on the host and `encode_tf(strings)` in a graph, with one segmentation mode."""

    def __init__(self, source, segmentation=None):
        if source.tokenizer_dir is None:
            raise ValueError("no tokenizer: pass a tokenizer folder (with vocab.txt) to export raw-text endpoints")
        from hat_keras.tokenization import HATTokenizer

        self.tokenizer = HATTokenizer.from_pretrained(source.tokenizer_dir, max_sentences=source.max_segments,
                                                      max_sentence_length=source.segment_length)
        self.segmentation = segmentation or self.tokenizer.segmentation
        self.source = source

    def trackables(self):
        """Layers an ExportArchive must track for `encode_tf` to be saved."""
        return [self.tokenizer]

    def settings(self):
        t = self.tokenizer
        return {"segmentation": self.segmentation, "max_sentences": t.max_sentences,
                "max_sentence_length": t.max_sentence_length, "model_max_length": t.model_max_length,
                "cls_token_id": int(t.cls_token_id), "pad_token_id": int(t.pad_token_id)}

    def encode(self, texts):
        """list[str] -> dict of int32 numpy (B, N·K): token_ids, padding_mask, segment_ids."""
        out = self.tokenizer([str(t) for t in texts], segmentation=self.segmentation)
        return {k: np.asarray(v, dtype=np.int32) for k, v in out.items()}

    def encode_tf(self, texts):
        """tf.string (B,) -> dict of int32 tensors (B, N·K)."""
        return self.tokenizer(texts, segmentation=self.segmentation)


def read_texts(path, limit=None, field="text"):
    """Texts (and labels when present) from a .jsonl (field `text`) or a .txt (one document per line)."""
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            if path.endswith(".jsonl"):
                row = json.loads(line)
                if field not in row:
                    raise ValueError(f"{path}: a line has no `{field}` field")
                texts.append(row[field])
                labels.append(row.get("label"))
            else:
                texts.append(line.rstrip("\n"))
                labels.append(None)
            if limit and len(texts) >= limit:
                break
    return texts, labels
