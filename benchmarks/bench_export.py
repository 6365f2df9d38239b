"""Every export format side by side: size, agreement with Keras and batch-1 latency (2 threads) on Hyperpartisan.

  python benchmarks/bench_export.py [--model MODEL] [--tokenizer DIR] [--num-docs 64] [--out DIR]

MODEL is a fine-tuned HAT classifier (.keras, checkpoint or preset folder). Without it, the benchmark builds
a stand-in: the mini-ec2 fixture encoder (EC2-mini geometry: 8 x 128 tokens, hidden 256) with a fresh
2-class head trained briefly on Hyperpartisan train (the encoder frozen). That stand-in is *not* a fine-tuned
HAT: its numbers measure the exports (size, fidelity, speed), not task accuracy.
Agreement and diffs are on Hyperpartisan *test* documents; every artifact runs in its own runtime.
"""
import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VARIANTS = [("keras", None), ("saved_model", None), ("onnx", None), ("tflite", None), ("tflite", "float16"),
            ("tflite", "dynamic"), ("tflite", "int8")]
TARGETS = {None: "max abs diff <= 1e-4", "float16": "agreement >= 99%", "dynamic": "agreement >= 99%",
           "int8": "agreement >= 90%"}


def read_jsonl(path, limit=None):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line))
            if limit and len(rows) >= limit:
                break
    return rows


def stand_in_model(shared, train, steps, log):
    """mini-ec2 encoder + 2-class max-pooling head trained `steps` batches on Hyperpartisan train."""
    import keras
    import numpy as np
    from hat_keras import from_pretrained
    from hat_keras.tokenization import HATTokenizer
    model = from_pretrained(shared / "fixtures" / "hat_reference" / "mini-ec2", task="text_classifier",
                            pooling="max", num_labels=2, load_tokenizer=False)
    tok = HATTokenizer.from_pretrained(shared / "fixtures" / "hat_reference" / "tokenizer", max_sentences=8,
                                       max_sentence_length=128)
    model.backbone.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="auto", metrics=["accuracy"])
    texts, labels = [r["text"] for r in train], np.asarray([int(r["label"]) for r in train])
    enc = tok(texts, segmentation="uniform")
    x = {"token_ids": enc["token_ids"], "padding_mask": enc["padding_mask"]}
    log(f"[bench] training the head: {steps} steps of 8 documents (encoder frozen)")
    t = time.time()
    hist = model.fit(x, labels, batch_size=8, epochs=max(1, steps * 8 // len(texts)), verbose=0)
    log(f"[bench] head trained in {time.time() - t:.0f}s, train accuracy {hist.history['accuracy'][-1]:.3f}")
    return model, str(shared / "fixtures" / "hat_reference" / "tokenizer")


def keras_latency(model, samples):
    import numpy as np
    from hat_keras.exporting.keras_format import eager_latencies
    return float(np.median(eager_latencies(model, samples)) * 1e3)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None)
    p.add_argument("--tokenizer", default=None)
    p.add_argument("--shared", default=str(ROOT.parent / "shared"))
    p.add_argument("--num-docs", type=int, default=64, help="test documents for agreement and latency")
    p.add_argument("--num-calibration", type=int, default=32)
    p.add_argument("--train-steps", type=int, default=32)
    p.add_argument("--formats", default="all", help="comma list like keras,onnx,tflite/int8")
    p.add_argument("--out", default=None, help="keep the artifacts here (default: a temporary folder)")
    p.add_argument("--json", default=None, help="also write the table as JSON")
    args = p.parse_args(argv)

    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from hat_keras.exporting import ExportError, export_model, make_source, text_documents
    from hat_keras.exporting.text import TextEncoder
    log = lambda m: print(m, flush=True)  # noqa: E731
    shared = pathlib.Path(args.shared)
    hp = shared / "data" / "hyperpartisan"
    test = read_jsonl(hp / "test.jsonl")
    train = read_jsonl(hp / "train.jsonl")
    if args.model:
        source = make_source(args.model, tokenizer=args.tokenizer)
        described = f"{args.model}"
    else:
        model, tok_dir = stand_in_model(shared, train[:256], args.train_steps, log)
        source = make_source(model, labels=["not_hyperpartisan", "hyperpartisan"], tokenizer=tok_dir)
        described = (f"stand-in: mini-ec2 fixture encoder (frozen) + 2-class head trained {args.train_steps} "
                     "steps on Hyperpartisan train; NOT a fine-tuned HAT")
    texts = [r["text"] for r in test[:args.num_docs]]
    calib = [r["text"] for r in train[-args.num_calibration:]]
    encoder = TextEncoder(source, "uniform")
    samples = text_documents(encoder, texts)
    keras_ms = keras_latency(source.model, samples)
    wanted = VARIANTS if args.formats == "all" else [
        (f.split("/")[0], f.split("/")[1] if "/" in f else None) for f in args.formats.split(",")]
    out_root = pathlib.Path(args.out or tempfile.mkdtemp(prefix="hat_bench_"))
    rows = []
    for fmt, q in wanted:
        name = fmt + (f"-{q}" if q else "")
        try:
            r = export_model(source, out_root / name, fmt, q, sample_texts=texts + calib, num_samples=len(texts),
                             calibration_texts=calib if q == "int8" else None, segmentation="uniform",
                             tolerance={"max_abs_diff": None, "min_agreement": 0.0}, overwrite=True, log=log)
            rows.append({"variant": name, "size_mb": r["size_bytes"] / 1e6, "max_abs_diff": r["max_abs_diff"],
                         "agreement": r["prediction_agreement"], "latency_ms": r["latency_ms_batch1"]["median"],
                         "target": TARGETS[q], "runtime": r.get("runtime", "")})
        except ExportError as e:
            rows.append({"variant": name, "error": str(e)})
    print()
    print(f"model: {described}")
    print(f"geometry: {source.max_segments} x {source.segment_length} tokens; {len(texts)} Hyperpartisan test "
          f"documents; batch 1, 2 threads; Keras eager latency {keras_ms:.1f} ms")
    print(f"{'variant':<20}{'size MB':>9}{'max|diff|':>11}{'agree':>8}{'ms/doc':>9}  target / runtime")
    for r in rows:
        if "error" in r:
            print(f"{r['variant']:<20}  failed: {r['error']}")
        else:
            print(f"{r['variant']:<20}{r['size_mb']:>9.2f}{r['max_abs_diff']:>11.2e}{r['agreement']:>8.3f}"
                  f"{r['latency_ms']:>9.2f}  {r['target']} / {r['runtime']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": described, "keras_latency_ms": keras_ms, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
