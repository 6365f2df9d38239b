"""Inference: documents/s and latency at batch 1 and 8, every runtime beside the PyTorch peer.

Rows: Keras eager, tf.function (TF graph, oneDNN), XLA (`jit_compile=True`), the default compiled path
(`hat_keras.inference`), LiteRT float32 and dynamic-range int8 (builtins only), onnxruntime (tf2onnx),
and the PyTorch peer with the same weights (`torch.inference_mode`). The ratio column is docs/s over
the peer's.
"""
import numpy as np

from benchmarks import common


def keras_candidates(model, x, batch):
    import tensorflow as tf

    from hat_keras.inference import CompiledForward

    tx = {k: tf.constant(v) for k, v in x.items()}
    graph = tf.function(lambda t: model(t, training=False), reduce_retracing=False)
    xla = tf.function(lambda t: model(t, training=False), jit_compile=True, reduce_retracing=False)
    default = CompiledForward(model)
    return {"Keras eager": lambda: np.asarray(model(tx, training=False)),
            "Keras tf.function": lambda: graph(tx).numpy(),
            "Keras XLA (jit_compile)": lambda: xla(tx).numpy(),
            "Keras default (CompiledForward)": lambda: default(x).numpy()}


def litert_flatbuffer(model, batch, seq_len, dynamic_range):
    """Builtins-only .tflite for fixed (batch, seq_len) inputs, via the project's SavedModel export path
    (variables frozen; a concrete function converted directly would keep unresolved resource reads)."""
    from hat_keras.exporting.tflite import convert

    return convert(model, seq_len, quantize="dynamic" if dynamic_range else None, batch_size=batch,
                   log=lambda *a: None)


def litert_runner(flatbuffer, x, threads):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=flatbuffer, num_threads=threads)
    details = {d["name"]: d for d in interp.get_input_details()}
    names = {k: next(n for n in details if k in n) for k in x}
    interp.allocate_tensors()
    out = interp.get_output_details()[0]["index"]

    def run():
        for k, v in x.items():
            interp.set_tensor(details[names[k]]["index"], v)
        interp.invoke()
        return interp.get_tensor(out)

    return run


def onnx_session(model, seq_len, threads):
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx
    from keras.src.export.tf2onnx_lib import patch_tf2onnx

    patch_tf2onnx()
    fn = tf.function(lambda token_ids, padding_mask: model({"token_ids": token_ids, "padding_mask": padding_mask},
                                                            training=False))
    spec = (tf.TensorSpec((None, seq_len), tf.int32, name="token_ids"),
            tf.TensorSpec((None, seq_len), tf.int32, name="padding_mask"))
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=17)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads must not steal cores
    return ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def run(batches=(1, 8), threads=2, runs=10, warmup=3, formats=("eager", "litert", "onnx"), pooling="max"):
    common.setup_threads(threads)
    model = common.keras_model("text_classifier", pooling=pooling)
    peer = common.torch_twin(model, "seqcls", pooling)
    K, N = model.backbone.segment_length, model.backbone.max_segments
    S = K * N
    session = onnx_session(model, S, threads) if "onnx" in formats else None
    rows, checks = [], []
    for B in batches:
        x = common.documents(B, N, K)
        cands = keras_candidates(model, x, B)
        if "eager" not in formats:
            cands.pop("Keras eager")
        if "litert" in formats:
            for name, dyn in (("LiteRT float32", False), ("LiteRT dynamic-range int8", True)):
                cands[name] = litert_runner(litert_flatbuffer(model, B, S, dyn), x, threads)
        if session is not None:
            cands["onnxruntime"] = lambda: session.run(None, x)[0]
        if peer is not None:
            cands["PyTorch peer (eager)"] = common.torch_logits_fn(peer, x)
        ref = np.asarray(cands["Keras tf.function"]())
        for name, fn in cands.items():
            out = fn()
            out = out.numpy() if hasattr(out, "numpy") else np.asarray(out)
            checks.append(f"B={B} {name}: max|logit diff| vs tf.function {np.abs(out - ref).max():.1e}")
        times = common.interleaved(cands, runs=runs, warmup=warmup)
        base = common.median(times["PyTorch peer (eager)"]) if peer is not None else None
        for name, ts in times.items():
            med = common.median(ts)
            rows.append({"batch": B, "runtime": name, "ms": med * 1e3, "docs_per_s": B / med,
                         "vs_pytorch": base / med if base else None})
    common.print_table(
        f"HAT inference, EC2-mini ({S} tokens = {N}x{K}, seqcls/{pooling}); median of {runs} after {warmup} "
        f"warm-up, interleaved; {common.environment(threads)}",
        ("batch", "runtime", "latency ms", "docs/s", "vs PyTorch"),
        [(r["batch"], r["runtime"], f"{r['ms']:.1f}", f"{r['docs_per_s']:.2f}",
          f"{r['vs_pytorch']:.2f}x" if r["vs_pytorch"] else "-") for r in rows], notes=checks)
    return rows


