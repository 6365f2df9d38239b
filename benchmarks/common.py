"""Shared benchmark helpers: thread setup, the PyTorch peer, matched models, interleaved timing, tables.

Every figure is a median over repeated runs after warm-up. Candidates are timed *interleaved* (one run
of each per round), so a change in machine load affects all of them alike and the ratios stay fair.
"""
import json
import os
import pathlib
import random
import statistics
import sys
import threading
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]  # the checkout: benchmarks run from it


def shared_dir():
    return pathlib.Path(os.environ.get("HAT_SHARED", REPO.parent / "shared")).resolve()


def setup_threads(threads):
    """Pin TF and torch to `threads` cores; must run before the first TF op."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already initialised by an earlier benchmark in this process: same settings
    torch = torch_module()
    if torch is not None:
        torch.set_num_threads(threads)


def torch_module():
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_peer():
    """The independent PyTorch HAT (`torch_hat.py`) from $HAT_SHARED/tools or ../shared/tools, else None."""
    if torch_module() is None:
        return None
    tools = shared_dir() / "tools"
    if not (tools / "torch_hat.py").exists():
        return None
    if str(tools) not in sys.path:
        sys.path.insert(0, str(tools))
    import torch_hat

    return torch_hat


MINI_EC2 = dict(vocab_size=30522, hidden_size=256, num_attention_heads=4, intermediate_size=1024,
                num_hidden_layers=10, encoder_layout="S|SD|D|S|SD|D|S|S|S|S", max_sentences=8,
                max_sentence_length=128, max_position_embeddings=128, model_max_length=1024, pad_token_id=0,
                hidden_act="gelu", layer_norm_eps=1e-12, type_vocab_size=2, initializer_range=0.02,
                hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, num_labels=2)


def mini_checkpoint():
    path = shared_dir() / "fixtures" / "hat_reference" / "mini-ec2"
    return path if (path / "config.json").exists() else None


def hat_config(max_segments=8):
    """The EC2-mini geometry (from the checkpoint's config.json when present), optionally more segments."""
    from hat_keras import HATConfig

    path = mini_checkpoint()
    fields = json.loads((path / "config.json").read_text()) if path else dict(MINI_EC2)
    if isinstance(fields.get("encoder_layout"), dict):
        from hat_keras.config import layout_to_string

        fields["encoder_layout"] = layout_to_string(fields["encoder_layout"])
    fields["max_sentences"] = max_segments
    fields["model_max_length"] = max_segments * fields["max_sentence_length"]
    fields["num_labels"] = 2
    fields.pop("architectures", None)
    return HATConfig(**fields)


def keras_model(task="text_classifier", max_segments=8, pooling="max", compact=False, weights=True):
    """EC2-mini Keras model: the mini checkpoint's encoder weights when available, else random."""
    from hat_keras.convert import build_model, load_state_dict, read_state_dict
    from hat_keras.convert.hf import _strip_prefix

    config = hat_config(max_segments)
    model = build_model(config, task, pooling=pooling)
    path = mini_checkpoint()
    if weights and path is not None and max_segments == 8:
        state = _strip_prefix(read_state_dict(path))
        if task != "masked_lm":
            state = {k: v for k, v in state.items() if not k.startswith("lm_head.")}
        load_state_dict(model, state, source=str(path), config=config)
    if compact:
        from hat_keras.inference import make_compact

        model = make_compact(model)
    model.hat_config = config
    return model


def torch_twin(model, head="seqcls", pooling="max"):
    """The PyTorch peer with the Keras model's exact weights (so both compute the same function)."""
    torch_hat, torch = torch_peer(), torch_module()
    if torch_hat is None:
        return None
    from hat_keras.convert.hf import export_state_dict, hat_config_of

    config = hat_config_of(model).to_dict()
    peer = torch_hat.build(config, head, pooling)
    state = {k: torch.from_numpy(np.asarray(v)) for k, v in export_state_dict(model).items()}
    state.pop("hi_transformer.embeddings.position_ids", None)
    if head == "mlm":
        state["lm_head.decoder.weight"] = state["hi_transformer.embeddings.word_embeddings.weight"]
        state["lm_head.decoder.bias"] = state["lm_head.bias"]
    d_tables = sorted(k for k in state if k.endswith("position_embeddings.weight") and ".layer." in k)
    for k in d_tables:
        state[k] = state[d_tables[0]]
    missing, unexpected = peer.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"peer weights: missing {missing}, unexpected {unexpected}")
    return peer.eval()


def torch_logits_fn(peer, x):
    """A no-argument call of the PyTorch peer on `x` (for interleaved timing)."""
    torch = torch_module()
    ids, mask = to_torch(x)

    def run():
        with torch.inference_mode():
            return peer(ids, mask)["logits"]

    return run


