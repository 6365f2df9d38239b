"""Every export variant on the Hyperpartisan test set: accuracy, macro F1, agreement with float32, max abs
logit diff, size, LiteRT ms/doc (batch 1, 2 threads) and what precision the ops compute in.

  python -m benchmarks.bench_export --model MODEL [--tokenizer DIR] [--num-docs 0] [--json FILE]

MODEL is a fine-tuned HAT classifier (.keras, checkpoint or preset folder). Without it, the benchmark builds
a stand-in: the mini-ec2 fixture encoder (EC2-mini geometry: 8 x 128 tokens, hidden 256) with a fresh
2-class head trained briefly on Hyperpartisan train (the encoder frozen); its numbers measure the exports,
not task accuracy. Every variant is exported with `export_model` as `hat-keras export` does (integer
variants calibrated on the first --num-calibration training documents, in file order), its gate relaxed so
that a failing variant is measured too; then it runs on all --num-docs test documents (0: all 628).
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

VARIANTS = [("tflite", None), ("tflite", "float16"), ("tflite", "dynamic"), ("tflite", "w8a8"),
            ("tflite", "w8a16"), ("tflite", "mixed"), ("keras", None), ("saved_model", None), ("onnx", None)]


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
    from hat_keras import load
    from hat_keras.tokenization import HATTokenizer
    model = load(shared / "fixtures" / "hat_reference" / "mini-ec2", task="text_classifier",
                 pooling="max", num_labels=2, load_tokenizer=False)
    tok = HATTokenizer.from_pretrained(shared / "fixtures" / "hat_reference" / "tokenizer", max_segments=8,
                                       segment_length=128)
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


def macro_f1(labels, predictions, num_classes):
    import numpy as np
    f1 = []
    for c in range(num_classes):
        tp = np.sum((predictions == c) & (labels == c))
        fp, fn = np.sum((predictions == c) & (labels != c)), np.sum((predictions != c) & (labels == c))
        f1.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(f1))


def evaluate(path, fmt, source, samples, reference, labels):
    """Run the artifact on every test document (LiteRT for .tflite; the exporter's own check otherwise)."""
    import numpy as np
    from hat_keras.exporting.tflite import run_tflite
    if fmt != "tflite":
        return None
    logits, secs = run_tflite(path, samples.token_ids, samples.padding_mask)
    pred = logits.argmax(-1)
    return {"accuracy": float(np.mean(pred == labels)), "macro_f1": macro_f1(labels, pred, logits.shape[-1]),
            "agreement": float(np.mean(pred == reference.argmax(-1))),
            "max_abs_diff": float(np.abs(logits - reference).max()), "latency_ms": float(np.median(secs) * 1e3),
            "num_docs": int(len(pred))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None)
    p.add_argument("--tokenizer", default=None)
    p.add_argument("--shared", default=str(ROOT.parent / "shared"))
    p.add_argument("--num-docs", type=int, default=0, help="test documents to evaluate on (0: all)")
    p.add_argument("--num-verify", type=int, default=16, help="documents each export verifies itself on")
    p.add_argument("--num-calibration", type=int, default=64)
    p.add_argument("--train-steps", type=int, default=32)
    p.add_argument("--formats", default="all", help="comma list like tflite,tflite/w8a16,onnx")
    p.add_argument("--out", default=None, help="keep the artifacts here (default: a temporary folder)")
    p.add_argument("--json", default=None, help="also write the table as JSON")
    args = p.parse_args(argv)

    import numpy as np
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from benchmarks.common import cpu_description
    from hat_keras.exporting import ExportError, export_model, make_source, text_documents
    from hat_keras.exporting.quantize import precision_line
    from hat_keras.exporting.text import TextEncoder
    log = lambda m: print(m, flush=True)  # noqa: E731
    shared = pathlib.Path(args.shared)
    hp = shared / "data" / "hyperpartisan"
    test = read_jsonl(hp / "test.jsonl", args.num_docs or None)
    train = read_jsonl(hp / "train.jsonl")
    if args.model:
        source = make_source(args.model, tokenizer=args.tokenizer)
        described = f"{args.model}"
    else:
        model, tok_dir = stand_in_model(shared, train[:256], args.train_steps, log)
        source = make_source(model, labels=["mainstream", "hyperpartisan"], tokenizer=tok_dir)
        described = (f"stand-in: mini-ec2 fixture encoder (frozen) + 2-class head trained {args.train_steps} "
                     "steps on Hyperpartisan train; NOT a fine-tuned HAT")
    texts, labels = [r["text"] for r in test], np.asarray([int(r["label"]) for r in test])
    calib = [r["text"] for r in train[:args.num_calibration]]
    encoder = TextEncoder(source, "uniform")
    samples = text_documents(encoder, texts)
    log(f"[bench] Keras float32 reference on {len(texts)} documents ...")
    reference = source.logits(samples.token_ids, samples.padding_mask)
    keras_row = {"variant": "keras-float32 (reference)", "accuracy": float(np.mean(reference.argmax(-1) == labels)),
                 "macro_f1": macro_f1(labels, reference.argmax(-1), reference.shape[-1])}
    wanted = VARIANTS if args.formats == "all" else [
        (f.split("/")[0], f.split("/")[1] if "/" in f else None) for f in args.formats.split(",")]
    out_root = pathlib.Path(args.out or tempfile.mkdtemp(prefix="hat_bench_"))
    rows = [keras_row]
    for fmt, q in wanted:
        name = fmt + (f"-{q}" if q else "")
        t = time.time()
        try:
            r = export_model(source, out_root / name, fmt, q, sample_texts=texts[:args.num_verify],
                             num_samples=args.num_verify, calibration_texts=calib, segmentation="uniform",
                             tolerance={"max_abs_diff": None, "min_agreement": 0.0}, overwrite=True, log=log)
        except ExportError as e:
            rows.append({"variant": name, "error": str(e)})
            continue
        row = {"variant": name, "size_mb": r["size_bytes"] / 1e6, "export_s": round(time.time() - t, 1),
               "max_abs_diff": r["max_abs_diff"], "agreement": r["prediction_agreement"],
               "latency_ms": r["latency_ms_batch1"]["median"], "num_docs": r["num_samples"],
               "runtime": r.get("runtime", "")}
        if "op_precision" in r:
            row["op_precision"] = precision_line(r["op_precision"])
            row["integer_only"] = r["op_precision"]["integer_only"]
            row["int16_matmuls"] = r.get("int16_matmuls")
        log(f"[bench] {name}: evaluating on {len(texts)} documents ...")
        row.update(evaluate(r["artifact_path"], fmt, source, samples, reference, labels) or {})
        rows.append(row)
        log(f"[bench] {json.dumps(row)}")
    print()
    print(f"model: {described}")
    print(f"CPU: {cpu_description()}; geometry {source.max_segments} x {source.segment_length} tokens; "
          f"{len(texts)} Hyperpartisan test documents; batch 1, 2 threads")
    print("| variant | accuracy | macro F1 | agreement with fp32 | max abs logit diff | size MB | ms/doc "
          "| op precision |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['variant']} | failed: {r['error']} |")
            continue
        cell = lambda k, f: format(r[k], f) if k in r else ""  # noqa: E731
        print(f"| {r['variant']} | {cell('accuracy', '.3f')} | {cell('macro_f1', '.3f')} | {cell('agreement', '.3f')}"
              f" | {cell('max_abs_diff', '.2e')} | {cell('size_mb', '.1f')} | {cell('latency_ms', '.1f')} | "
              f"{r.get('op_precision', '')} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": described, "cpu": cpu_description(), "num_docs": len(texts), "rows": rows}, f,
                      indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
