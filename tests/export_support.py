"""Shared set-up for the export tests: a tiny classifier, a vocabulary it can read, real documents."""
import collections
import json
import re

SPECIALS = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}


def tiny_vocab(texts, size=1000):
    """A BERT-layout WordPiece vocabulary of `size` entries (specials at BERT's ids, characters, frequent words)."""
    vocab = [SPECIALS.get(i, f"[unused{i}]") for i in range(104)]
    chars = [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    vocab += chars + ["##" + c for c in chars if c.isalnum()]
    seen = set(vocab)
    counts = collections.Counter(w for t in texts for w in re.findall(r"[a-z]+", t.lower()))
    for w, _ in counts.most_common():
        if len(vocab) >= size:
            break
        if w not in seen:
            vocab.append(w)
            seen.add(w)
    return vocab[:size]


def hyperpartisan(data_dir, split="test", limit=None):
    texts, labels = [], []
    with open(data_dir / "hyperpartisan" / f"{split}.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            texts.append(row["text"])
            labels.append(int(row["label"]))
            if limit and len(texts) >= limit:
                break
    return texts, labels
