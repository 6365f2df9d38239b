"""MLM training: tokens/s of one optimizer step (forward, backward, AdamW), Keras beside the PyTorch peer.

Same batch, same weights, dropout on in both. The peer computes vocabulary logits at every token and a
cross-entropy with -100 labels, as upstream's HATForMaskedLM does; the Keras MaskedLM computes them only
at the masked positions (keras-hub's MaskedLM contract), which skips most of the 30,522-wide decoder
matmul. A Keras row with every position decoded shows the like-for-like cost.

The Keras-on-JAX row runs the same model, weights and batch in a second process (KERAS_BACKEND is fixed per
process) that takes one step per request over a pipe, so its steps are interleaved with the others' like any
candidate; the pipe round trip (well under a millisecond) is inside its time.
"""
import json
import os
import subprocess
import sys

import numpy as np

from benchmarks import common


def masked_batch(batch, segments, K, vocab, rate=0.15, seed=0):
    x = common.documents(batch, segments, K, vocab, seed=seed)
    rng = np.random.default_rng(seed + 1)
    S = segments * K
    P = int(round(rate * S))
    positions = np.sort(np.stack([rng.choice(np.arange(1, S), P, replace=False) for _ in range(batch)]), 1)
    labels = np.take_along_axis(x["token_ids"], positions, 1).astype("int32")
    ids = x["token_ids"].copy()
    np.put_along_axis(ids, positions, 103, 1)  # [MASK]
    return ids, x["padding_mask"], positions.astype("int32"), labels


def mlm_inputs(ids, mask, positions, labels, all_positions=False):
    """(x, y, sample_weight) numpy arrays for a Keras MaskedLM step: decoding the masked positions, or every
    position with weight 1 only at the masked ones (upstream's cost)."""
    if not all_positions:
        x = {"token_ids": ids, "padding_mask": mask, "mask_positions": positions}
        return x, labels, np.ones(labels.shape, "float32")
    pos = np.broadcast_to(np.arange(ids.shape[1], dtype="int32"), ids.shape).copy()
    y = ids.copy()
    np.put_along_axis(y, positions, labels, 1)
    w = np.zeros(ids.shape, "float32")
    np.put_along_axis(w, positions, 1.0, 1)
    return {"token_ids": ids, "padding_mask": mask, "mask_positions": pos}, y, w


def keras_step(model, ids, mask, positions, labels, jit_compile, all_positions=False):
    import keras

    model.compile(optimizer=keras.optimizers.AdamW(1e-5, weight_decay=0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=jit_compile)
    x, y, w = mlm_inputs(ids, mask, positions, labels, all_positions)
    if keras.config.backend() == "tensorflow":  # tensors made once, not per step
        import tensorflow as tf

        x = {k: tf.constant(v) for k, v in x.items()}
        y, w = tf.constant(y), tf.constant(w)
    return lambda: model.train_on_batch(x, y, sample_weight=w)


def torch_step(peer, ids, mask, positions, labels, device="cpu", bfloat16=False):
    """One AdamW step of the peer on `device` (vocabulary logits at every position, -100 elsewhere, as
    upstream), optionally under bfloat16 autocast; returns the loss as a float (synchronises)."""
    torch = common.torch_module()
    import torch.nn.functional as F

    peer.train()
    opt = torch.optim.AdamW(peer.parameters(), lr=1e-5, weight_decay=0.01)
    y = np.full(ids.shape, -100, "int64")
    np.put_along_axis(y, positions, labels, 1)
    t_ids, t_mask, t_y = (torch.from_numpy(a).long().to(device) for a in (ids, mask, y))

    def step():
        with torch.autocast(device, torch.bfloat16, enabled=bfloat16):
            logits = peer(t_ids, t_mask)["logits"]
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), t_y.reshape(-1), ignore_index=-100)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    return step