def add_arguments(p):
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--pooling", default="max", choices=("max", "attentive", "first", "last"))
    p.add_argument("--skip", nargs="*", default=[], choices=("eager", "litert", "onnx"),
                   help="leave out slow or unavailable runtimes")
    p.add_argument("--quick", action="store_true", help="3 runs after 1 warm-up")
    p.add_argument("--json", help="also write the raw numbers (and the CPU) to this JSON file")
    p.add_argument("--processes", type=int, default=1,
                   help="repeat the whole measurement in this many fresh processes and add a table of medians "
                        "over them (a process's memory and thread state shifts each runtime's speed a little)")


def main_args(a):
    runs, warmup = (3, 1) if a.quick else (a.runs, a.warmup)
    formats = tuple(f for f in ("eager", "litert", "onnx") if f not in a.skip)
    if a.processes > 1:
        return repeat_in_processes(a, runs, warmup)
    rows = run(tuple(a.batch), a.threads, runs, warmup, formats, a.pooling)
    common.print_result(rows)
    common.write_json(a.json, rows, a.threads)
    return 0


def repeat_in_processes(a, runs, warmup):
    """Run this benchmark in `a.processes` fresh interpreters; print each table, then per-row medians."""
    argv = ["--batch", *map(str, a.batch), "--threads", str(a.threads), "--runs", str(runs), "--warmup", str(warmup),
            "--pooling", a.pooling] + (["--skip", *a.skip] if a.skip else [])
    per_row = {}
    for rows in common.repeat_in_processes("benchmarks.inference", argv, a.processes):
        for r in rows:
            per_row.setdefault((r["batch"], r["runtime"]), []).append(r)
    rows, medians = [], []
    for (batch, name), vals in per_row.items():
        ms = common.median([v["ms"] for v in vals])
        ratios = [v["vs_pytorch"] for v in vals if v["vs_pytorch"]]
        medians.append({"batch": batch, "runtime": name, "ms": ms, "vs_pytorch": common.median(ratios) if ratios
                        else None, "vs_pytorch_range": [min(ratios), max(ratios)] if ratios else None})
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}x" if ratios else "-"
        rows.append((batch, name, f"{ms:.1f}", f"{batch / ms * 1e3:.2f}",
                     f"{common.median(ratios):.2f}x" if ratios else "-", spread))
    common.write_json(a.json, {"processes": a.processes, "medians": medians}, a.threads)
    common.print_table(f"Medians over {a.processes} processes (each: median of {runs} after {warmup} warm-up, "
                       f"interleaved); {common.environment(a.threads)}",
                       ("batch", "runtime", "latency ms", "docs/s", "vs PyTorch (median)", "range"), rows)
    return 0


def main(argv=None):
    return common.script_main(__doc__, add_arguments, main_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
