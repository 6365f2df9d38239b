"""Where the time goes: the compiled (XLA) forward pass, operation by operation, on CPU.

XLA's CPU runtime can record each operation it runs (`--xla_cpu_enable_xprof_traceme`); this suite runs
the default compiled forward of the EC2-mini classifier under TensorFlow's profiler, reads the trace, and
sums the time per kind of operation: the token matmuls (Q/K/V, attention output, feed-forward, which set
the floor), the per-segment attention matmuls, the small matmuls over segment representations, and the
element-wise and reduction kernels. Matmul FLOPs are counted from the optimised HLO, so achieved GFLOP/s
sits beside a float32 matmul peak measured in the same run.

`--gemm` times the model's token matmuls alone (the same shapes, chained through its layers, with the residual
adds) in XLA, the TF graph (oneDNN), LiteRT (XNNPACK) and torch, interleaved: which runtime's GEMM kernels are
faster on these shapes, independent of everything else in the forward pass.

`--ablate` then times the same forward with element-wise stages removed (LayerNorm's normalisation, softmax,
GELU), compiled separately and timed interleaved: no longer the model's function, but an upper bound on what
fusing that work away could save.
"""
import collections
import contextlib
import os
import re
import shutil
import tempfile

import numpy as np

from benchmarks import common
from hat_keras.config import layout_to_string

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


# What each ablation removes; the rest of the forward pass (every matmul, bias and residual) is kept.
ABLATIONS = {"layer_norm": "LayerNorm normalisation (scale and shift kept)",
             "softmax": "softmax (raw scores weight the values)",
             "gelu": "GELU (identity)"}


@contextlib.contextmanager
def removed(model, parts):
    """Trace-time patches that drop the element-wise stages in `parts` (keys of ABLATIONS) from `model`.

    Only functions traced inside the block are affected; patches are undone on exit.
    """
    import keras

    from hat_keras.layers import transformer_block

    unknown = set(parts) - set(ABLATIONS)
    if unknown:
        raise ValueError(f"unknown ablation(s) {sorted(unknown)}; choose from {sorted(ABLATIONS)}")
    blocks = [la for la in model._flatten_layers() if isinstance(la, transformer_block.HATTransformerBlock)]
    saved_ln, saved_softmax = keras.layers.LayerNormalization.call, transformer_block.softmax
    saved_act = [b.intermediate_dense.activation for b in blocks]
    try:
        if "layer_norm" in parts:
            keras.layers.LayerNormalization.call = lambda self, x: x * self.gamma + self.beta
        if "softmax" in parts:
            transformer_block.softmax = lambda x, axis=-1: x
        if "gelu" in parts:
            for b in blocks:
                b.intermediate_dense.activation = keras.activations.linear
        yield
    finally:
        keras.layers.LayerNormalization.call, transformer_block.softmax = saved_ln, saved_softmax
        for b, act in zip(blocks, saved_act):
            b.intermediate_dense.activation = act


def ablation_functions(model, inputs):
    """{label: no-argument call} of the XLA forward as it is and with each / every ablation (each compiled now)."""
    import tensorflow as tf

    variants = {"the model (nothing removed)": ()}
    variants.update({f"without {label}": (part,) for part, label in ABLATIONS.items()})
    variants["without all three"] = tuple(ABLATIONS)
    fns = {}
    for label, parts in variants.items():
        fn = tf.function(lambda t: model(t, training=False), jit_compile=True)
        with removed(model, parts):
            fn(inputs)  # traced and compiled with the patches in place
        fns[label] = lambda fn=fn: fn(inputs).numpy()
    return fns


def ablate(model, inputs, batch, threads, runs=40):
    fns = ablation_functions(model, inputs)
    times = common.interleaved(fns, runs=runs, warmup=2, settle=0.0)
    base = common.median(times["the model (nothing removed)"])
    rows = [(label, f"{common.median(ts) * 1e3:.1f}", f"{(base - common.median(ts)) * 1e3:+.1f}")
            for label, ts in times.items()]
    common.print_table(
        f"Compiled forward with element-wise stages removed (batch {batch}, XLA; median of {runs}, interleaved, "
        f"back to back); {common.environment(threads)}",
        ("forward pass", "ms", "saved ms"), rows,
        notes=["The ablated passes compute a different function: the saving is an upper bound on what fusing "
               "or eliminating that work could gain."])
    return rows


