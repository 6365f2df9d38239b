"""Scaling: latency over 1..8 segments, from 1,024 to 4,096 tokens (segment tables extended), compact mode
on a short document, peak memory, and achieved GFLOP/s beside a matmul peak measured in the same run.

Keras runs the default compiled path (`hat_keras.inference.CompiledForward`); the PyTorch peer has the same
weights. 2,048 and 4,096 tokens use the model grown by `extend_context` (16 and 32 segments).
"""

from benchmarks import common


def _pair(model, peer, x, runs, warmup, trim=None):
    from hat_keras.inference import CompiledForward

    forward = CompiledForward(model, trim=trim)
    cands = {"keras": lambda: forward(x).numpy()}
    if peer is not None:
        cands["torch"] = common.torch_logits_fn(peer, x)
    times = common.interleaved(cands, runs=runs, warmup=warmup)
    return {k: common.median(v) for k, v in times.items()}, cands


def run(threads=2, runs=10, warmup=3, batch=1, lengths=(1024, 2048, 4096), memory=True):
    common.setup_threads(threads)
    from hat_keras.context import extend_context
    from hat_keras.inference import make_compact

    model = common.keras_model("text_classifier")
    K, N = model.backbone.segment_length, model.backbone.max_segments
    peer = common.torch_twin(model, "seqcls")
    rows = []

    def row(what, tokens, t, note=""):
        rows.append({"input": what, "tokens": tokens, "keras_ms": t["keras"] * 1e3,
                     "torch_ms": t["torch"] * 1e3 if "torch" in t else None,
                     "vs_pytorch": t["torch"] / t["keras"] if "torch" in t else None, "note": note})

    # 1) 1..8 segments
    seg_times = {}
    for n in range(1, N + 1):
        t, _ = _pair(model, peer, common.documents(batch, n, K), runs, warmup)
        seg_times[n] = t
        row(f"{n} segment{'s' if n > 1 else ''}", n * K, t)
    # 2) 1,024 -> 4,096 tokens with extended segment tables
    grown, mem = {}, []
    for tokens in lengths:
        segs = tokens // K
        m = model if segs <= N else extend_context(model, segs)
        p = peer if segs <= N else common.torch_twin(m, "seqcls")
        x = common.documents(batch, segs, K)
        t, cands = _pair(m, p, x, runs, warmup)
        grown[tokens] = t
        base = grown[lengths[0]]
        note = f"keras x{t['keras'] / base['keras']:.2f}" + (
            f", torch x{t['torch'] / base['torch']:.2f}" if "torch" in t else "") + f" vs {lengths[0]}"
        row(f"{tokens} tokens ({segs} segments)", tokens, t, note)
        if memory:
            mem.append((tokens, {k: common.fresh_process_peak(k, tokens, batch, threads) for k in cands}))
    # 3) compact mode: a 256-token document, padded to 1,024 tokens
    short = common.documents(batch, N, K, real_tokens=2 * K)
    padded, _ = _pair(model, peer, short, runs, warmup)
    row("256-token doc padded to 1024 (default)", N * K, padded)
    compact = make_compact(model)
    trimmed, _ = _pair(compact, None, short, runs, warmup)
    row("256-token doc, compact (2 segments run)", 2 * K, trimmed,
        f"{padded['keras'] / trimmed['keras']:.2f}x faster than padded")
    # 4) FLOP/s
    peaks = common.matmul_peak(threads)
    cfg = model.hat_config
    flops = common.hat_flops(cfg, batch, N)
    achieved = {k: flops / v / 1e9 for k, v in seg_times[N].items()}
    notes = (["peak RSS growth of a forward pass in a fresh process (MiB): " + "; ".join(
        f"{tok} tokens: keras {m['keras']:.0f}" + (f", torch {m['torch']:.0f}" if "torch" in m else "")
        for tok, m in mem)] if mem else []) + [
        f"FLOPs per {N * K}-token document (analytic): {flops / 1e9:.1f} GFLOP; achieved GFLOP/s at batch {batch}: "
        + ", ".join(f"{k} {v:.0f}" for k, v in achieved.items())
        + "; matmul peak (8 chained 1024^3 matmuls per call, same run): "
        + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items()),
        f"time growth 1024 -> {lengths[-1]} tokens: "
        f"keras x{grown[lengths[-1]]['keras'] / grown[lengths[0]]['keras']:.2f}"
        + (f", torch x{grown[lengths[-1]]['torch'] / grown[lengths[0]]['torch']:.2f}" if peer is not None else "")
        + f" (linear would be x{lengths[-1] / lengths[0]:.1f})"]
    common.print_table(
        f"HAT scaling, EC2-mini seqcls/max, batch {batch}; median of {runs} after {warmup} warm-up, interleaved; "
        f"{common.environment(threads)}",
        ("input", "tokens", "keras ms", "PyTorch ms", "vs PyTorch", "note"),
        [(r["input"], r["tokens"], f"{r['keras_ms']:.1f}", "-" if r["torch_ms"] is None else f"{r['torch_ms']:.1f}",
          "-" if r["vs_pytorch"] is None else f"{r['vs_pytorch']:.2f}x", r["note"]) for r in rows], notes)
    growth = {k: grown[lengths[-1]][k] / grown[lengths[0]][k] for k in grown[lengths[0]]}
    return {"rows": rows, "growth": growth, "compact_speedup": padded["keras"] / trimmed["keras"],
            "lengths": [lengths[0], lengths[-1]]}