def documents(batch, segments, segment_length=128, vocab=30522, real_tokens=None, seed=0):
    """Random ids, [CLS]=101 at each segment start, [PAD]=0 after `real_tokens`; int32 numpy."""
    rng = np.random.default_rng(seed)
    S = segments * segment_length
    ids = rng.integers(1000, vocab - 1, (batch, S)).astype("int32")
    ids[:, ::segment_length] = 101
    if real_tokens is not None:
        ids[:, real_tokens:] = 0
    return {"token_ids": ids, "padding_mask": (ids != 0).astype("int32")}


def to_torch(x):
    torch = torch_module()
    return torch.from_numpy(x["token_ids"]).long(), torch.from_numpy(x["padding_mask"]).long()


def interleaved(candidates, runs=10, warmup=3, settle=0.05):
    """{name: fn} -> {name: [seconds]}: warm each up, then time one call of each per round, in a shuffled
    order, after a pause: thread pools that spin after a call (onnxruntime, XNNPACK) would otherwise steal
    cores from whichever runtime is timed next."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in candidates}
    order = list(candidates)
    rng = random.Random(0)
    for _ in range(runs):
        rng.shuffle(order)  # no runtime always follows the same neighbour
        for name in order:
            time.sleep(settle)  # let the previous runtime's spinning worker threads go idle
            t = time.perf_counter()
            candidates[name]()
            times[name].append(time.perf_counter() - t)
    return times


def median(values):
    return statistics.median(values)


class PeakRSS:
    """Peak resident-memory growth (MiB) during a block, sampled every millisecond from /proc."""

    def __init__(self):
        self.peak = 0.0

    @staticmethod
    def rss():
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except OSError:
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def __enter__(self):
        self.base = self.rss()
        self.top = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.top = max(self.top, self.rss())
            time.sleep(0.001)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.top = max(self.top, self.rss())
        self.peak = self.top - self.base


def peak_rss(fn, repeat=2):
    """Largest RSS growth over `repeat` calls of fn (after one untimed call so caches exist)."""
    fn()
    best = 0.0
    for _ in range(repeat):
        with PeakRSS() as m:
            fn()
        best = max(best, m.peak)
    return best


_FRESH_PEAK = r"""
import json, os, resource, sys, threading, time
kind, tokens, batch, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
from benchmarks import common
common.setup_threads(threads)
segs = tokens // 128
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
model = common.keras_model("text_classifier", max_segments=max(segs, 8), weights=False)
x = common.documents(batch, segs, 128)
if kind == "torch":
    import torch
    peer = common.torch_twin(model, "seqcls")
    del model
    ids, mask = common.to_torch(x)
    fn = lambda: peer(ids, mask)
    ctx = torch.no_grad()
else:
    import contextlib, tensorflow as tf
    f = tf.function(lambda v: model(v))
    # trace first (graph building is not the forward pass's memory); then measure execution alone
    cf = f.get_concrete_function({k: tf.TensorSpec(v.shape, tf.int32, name=k) for k, v in x.items()})
    xs = {k: tf.constant(v) for k, v in x.items()}
    fn = lambda: cf(xs).numpy()
    ctx = contextlib.nullcontext()
with ctx:
    base = rss()
    top = [base]
    stop = threading.Event()
    def sample():
        while not stop.is_set():
            top[0] = max(top[0], rss()); time.sleep(0.0005)
    t = threading.Thread(target=sample, daemon=True); t.start()
    fn(); fn()
    stop.set(); t.join()
print(json.dumps({"peak_mib": max(top[0], rss()) - base}))
"""


def fresh_process_peak(kind, tokens, batch=1, threads=2, timeout=900):
    """Peak RSS growth (MiB) of two forwards in a fresh process after the model is built: activations and
    workspace, measured where no earlier call has left freed memory to reuse. kind: "keras" or "torch"."""
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _FRESH_PEAK, kind, str(tokens), str(batch), str(threads)],
                          capture_output=True, text=True, cwd=REPO, timeout=timeout,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if proc.returncode != 0:
        return float("nan")
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_mib"]


def print_table(title, header, rows, notes=()):
    """One plain-text table (also valid Markdown)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    print(f"\n{title}\n")
    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells[1:]:
        print(line(r))
    for n in notes:
        print(f"\n{n}")
    sys.stdout.flush()


# ISA extensions that decide which kernels LiteRT / oneDNN / XLA pick (x86 and ARM names in /proc/cpuinfo).
ISA_FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_vnni": "AVX512-VNNI", "avx_vnni": "AVX-VNNI",
             "avx512_bf16": "AVX512-BF16", "amx_tile": "AMX", "asimddp": "dotprod", "i8mm": "i8mm"}


