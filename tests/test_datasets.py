"""The data shipped for the quickstart is the official Hyperpartisan split, unchanged in id, text and label."""
import gzip
import json

import pytest

from conftest import DATA
from hat_keras.datasets import hyperpartisan


def _rows(path, opener=open):
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.mark.parametrize("split,count", [("train", 645), ("test", 628)])
def test_shipped_split_matches_the_source(split, count):
    shipped = _rows(hyperpartisan(split), gzip.open)
    assert len(shipped) == count and {r["label"] for r in shipped} == {0, 1}
    source = DATA / "hyperpartisan" / f"{split}.jsonl"
    if not source.exists():
        pytest.skip(f"{source} not found: set HAT_SHARED to compare with the source files")
    keep = ("id", "title", "text", "label")
    assert shipped == [{k: r[k] for k in keep} for r in _rows(source)]


def test_unknown_split_is_named():
    with pytest.raises(ValueError, match="split='dev'"):
        hyperpartisan("dev")