_JAX_WORKER = r"""
import json, sys
from benchmarks import common, training
batch, threads, all_positions = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "all"
common.setup_threads(threads)
import jax, keras
import numpy as np
assert keras.config.backend() == "jax"
model = common.keras_model("masked_lm")
bb = model.backbone
step = training.keras_step(model, *training.masked_batch(batch, bb.max_segments, bb.segment_length,
                                                         bb.vocabulary_size), True, all_positions)
print("READY " + json.dumps({"jax": jax.__version__, "device": jax.devices()[0].device_kind}), flush=True)
for line in sys.stdin:
    loss = step()  # train_on_batch returns numpy values: the step has finished
    print("STEP " + json.dumps({"loss": float(np.ravel(loss)[0])}), flush=True)
"""


class JaxStep:
    """A Keras-on-JAX training step in a worker process: calling it runs one step there and waits for it."""

    def __init__(self, batch, threads, all_positions=False):
        env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
        if threads == 1:  # XLA's CPU runtime otherwise uses a thread per core
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                                "intra_op_parallelism_threads=1").strip()
        root = str(common.REPO)
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
        self.proc = subprocess.Popen([sys.executable, "-c", _JAX_WORKER, str(batch), str(threads),
                                      "all" if all_positions else "masked"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, cwd=common.REPO)
        self.info = self._reply("READY ")

    def _reply(self, prefix):
        for line in self.proc.stdout:
            if line.startswith(prefix):
                return json.loads(line[len(prefix):])
        raise RuntimeError(f"the JAX training worker exited (status {self.proc.wait()})")

    def __call__(self):
        self.proc.stdin.write("step\n")
        self.proc.stdin.flush()
        return self._reply("STEP ")["loss"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def run(batch=2, threads=2, runs=10, warmup=3, variants=("graph", "xla", "all", "jax")):
    common.setup_threads(threads)
    from hat_keras.inference import backbone_of

    models = {}
    base = common.keras_model("masked_lm")
    bb = backbone_of(base)
    K, N, V = bb.segment_length, bb.max_segments, bb.vocabulary_size
    ids, mask, positions, labels = masked_batch(batch, N, K, V)
    cands = {}
    for name, jit, every in (("Keras train_on_batch (masked positions)", False, False),
                             ("Keras train_on_batch XLA (masked positions)", True, False),
                             ("Keras train_on_batch (all positions, as upstream)", False, True)):
        key = "xla" if jit else ("all" if every else "graph")
        if key not in variants:
            continue
        model = common.keras_model("masked_lm")
        models[name] = model
        cands[name] = keras_step(model, ids, mask, positions, labels, jit, every)
    jax_step = None
    if "jax" in variants:
        jax_step = JaxStep(batch, threads)
        cands[f"Keras on JAX {jax_step.info['jax']} train_on_batch (masked positions)"] = jax_step
    peer = common.torch_twin(base, "mlm")
    if peer is not None:
        cands["PyTorch peer (AdamW step)"] = torch_step(peer, ids, mask, positions, labels)
    try:
        times = common.interleaved(cands, runs=runs, warmup=warmup)
    finally:
        if jax_step is not None:
            jax_step.close()
    tokens = batch * N * K
    peer_med = common.median(times["PyTorch peer (AdamW step)"]) if peer is not None else None
    rows = []
    for name, ts in times.items():
        med = common.median(ts)
        rows.append((name, f"{med * 1e3:.0f}", f"{tokens / med:.0f}", f"{peer_med / med:.2f}x" if peer_med else "-"))
    common.print_table(
        f"HAT MLM training step, EC2-mini, batch {batch} x {N * K} tokens, 15% masked; median of {runs} after "
        f"{warmup} warm-up, interleaved; {common.environment(threads)}; {common.cpu_description()}",
        ("trainer", "step ms", "tokens/s", "vs PyTorch"), rows)
    return rows


def add_arguments(p):
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--variants", nargs="+", default=["graph", "xla", "all", "jax"],
                   choices=("graph", "xla", "all", "jax"), help="jax: Keras on JAX in a worker process")
    p.add_argument("--quick", action="store_true", help="3 runs after 1 warm-up")


def main_args(a):
    runs, warmup = (3, 1) if a.quick else (a.runs, a.warmup)
    run(a.batch, a.threads, runs, warmup, tuple(a.variants))
    return 0


def main(argv=None):
    return common.script_main(__doc__, add_arguments, main_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
