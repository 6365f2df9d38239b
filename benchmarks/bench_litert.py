"""LiteRT on this CPU: every host runtime path for each exported `.tflite`, interleaved.

  python -m benchmarks.bench_litert OUT1/model.tflite OUT2/model.tflite ... [--docs 16] [--threads 2]

Paths: `CompiledModel` with XNNPACK (the default) and with TFLite's builtin kernels; the legacy
`Interpreter` with its default XNNPACK delegate and without it. Inputs are Hyperpartisan
test documents encoded by each model's bundled tokenizer; every figure is the median ms per document at
batch 1 after one warm-up call, the paths alternating document by document so that machine load affects all
alike; each path's logits are compared with the default's (max abs diff). The CPU line names the ISA
extensions the kernels can use.
"""
import argparse
import json
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PATHS = [("compiled", "xnnpack"), ("compiled", "builtin"),
         ("interpreter", "xnnpack"), ("interpreter", "builtin")]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--docs", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--paths", default=",".join(f"{a}/{k}" for a, k in PATHS),
                   help="comma list of api/kernels, e.g. compiled/xnnpack,interpreter/builtin")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    from benchmarks.common import cpu_description, shared_dir
    from hat_keras.runtime import LiteRTRunner, TFLiteTextClassifier
    paths = [tuple(x.split("/")) for x in args.paths.split(",")]
    with open(shared_dir() / "data" / "hyperpartisan" / "test.jsonl", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line, _ in zip(f, range(args.docs))]
    rows = []
    for path in args.models:
        enc = TFLiteTextClassifier(path, args.threads).encode(texts)
        runners = {f"{a}/{k}": LiteRTRunner(path, args.threads, a, kernels=k) for a, k in paths}
        times = {name: [] for name in runners}
        diffs = {name: 0.0 for name in runners}
        for i in range(len(texts)):
            x = {"token_ids": enc["token_ids"][i:i + 1], "padding_mask": enc["padding_mask"][i:i + 1]}
            first = None
            for name, run in runners.items():
                if i == 0:
                    run(**x)
                t = time.perf_counter()
                logits = run(**x)["logits"]
                times[name].append((time.perf_counter() - t) * 1e3)
                first = logits if first is None else first
                diffs[name] = max(diffs[name], float(np.abs(logits - first).max()))
        row = {"model": path, "ms": {n: float(np.median(v)) for n, v in times.items()}, "max_abs_diff": diffs}
        rows.append(row)
        print(json.dumps(row), flush=True)
    names = list(rows[0]["ms"])
    print(f"\nCPU: {cpu_description()}; {args.threads} threads; {len(texts)} documents, batch 1; "
          "median ms/doc (ratio to the first path)")
    print("| model | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for r in rows:
        base = r["ms"][names[0]]
        print(f"| {r['model']} | " + " | ".join(f"{r['ms'][n]:.1f} ({r['ms'][n] / base:.2f})" for n in names) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_description(), "threads": args.threads, "docs": len(texts), "rows": rows}, f,
                      indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
