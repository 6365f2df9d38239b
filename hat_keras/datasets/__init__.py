"""Data shipped with the package, so the main job (`hat-keras quickstart`) runs offline from a clone or a wheel.

`hyperpartisan/`: the SemEval-2019 Task 4 by-article split (CC BY 4.0; source and attribution in its
SOURCE.md), gzipped JSONL read by the training data reader as it is.
"""
import os

HYPERPARTISAN_LABELS = ("mainstream", "hyperpartisan")  # label 0 and 1


def hyperpartisan(split):
    """Path of the shipped Hyperpartisan `split` ("train": 645 articles, "test": 628)."""
    if split not in ("train", "test"):
        raise ValueError(f"split={split!r}; choose 'train' or 'test'")
    return os.path.join(os.path.dirname(__file__), "hyperpartisan", f"{split}.jsonl.gz")
