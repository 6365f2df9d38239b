"""Where the time goes: the compiled (XLA) forward pass, operation by operation, on CPU.

XLA's CPU runtime can record each operation it runs (`--xla_cpu_enable_xprof_traceme`); this suite runs
the default compiled forward of the EC2-mini classifier under TensorFlow's profiler, reads the trace, and
sums the time per kind of operation: the token matmuls (Q/K/V, attention output, feed-forward, which set
the floor), the per-segment attention matmuls, the small matmuls over segment representations, and the
element-wise and reduction kernels. Matmul FLOPs are counted from the optimised HLO, so achieved GFLOP/s
sits beside a float32 matmul peak measured in the same run.
"""
import collections
import os
import re
import shutil
import tempfile

from hat_keras.benchmarking import common

TRACE_FLAG = "--xla_cpu_enable_xprof_traceme=true"
_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = (\w+)\[([\d,]*)\]\S* (\w[\w\-]*)\((.*)$")
_DIMS = re.compile(r"(lhs_batch_dims|lhs_contracting_dims)=\{([\d,]*)\}")


def enable_tracing():
    """Ask XLA to record its operations; must run before the first compilation in this process."""
    flags = os.environ.get("XLA_FLAGS", "")
    if TRACE_FLAG not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {TRACE_FLAG}".strip()


def hlo_instructions(hlo_text):
    """{name: (opcode, shape dims, matmul FLOPs or 0, has batch dims)} from optimised HLO text."""
    shapes, found = {}, {}
    for line in hlo_text.splitlines():
        m = _INSTRUCTION.match(line)
        if not m:
            continue
        name, _, dims, opcode, rest = m.groups()
        dims = tuple(int(d) for d in dims.split(",") if d)
        shapes[name] = dims
        flops, batched = 0, False
        if opcode == "dot":
            lhs = shapes.get(rest.split(",")[0].strip().lstrip("%"))
            attrs = {k: [int(v) for v in vs.split(",") if v] for k, vs in _DIMS.findall(rest)}
            contracted = 1
            for d in attrs.get("lhs_contracting_dims", []):
                contracted *= lhs[d] if lhs else 0
            out = 1
            for d in dims:
                out *= d
            flops, batched = 2 * out * contracted, bool(attrs.get("lhs_batch_dims"))
        found[name] = (opcode, dims, flops, batched)
    return found


def category(info, token_rows):
    opcode, dims, _, batched = info
    if opcode != "dot":
        return "element-wise and reductions (LayerNorm, GELU, softmax, bias, transposes)"
    if batched:
        return "attention matmuls (per segment and head)"
    rows = 1
    for d in dims[:-1]:
        rows *= d
    if rows >= token_rows:
        return "token matmuls (Q/K/V, attention output, feed-forward)"
    return "small matmuls (cross-segment layers, first tokens)"


def trace_events(fn, rounds):
    """[(op name, seconds)] of XLA operations and [seconds] of whole executions over `rounds` calls."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    logdir = tempfile.mkdtemp(prefix="hat-profile-")
    try:
        tf.profiler.experimental.start(logdir)
        for _ in range(rounds):
            fn()
        tf.profiler.experimental.stop()
        path = next(os.path.join(d, f) for d, _, fs in os.walk(logdir) for f in fs if f.endswith(".xplane.pb"))
        space = xplane_pb2.XSpace()
        with open(path, "rb") as f:
            space.ParseFromString(f.read())
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    ops, runs = [], []
    for plane in space.planes:
        names = plane.event_metadata
        for line in plane.lines:
            for e in line.events:
                name = names[e.metadata_id].name
                if name == "CpuExecutable::ExecuteAsyncOnStream":
                    runs.append(e.duration_ps / 1e12)
                else:
                    ops.append((name, e.duration_ps / 1e12))
    return ops, runs


def run(batch=1, threads=2, rounds=20, warmup=3):
    enable_tracing()
    common.setup_threads(threads)
    import tensorflow as tf

    model = common.keras_model("text_classifier", pooling="max")
    K, N = model.backbone.segment_length, model.backbone.max_segments
    tx = {k: tf.constant(v) for k, v in common.documents(batch, N, K).items()}
    fn = tf.function(lambda t: model(t, training=False), jit_compile=True)
    instructions = hlo_instructions(fn.experimental_get_compiler_ir(tx)(stage="optimized_hlo"))
    for _ in range(warmup):
        fn(tx).numpy()
    ops, runs = trace_events(lambda: fn(tx).numpy(), rounds)
    if len(runs) != rounds:
        raise SystemExit(f"bench profile: expected {rounds} traced executions, found {len(runs)}; is XLA tracing "
                         f"on? (XLA_FLAGS must hold {TRACE_FLAG} before TensorFlow compiles anything)")
    seconds, flops, count = collections.Counter(), collections.Counter(), collections.Counter()
    for name, s in ops:
        info = instructions.get(name)
        if info is None:
            continue
        cat = category(info, token_rows=batch * K)
        seconds[cat] += s / rounds
        flops[cat] += info[2] / rounds
        count[cat] += 1 / rounds
    wall = sum(runs) / rounds  # a mean, like the per-operation sums, so the shares add up
    peaks = common.matmul_peak(threads, runs=20)
    peak = max(peaks["tf"], peaks["xla"])
    rows = []
    for cat, s in seconds.most_common():
        gf = flops[cat]
        rate = f"{gf / s / 1e9:.0f}" if gf else "-"
        rows.append((cat, f"{count[cat]:.0f}", f"{s * 1e3:.1f}", f"{100 * s / wall:.0f} %",
                     f"{gf / 1e9:.2f}" if gf else "-", rate))
    idle = wall - sum(seconds.values())
    rows.append(("between operations (runtime)", "", f"{idle * 1e3:.1f}", f"{100 * idle / wall:.0f} %", "", ""))
    common.print_table(
        f"Compiled forward pass, operation by operation (EC2-mini classifier, batch {batch} x {N * K} tokens, XLA); "
        f"mean execution {wall * 1e3:.1f} ms (median {common.median(runs) * 1e3:.1f}) over {rounds}; "
        f"{common.environment(threads)}",
        ("operations", "per forward", "ms", "share", "GFLOP", "GFLOP/s"), rows,
        notes=[f"float32 matmul peak in this run (1024^3, best of the TF graph and XLA): {peak:.0f} GFLOP/s. "
               "Operations run one after another; each matmul uses every thread, the smaller element-wise kernels "
               "often one."])
    return rows


def add_arguments(p):
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=20, help="traced forward passes (after 3 warm-up)")


def main_args(a):
    run(a.batch, a.threads, a.rounds)
    return 0


def main(argv=None):
    return common.script_main(__doc__, add_arguments, main_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
