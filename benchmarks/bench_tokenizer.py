"""Documents per second: the in-graph HAT preprocessor (tf.data) beside transformers' BertTokenizerFast.

Corpus: the State of the Union speeches (shared/data/sotu/sotu.jsonl, ~46k characters each), vocabulary:
the bert-base-uncased vocab.txt of the reference fixtures. Both sides run in this one process on the same
texts; each figure is the median over `--repeats` full passes after one warm-up pass.

Rows:
- `hat tf.data <mode>`: `HATTextClassifierPreprocessor` mapped per document, then batched (the static-shape
  pipeline), output `(batch, max_segments * K)` int32 ids, mask and token types.
- `hf fast tokenize`: `BertTokenizerFast(texts, add_special_tokens=False, truncation=True,
  max_length=model_max_length, padding="max_length")`, the call upstream's uniform mode makes, without
  its segmenting.
- `hf fast + hat <mode>`: the same tokenizer plus upstream's segmentation in Python (the reference
  implementation in `hat_keras.tokenization.segmentation`), i.e. what the original HATTokenizer does.

    python benchmarks/bench_tokenizer.py [--repeats 3] [--batch-size 32] [--limit N]
"""
import argparse
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def shared_dir():
    return pathlib.Path(os.environ.get("HAT_SHARED", ROOT.parent / "shared")).resolve()


def load_texts(limit):
    path = shared_dir() / "data" / "sotu" / "sotu.jsonl"
    if not path.exists():
        sys.exit(f"{path} not found: set HAT_SHARED to the shared/ folder")
    with open(path, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    return texts[:limit] if limit else texts


def timed(fn, repeats):
    fn()  # warm-up: tracing, caches
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates), min(rates), max(rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N speeches")
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--segment-length", type=int, default=128)
    parser.add_argument("--modes", default="uniform,sentences")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf
    from transformers import BertTokenizerFast

    from hat_keras.tokenization import HATTextClassifierPreprocessor, HATTokenizer
    from hat_keras.tokenization import segmentation as seg

    vocab_file = shared_dir() / "fixtures" / "hat_reference" / "tokenizer" / "vocab.txt"
    texts = load_texts(args.limit)
    n, k = args.segments, args.segment_length
    m = n * k
    folder = pathlib.Path(tempfile.mkdtemp())
    (folder / "vocab.txt").write_bytes(vocab_file.read_bytes())
    (folder / "config.json").write_text(json.dumps({"max_sentences": n, "max_sentence_length": k,
                                                    "model_max_length": m, "pad_token_id": 0}))
    tok = HATTokenizer.from_pretrained(folder)

    # transformers 5 builds an all-[UNK] tokenizer from a bare vocab file; a vocab dict works.
    with open(vocab_file, encoding="utf-8") as f:
        vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
    hf = BertTokenizerFast(vocab=vocab, do_lower_case=True)
    ours = tok.tokenize(texts).to_list()
    theirs = hf(texts, add_special_tokens=False)["input_ids"]
    mismatched = sum(a != b for a, b in zip(ours, theirs))
    cls_id, pad_id = tok.cls_token_id, tok.pad_token_id

    rows = []
    for mode in args.modes.split(","):
        pre = HATTextClassifierPreprocessor(tok, segmentation=mode)
        ds = (tf.data.Dataset.from_tensor_slices(texts).map(pre, num_parallel_calls=tf.data.AUTOTUNE)
              .batch(args.batch_size).prefetch(tf.data.AUTOTUNE))

        def run_graph(ds=ds):
            return sum(int(b["token_ids"].shape[0]) for b in ds)

        rows.append((f"hat tf.data {mode}", timed(run_graph, args.repeats)))

    def batches():
        for i in range(0, len(texts), args.batch_size):
            yield texts[i:i + args.batch_size]

    def run_hf():
        for b in batches():
            hf(b, add_special_tokens=False, truncation=True, max_length=m, padding="max_length")
        return len(texts)

    def run_hf_hat(mode):
        def run():
            for b in batches():
                if mode == "uniform":
                    for ids in hf(b, add_special_tokens=False, truncation=True, max_length=m)["input_ids"]:
                        seg.uniform_py(ids, n, k, m, cls_id, pad_id)
                else:
                    for text in b:
                        sents = seg.split_sentences_py(text)
                        ids = hf(sents, add_special_tokens=False)["input_ids"] if sents else []
                        seg.sentences_py(ids, n, k, cls_id, pad_id)
            return len(texts)
        return run

    hf_rate = timed(run_hf, args.repeats)
    rows.append(("hf fast tokenize", hf_rate))
    for mode in args.modes.split(","):
        rows.append((f"hf fast + hat {mode}", timed(run_hf_hat(mode), args.repeats)))

    print(f"corpus: {len(texts)} SOTU speeches, {np.mean([len(t) for t in texts]):,.0f} characters on average; "
          f"geometry {n} x {k}; batch {args.batch_size}; {os.cpu_count()} CPU cores; median of {args.repeats}")
    print(f"flat WordPiece ids, HATTokenizer vs BertTokenizerFast: {len(texts) - mismatched}/{len(texts)} "
          "documents identical")
    print(f"{'pipeline':28s} {'docs/s median':>14s} {'(min - max)':>18s} {'vs hf fast':>11s}")
    for name, (med, lo, hi) in rows:
        print(f"{name:28s} {med:14.1f} {f'({lo:.1f} - {hi:.1f})':>18s} {med / hf_rate[0]:10.2f}x")


if __name__ == "__main__":
    main()
