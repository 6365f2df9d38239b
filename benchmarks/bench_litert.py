"""LiteRT on this CPU: CompiledModel beside the legacy Interpreter for each exported `.tflite`, interleaved.

  python -m benchmarks.bench_litert OUT1/model.tflite OUT2/model.tflite ... [--docs 16] [--threads 2]

Inputs are Hyperpartisan test documents encoded by each model's bundled tokenizer; every figure is the
median ms per document at batch 1 after one warm-up call, the two runtimes alternating document by document
so that machine load affects both alike. The CPU line names the ISA extensions the kernels can use.
"""
import argparse
import json
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--docs", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    from benchmarks.common import cpu_description, shared_dir
    from hat_keras.exporting.tflite import LiteRTRunner, TFLiteTextClassifier
    with open(shared_dir() / "data" / "hyperpartisan" / "test.jsonl", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line, _ in zip(f, range(args.docs))]
    rows = []
    for path in args.models:
        enc = TFLiteTextClassifier(path, args.threads).encode(texts)
        runners = {api: LiteRTRunner(path, args.threads, api) for api in ("compiled", "interpreter")}
        times = {api: [] for api in runners}
        for i in range(len(texts)):
            x = {"token_ids": enc["token_ids"][i:i + 1], "padding_mask": enc["padding_mask"][i:i + 1]}
            for api, run in runners.items():
                if i == 0:
                    run(**x)
                t = time.perf_counter()
                run(**x)
                times[api].append((time.perf_counter() - t) * 1e3)
        row = {"model": path, **{f"{api}_ms": float(np.median(v)) for api, v in times.items()}}
        row["interpreter_over_compiled"] = row["interpreter_ms"] / row["compiled_ms"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\nCPU: {cpu_description()}; {args.threads} threads; {len(texts)} documents, batch 1")
    print("| model | CompiledModel ms/doc | Interpreter ms/doc | Interpreter / CompiledModel |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['compiled_ms']:.1f} | {r['interpreter_ms']:.1f} | "
              f"{r['interpreter_over_compiled']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_description(), "threads": args.threads, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
