"""The web export in Chromium (LiteRT.js, WebAssembly) beside Python LiteRT: ms/doc on the same model and machine.

  python benchmarks/bench_web.py [--model MODEL --tokenizer DIR] [--num-docs 16] [--repeat 3] [--out DIR]

MODEL defaults to a stand-in with the EC2-mini geometry (8 x 128 tokens, hidden 256): the mini-ec2 fixture
encoder with a fresh 2-class max-pooling head (its labels mean nothing; the benchmark measures speed and
agreement). Both the float32 and the dynamic-range web exports are built, each run per document (batch 1)
on Hyperpartisan test documents:
  * Python LiteRT (ai_edge_litert Interpreter, XNNPACK) with 1 and 2 threads;
  * the exported page in headless Chromium, once single-threaded (plain server) and once cross-origin
    isolated (COOP/COEP), where LiteRT.js loads its multi-threaded WebAssembly build.
Page times are the page's own `inference` figure (LiteRT.js run + reading both outputs), medians over
every document x repeat, the first call excluded; tokenization is timed apart. One run, one process.
"""
import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def cpu_description():
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name") and model in ("", platform.machine(), platform.processor()):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni") if f in flags]
    return f"{model}, {os.cpu_count()} cores, ISA: {'/'.join(isa) or 'unknown'}"


def version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def median(values):
    import numpy as np
    return float(np.median(values)) if len(values) else float("nan")


def python_litert(path, enc, threads, repeat):
    """Per-document ms (batch 1), the first call excluded, and the outputs of the last pass."""
    import numpy as np

    from hat_keras.runtime import LiteRTRunner
    runner = LiteRTRunner(path, threads)
    times, outs = [], []
    first = True
    for r in range(repeat):
        outs = []
        for i in range(len(enc["token_ids"])):
            args = {"token_ids": enc["token_ids"][i:i + 1], "padding_mask": enc["padding_mask"][i:i + 1]}
            t = time.perf_counter()
            out = runner(**args)
            ms = (time.perf_counter() - t) * 1e3
            if not first:
                times.append(ms)
            first = False
            outs.append(np.asarray(out["logits"], np.float32)[0])
    return times, np.stack(outs)


def page_times(result):
    if not result["ready"]:
        raise RuntimeError(f"the page did not start: {result['error']}")
    rows = result["steps"][0]["results"]
    times = [t for r in rows for t in r["inferenceTimes"]][1:]
    return times, rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="a HAT classifier (.keras, checkpoint or preset folder)")
    p.add_argument("--tokenizer", default=None, help="its tokenizer folder (vocab.txt)")
    p.add_argument("--num-docs", type=int, default=16)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--segmentation", default="sentences", choices=("uniform", "sentences"))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--screenshot", default=None, help="also save the dynamic-range page, showing one document, here")
    args = p.parse_args(argv)

    from benchmarks.common import keras_model, setup_threads, shared_dir
    setup_threads(2)
    import numpy as np

    from hat_keras.exporting import export_model, make_source
    from hat_keras.exporting.text import TextEncoder
    from benchmarks.browser import missing, run_page, tools
    reason = missing()
    if reason:
        sys.exit(f"bench_web: {reason}")
    shared = shared_dir()
    tok = args.tokenizer or str(shared / "fixtures" / "hat_reference" / "tokenizer")
    if args.model:
        source = make_source(args.model, tokenizer=tok)
        what = args.model
    else:
        source = make_source(keras_model("text_classifier", 8, "max"), tokenizer=tok)
        what = "mini-ec2 encoder + fresh 2-class max-pooling head (stand-in)"
    docs = []
    with open(shared / "data" / "hyperpartisan" / "test.jsonl", encoding="utf-8") as f:
        for line in f:
            docs.append(json.loads(line)["text"])
            if len(docs) >= args.num_docs:
                break
    encoder = TextEncoder(source, args.segmentation)
    enc = encoder.encode(docs)
    t = tools()
    env = {"cpu": cpu_description(), "chromium": version([t["chromium"], "--version"]),
           "node": version([t["node"], "--version"]), "python": platform.python_version(),
           "load_average_start": [round(x, 2) for x in os.getloadavg()]}
    print(f"[bench] {what}; {len(docs)} Hyperpartisan test documents, {args.segmentation}, "
          f"{source.max_segments} x {source.segment_length} tokens; {env['cpu']}", flush=True)
    rows, result = [], {"model": what, "environment": env, "documents": len(docs), "repeat": args.repeat,
                        "segmentation": args.segmentation, "variants": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in ("float32", "dynamic"):
            out = pathlib.Path(tmp) / variant
            report = export_model(source, out, "web", variant, sample_texts=docs[:8], num_samples=8,
                                  segmentation=args.segmentation, log=lambda m: print(m, flush=True))
            path = out / "model.tflite"
            py = {n: python_litert(path, enc, n, args.repeat) for n in (1, 2)}
            single = run_page(out, [{"do": "classify", "texts": docs, "repeat": args.repeat}], isolated=False)
            steps = [{"do": "classify", "texts": docs, "repeat": args.repeat}]
            if args.screenshot and variant == "dynamic":
                steps += [{"do": "type", "text": docs[1]}, {"do": "screenshot", "path": args.screenshot}]
            threaded = run_page(out, steps, isolated=True)
            s_times, s_rows = page_times(single)
            m_times, m_rows = page_times(threaded)
            page_logits = np.array([r["logits"] for r in s_rows])
            agree = float(np.mean(page_logits.argmax(-1) == py[2][1].argmax(-1)))
            diff = float(np.abs(page_logits - py[2][1]).max())
            tok_ms = median([r["tokenizeMs"] for r in s_rows])
            base = median(py[2][0])
            entries = [("Python LiteRT", 1, median(py[1][0])), ("Python LiteRT", 2, base),
                       ("Chromium, LiteRT.js wasm", single["info"]["threads"], median(s_times)),
                       ("Chromium, LiteRT.js wasm (cross-origin isolated)", threaded["info"]["threads"],
                        median(m_times))]
            for name, threads, ms in entries:
                rows.append([variant, f"{report['size_bytes'] / 1e6:.1f} MB", name, threads, f"{ms:.1f}",
                             f"{ms / base:.2f}x"])
            result["variants"][variant] = {
                "size_bytes": report["size_bytes"], "page_vs_python_max_abs_logit_diff": diff,
                "page_vs_python_label_agreement": agree, "page_tokenize_ms_median": tok_ms,
                "ms_per_doc": {f"{n} ({th} threads)": ms for n, th, ms in entries}}
    from benchmarks.common import print_table
    print_table(f"Web export: ms/doc, batch 1, {len(docs)} documents x {args.repeat} (medians); {env['cpu']}; "
                f"{env['chromium']}, node {env['node']}",
                ["variant", "size", "runtime", "threads", "ms/doc", "vs Python LiteRT 2 threads"], rows,
                notes=[f"page vs Python LiteRT: {v}: label agreement {r['page_vs_python_label_agreement']:.3f}, "
                       f"max abs logit diff {r['page_vs_python_max_abs_logit_diff']:.2e}, JavaScript tokenization "
                       f"{r['page_tokenize_ms_median']:.1f} ms/doc" for v, r in result["variants"].items()])
    env["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"\nload average (1, 5, 15 min) at start {env['load_average_start']}, at end {env['load_average_end']} "
          f"on {os.cpu_count()} cores (other processes share this machine)")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "web_chromium.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print(f"\n[bench] wrote {path}")
    return result


if __name__ == "__main__":
    main()