def add_arguments(p):
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--lengths", type=int, nargs="+", default=[1024, 2048, 4096])
    p.add_argument("--quick", action="store_true", help="3 runs after 1 warm-up")
    p.add_argument("--skip-memory", action="store_true", help="leave out the fresh-process peak-memory probes")
    p.add_argument("--json", help="also write the raw numbers (and the CPU) to this JSON file")
    p.add_argument("--processes", type=int, default=1,
                   help="repeat the timings in this many fresh processes (without the memory probes) and add "
                        "a table of medians over them")


def main_args(a):
    runs, warmup = (3, 1) if a.quick else (a.runs, a.warmup)
    if a.processes > 1:
        return repeat_in_processes(a, runs, warmup)
    result = run(a.threads, runs, warmup, a.batch, tuple(a.lengths), memory=not a.skip_memory)
    common.print_result(result)
    common.write_json(a.json, result, a.threads)
    return 0


def repeat_in_processes(a, runs, warmup):
    """Per-row medians over fresh processes; growth and compact speed-up as median (min-max) of each
    process's own ratio (both sides of a ratio were timed interleaved in the same process)."""
    argv = ["--threads", str(a.threads), "--batch", str(a.batch), "--runs", str(runs), "--warmup", str(warmup),
            "--lengths", *map(str, a.lengths), "--skip-memory"]
    results = common.repeat_in_processes("benchmarks.scaling", argv, a.processes)
    rows = []
    for i, first in enumerate(results[0]["rows"]):
        cells = [r["rows"][i] for r in results]
        keras_ms = common.median([c["keras_ms"] for c in cells])
        peer = "-" if first["torch_ms"] is None else f"{common.median([c['torch_ms'] for c in cells]):.1f}"
        ratios = [c["vs_pytorch"] for c in cells if c["vs_pytorch"] is not None]
        rows.append((first["input"], first["tokens"], f"{keras_ms:.1f}", peer,
                     common.spread(ratios) if ratios else "-"))
    first, last = results[0]["lengths"]
    notes = [f"time growth {first} -> {last} tokens (linear would be x{last / first:.1f}): " + ", ".join(
        f"{k} " + common.spread([r["growth"][k] for r in results], "x{:.2f}") for k in results[0]["growth"]),
        "256-token document, compact vs padded: " + common.spread([r["compact_speedup"] for r in results])
        + " faster"]
    common.print_table(f"Scaling: medians over {a.processes} processes (each: median of {runs} after {warmup} "
                       f"warm-up, interleaved); {common.environment(a.threads)}",
                       ("input", "tokens", "keras ms", "PyTorch ms", "vs PyTorch, median (range)"), rows, notes)
    return 0


def main(argv=None):
    return common.script_main(__doc__, add_arguments, main_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
