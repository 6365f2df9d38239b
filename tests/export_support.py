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


def tiny_source(fixtures_dir, data_dir, tmp_path_factory):
    """(ExportSource of the tiny-e2 classifier with a vocabulary it can read, encoder, test texts, calib texts)."""
    from hat_keras.exporting import make_source
    from hat_keras.exporting.text import TextEncoder
    train, _ = hyperpartisan(data_dir, "train", 200)
    tok = tmp_path_factory.mktemp("tiny_tokenizer")
    (tok / "vocab.txt").write_text("\n".join(tiny_vocab(train)) + "\n", encoding="utf-8")
    source = make_source(fixtures_dir / "tiny-e2" / "seqcls-max", tokenizer=tok)
    test, _ = hyperpartisan(data_dir, "test", 200)
    # Short and long documents, so padded segments are covered.
    texts = sorted(test, key=len)[::25][:8]
    return source, TextEncoder(source, "uniform"), texts, train[:32]


RUN_SIGNATURE = r"""
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401
from tensorflow.core.framework import tensor_pb2
model_dir, requests_path, out_path = sys.argv[1:4]
m = tf.saved_model.load(model_dir)
requests = json.load(open(requests_path))
out = {}
for name, req in requests.items():
    if req["kind"] == "grpc":
        from tensorflow_serving.apis import predict_pb2
        pr = predict_pb2.PredictRequest.FromString(bytes.fromhex(req["hex"]))
        sig = m.signatures[pr.model_spec.signature_name]
        feeds = {k: tf.constant(tf.make_ndarray(v)) for k, v in pr.inputs.items()}
    else:
        payload = req["payload"]
        sig = m.signatures[payload.get("signature_name", "serving_default")]
        dtypes = {k: v.dtype for k, v in sig.structured_input_signature[1].items()}
        if "instances" in payload:
            rows = payload["instances"]
            feeds = {k: tf.constant([r[k] for r in rows], dtype=dtypes[k]) for k in rows[0]}
        else:
            feeds = {k: tf.constant(v, dtype=dtypes[k]) for k, v in payload["inputs"].items()}
    res = sig(**feeds)
    for k, v in res.items():
        out[f"{name}/{k}"] = v.numpy().astype(str) if v.dtype == tf.string else v.numpy()
out["modules"] = np.asarray(sorted(k for k in sys.modules if k.split(".")[0] in ("hat_keras", "keras_hub")))
np.savez(out_path, **out)
"""