def cpu_description():
    """'AMD EPYC, family 25 model 1 (AVX2)': the CPU model (family/model tell apart CPU generations that share
    a name) and the ISA extensions relevant to the kernels, from /proc/cpuinfo."""
    import platform

    model, flags, ids = platform.processor() or platform.machine(), set(), {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "cpu model") and value.strip():
                    model = value.strip()
                elif key in ("flags", "features"):
                    flags.update(value.split())
                elif key in ("cpu family", "model") and key not in ids:
                    ids[key] = value.strip()
    except OSError:
        pass
    if len(ids) == 2:
        model += f", family {ids['cpu family']} model {ids['model']}"
    isa = [name for flag, name in ISA_FLAGS.items() if flag in flags]
    return f"{model} ({', '.join(isa) or 'no AVX2/AVX-512/dotprod'})"


def environment(threads):
    import keras
    import tensorflow as tf

    torch = torch_module()
    return (f"CPU {cpu_description()}, {threads} threads; TF {tf.__version__}, "
            f"Keras {keras.__version__}" + (f", torch {torch.__version__}" if torch else ""))


def matmul_peak(threads, n=1024, runs=10, chain=8):
    """Measured float32 matmul GFLOP/s (n x n x n) in this process: TF graph (oneDNN), XLA, torch.

    Each timed call runs `chain` dependent matmuls, so per-call overhead (dispatch, copying the result out)
    does not pull the figure below what the kernels reach inside a model.
    """
    import tensorflow as tf

    a = tf.random.normal((n, n))
    w = tf.random.normal((n, n)) / n ** 0.5  # keeps magnitudes steady along the chain

    def chained(x):
        for _ in range(chain):
            x = tf.matmul(x, w)
        return x

    cands = {}
    for name, jit in (("tf", False), ("xla", True)):
        fn = tf.function(chained, jit_compile=jit)
        cands[name] = lambda fn=fn: fn(a).numpy()
    torch = torch_module()
    if torch is not None:
        ta, tw = torch.from_numpy(a.numpy()), torch.from_numpy(w.numpy())

        def torch_chain():
            x = ta
            for _ in range(chain):
                x = x @ tw
            return x

        cands["torch"] = torch_chain
    times = interleaved(cands, runs=runs, warmup=3, settle=0.0)  # back to back: a pause would time a cold start
    return {name: chain * 2 * n**3 / median(t) / 1e9 for name, t in times.items()}


def hat_flops(config, batch, segments, mlm_positions=None):
    """Analytic forward FLOPs (multiply-add = 2) of the encoder, plus the MLM decoder at `mlm_positions`."""
    H, I, K = config.hidden_size, config.intermediate_size, config.segment_length  # noqa: E741
    total = 0
    for block in config.layout.split("|"):
        for kind, tokens, span in (("S", batch * segments * K, K), ("D", batch * segments, segments)):
            if kind in block:
                total += 2 * tokens * (3 * H * H + H * H + 2 * H * I) + 4 * tokens * span * H
    if mlm_positions:
        total += 2 * mlm_positions * (H * H + H * config.vocab_size)
    return total


RESULT_MARKER = "BENCH-RESULT "


def write_json(path, result, threads):
    """The suite's raw numbers (not the formatted table) with the machine they were measured on."""
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"environment": environment(threads), "cpu": cpu_description(), "result": result}, f,
                      indent=2, default=float)
            f.write("\n")


def print_result(result):
    """The machine-readable result of one benchmark process (read back by `repeat_in_processes`)."""
    print(RESULT_MARKER + json.dumps(result), flush=True)


def repeat_in_processes(module, argv, processes):
    """Run `python -m module *argv` in `processes` fresh interpreters (a process's memory and thread state
    shift each runtime's speed a little); print each one's table and return their results, in order."""
    import subprocess

    results = []
    for i in range(processes):
        proc = subprocess.run([sys.executable, "-m", module, *argv], capture_output=True, text=True, cwd=REPO)
        print(f"\n# process {i + 1} of {processes}")
        lines = proc.stdout.splitlines()
        print("\n".join(line for line in lines if not line.startswith(RESULT_MARKER)), flush=True)
        if proc.returncode != 0:
            raise SystemExit(f"{module}: process {i + 1} failed:\n{proc.stderr[-3000:]}")
        results.append(json.loads(next(ln for ln in lines if ln.startswith(RESULT_MARKER))[len(RESULT_MARKER):]))
    return results


def spread(values, fmt="{:.2f}x"):
    """'median (min-max)' of a list of numbers."""
    return f"{fmt.format(median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def script_main(doc, add_arguments, main_args, argv=None):
    """`python benchmarks/bench_*.py` entry: the module's own arguments, then its run."""
    import argparse

    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    add_arguments(p)
    return main_args(p.parse_args(argv))