def token_matmul_chain(config, rows, seed=0):
    """(x, [(W_qkv, W_o, W_in, W_out)] per full layer) for the chain `gemm` times; float32 numpy."""
    rng = np.random.default_rng(seed)
    H, inter = config.hidden_size, config.intermediate_size
    kinds = layout_to_string(config.encoder_layout).split("|")
    layers = sum("S" in kind for kind in kinds) - ("S" in kinds[-1])  # a last S layer runs on first tokens only
    shapes = ((H, 3 * H), (H, H), (H, inter), (inter, H))
    weights = [tuple((rng.normal(size=s) / np.sqrt(s[0])).astype("float32") for s in shapes) for _ in range(layers)]
    return rng.normal(size=(rows, H)).astype("float32"), weights


def gemm(batch, threads, runs=30):
    """The model's token matmuls alone in each runtime, interleaved, back to back."""
    import tensorflow as tf

    from benchmarks.inference import litert_runner

    config = common.hat_config()
    H = config.hidden_size
    x, weights = token_matmul_chain(config, batch * config.model_max_length)
    tf_weights = [tuple(tf.Variable(w) for w in layer) for layer in weights]

    def chain(y, ws, matmul):
        for w_qkv, w_o, w_in, w_out in ws:
            attn = matmul(matmul(y, w_qkv)[:, :H], w_o) + y
            y = matmul(matmul(attn, w_in), w_out) + attn
        return y

    def tf_chain(y):
        return chain(y, tf_weights, tf.matmul)

    tx = tf.constant(x)
    xla, graph = tf.function(tf_chain, jit_compile=True), tf.function(tf_chain)
    spec = tf.TensorSpec(x.shape, tf.float32)
    holder = tf.Module()
    holder.weights = tf_weights
    converter = tf.lite.TFLiteConverter.from_concrete_functions([graph.get_concrete_function(spec)], holder)
    litert = litert_runner(converter.convert(), {"y": x}, threads)  # the chain's input is named y

    cands = {"XLA (jit_compile)": lambda: xla(tx).numpy(), "TF graph (oneDNN)": lambda: graph(tx).numpy(),
             "LiteRT (XNNPACK)": litert}
    torch = common.torch_module()
    if torch is not None:
        tw = [tuple(torch.from_numpy(w) for w in layer) for layer in weights]
        t_x = torch.from_numpy(x)

        def torch_chain():
            with torch.inference_mode():
                return chain(t_x, tw, torch.matmul)

        cands["torch"] = torch_chain
    ref = cands["XLA (jit_compile)"]()
    scale = np.abs(ref).max()
    for name, fn in cands.items():
        got = np.asarray(fn())
        if np.abs(got - ref).max() > 1e-4 * scale:
            raise SystemExit(f"bench profile --gemm: {name} computes a different chain (max diff "
                             f"{np.abs(got - ref).max():.2e}, output scale {scale:.2e})")
    flops = sum(2 * x.shape[0] * w.shape[0] * w.shape[1] for layer in weights for w in layer)
    times = common.interleaved(cands, runs=runs, warmup=3, settle=0.0)
    base = common.median(times["XLA (jit_compile)"])
    rows = [(name, f"{common.median(ts) * 1e3:.1f}", f"{flops / common.median(ts) / 1e9:.0f}",
             f"{base / common.median(ts):.2f}x") for name, ts in times.items()]
    common.print_table(
        f"The token matmuls alone ({len(weights)} layers x 4 matmuls, {x.shape[0]} rows, with the residual adds; "
        f"{flops / 1e9:.2f} GFLOP), median of {runs}, interleaved, back to back; {common.environment(threads)}",
        ("runtime", "ms", "GFLOP/s", "speed vs XLA"), rows)
    return rows


def run(batch=1, threads=2, rounds=20, warmup=3, ablation=False, gemm_chain=False):
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
        notes=[f"float32 matmul peak in this run (8 chained 1024^3 matmuls per call, best of the TF graph and "
               f"XLA): {peak:.0f} GFLOP/s. "
               "Operations run one after another; each matmul uses every thread, the smaller element-wise kernels "
               "often one."])
    if gemm_chain:
        rows += gemm(batch, threads)
    if ablation:
        rows += ablate(model, tx, batch, threads)
    return rows


def add_arguments(p):
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=20, help="traced forward passes (after 3 warm-up)")
    p.add_argument("--ablate", action="store_true",
                   help="also time the forward with LayerNorm, softmax and GELU removed (upper bound of fusion gains)")
    p.add_argument("--gemm", action="store_true",
                   help="also time the model's token matmuls alone in XLA, the TF graph, LiteRT and torch")


def main_args(a):
    run(a.batch, a.threads, a.rounds, ablation=a.ablate, gemm_chain=a.gemm)
    return 0


def main(argv=None):
    return common.script_main(__doc__, add_arguments, main_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
