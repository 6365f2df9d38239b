"""GPU: EC2-mini inference and MLM training step, float32 / TF32 / mixed bfloat16, Keras beside the PyTorch peer.

Both run on the same GPU with the same weights. Keras runs on whichever backend is installed: TensorFlow
where it is, else JAX (the models are backend-agnostic Keras 3; a GPU machine without a TensorFlow build can
still measure the port). The Keras forward is one compiled function (XLA); the peer runs eagerly, as the
original code does. "float32" disables TF32 on both sides, "tf32" allows it on both, "bfloat16" is Keras'
`mixed_bfloat16` policy beside `torch.autocast(bfloat16)` (float32 weights, bfloat16 matmuls).
Every call ends with a device sync; medians over interleaved runs after warm-up.
"""
import json
import os
import time
import traceback

import numpy as np

from benchmarks import common

PRECISIONS = ("float32", "tf32", "bfloat16")
DEVICE = "cuda"  # "cpu" only for a dry run of this script on a machine without a GPU


def _backend():
    import keras

    return keras.config.backend()


def set_precision(precision):
    """Matmul precision of both frameworks (float32 rows must not silently use TF32)."""
    torch = common.torch_module()
    tf32 = precision == "tf32"
    if torch is not None:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    if _backend() == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "tensorfloat32" if tf32 else "highest")
    else:
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(tf32)


def keras_model(task, precision, like=None):
    """EC2-mini Keras model under the precision's dtype policy, with `like`'s weights when given."""
    import keras

    keras.config.set_dtype_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    try:
        keras.utils.set_random_seed(0)
        model = common.keras_model(task, weights=False)
        if like is not None:
            model.set_weights(like.get_weights())
    finally:
        keras.config.set_dtype_policy("float32")
    return model


def keras_forward(model, x):
    """A no-argument compiled forward of `model` on device-resident `x`, synchronised on return."""
    if _backend() == "jax":
        import jax

        tv = [v.value for v in model.trainable_variables]
        ntv = [v.value for v in model.non_trainable_variables]
        fn = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])
        xd = jax.device_put(x)
        return lambda: np.asarray(fn(tv, ntv, xd))
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False), jit_compile=True)
    xd = {k: tf.constant(v) for k, v in x.items()}
    return lambda: fn(xd).numpy()


def torch_forward(peer, x, precision):
    torch = common.torch_module()
    ids, mask = (t.to(DEVICE) for t in common.to_torch(x))

    def run():
        with torch.inference_mode(), torch.autocast(DEVICE, torch.bfloat16, enabled=precision == "bfloat16"):
            out = peer(ids, mask)["logits"]
        return out.float().cpu().numpy()

    return run


def keras_train_step(model, batch, all_positions):
    """One `train_on_batch` (AdamW, compiled) on the masked batch; returns the loss (synchronises)."""
    import keras

    from benchmarks.training import mlm_inputs

    model.compile(optimizer=keras.optimizers.AdamW(1e-5, weight_decay=0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True)
    x, y, w = mlm_inputs(*batch, all_positions=all_positions)
    return lambda: model.train_on_batch(x, y, sample_weight=w)


def _cpu_model():
    return common.cpu_description()


def environment():
    import platform

    import keras

    torch = common.torch_module()
    if DEVICE == "cpu":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        card = f"CPU {_cpu_model()}, {cores} cores available to this process"
    else:
        card = torch.cuda.get_device_name(0) if torch is not None and torch.cuda.is_available() else "no CUDA device"
    if _backend() == "jax":
        import jax

        engine = f"JAX {jax.__version__} ({jax.devices()[0].device_kind})"
    else:
        import tensorflow as tf

        engine = f"TF {tf.__version__} ({len(tf.config.list_physical_devices('GPU'))} GPU)"
    return (f"{card}; Keras {keras.__version__} on {engine}; torch {torch.__version__ if torch else '-'}; "
            f"host {platform.machine()}")


def run(batches=(1, 8, 32), train_batch=8, precisions=PRECISIONS, runs=20, warmup=5, out=None):
    from benchmarks.training import masked_batch, torch_step

    results = {"environment": environment(), "inference": [], "training": [], "errors": []}
    print(results["environment"], flush=True)

    def save():
        if out:
            with open(out, "w") as f:
                json.dump(results, f, indent=1)

    base_cls = keras_model("text_classifier", "float32")
    base_mlm = keras_model("masked_lm", "float32")
    config = base_cls.hat_config
    K, N = config.segment_length, config.max_segments
    for precision in precisions:
        set_precision(precision)
        # Inference: text classifier (max pooling), documents of N x K tokens.
        try:
            model = keras_model("text_classifier", precision, like=base_cls)
            peer = common.torch_twin(base_cls, "seqcls").to(DEVICE)
            for b in batches:
                x = common.documents(b, N, K)
                cands = {"keras": keras_forward(model, x), "torch": torch_forward(peer, x, precision)}
                t0 = time.perf_counter()
                diff = float(np.max(np.abs(cands["keras"]().astype("float64") - cands["torch"]())))
                compile_s = time.perf_counter() - t0
                times = common.interleaved(cands, runs=runs, warmup=warmup, settle=0.0)
                k, t = common.median(times["keras"]), common.median(times["torch"])
                row = dict(precision=precision, batch=b, keras_ms=k * 1e3, torch_ms=t * 1e3, keras_docs_s=b / k,
                           torch_docs_s=b / t, ratio=t / k, max_abs_diff=diff, first_call_s=compile_s)
                results["inference"].append(row)
                print(json.dumps(row), flush=True)
                save()
            del peer
        except Exception:  # keep measuring the other precisions; the error is reported in the table
            results["errors"].append(f"inference {precision}: {traceback.format_exc()}")
            print(results["errors"][-1], flush=True)
        # MLM training step (AdamW), batch train_batch x N*K tokens, 15% masked.
        try:
            batch = masked_batch(train_batch, N, K, config.vocab_size)
            peer = common.torch_twin(base_mlm, "mlm").to(DEVICE)
            cands = {"torch": torch_step(peer, *batch, device=DEVICE, bfloat16=precision == "bfloat16")}
            for every in (False, True):
                model = keras_model("masked_lm", precision, like=base_mlm)
                cands["keras_all" if every else "keras"] = keras_train_step(model, batch, every)
            times = common.interleaved(cands, runs=runs, warmup=warmup, settle=0.0)
            tokens = train_batch * N * K
            t = common.median(times["torch"])
            for name in ("keras", "keras_all"):
                k = common.median(times[name])
                row = dict(precision=precision, batch=train_batch, trainer=name, keras_ms=k * 1e3, torch_ms=t * 1e3,
                           keras_tokens_s=tokens / k, torch_tokens_s=tokens / t, ratio=t / k)
                results["training"].append(row)
                print(json.dumps(row), flush=True)
            save()
            del peer
        except Exception:
            results["errors"].append(f"training {precision}: {traceback.format_exc()}")
            print(results["errors"][-1], flush=True)
    set_precision("float32")
    print_tables(results, runs, warmup)
    save()
    return results


def print_tables(results, runs=20, warmup=5):
    env = results["environment"]
    rows = [(r["precision"], r["batch"], f"{r['keras_ms']:.2f}", f"{r['torch_ms']:.2f}", f"{r['keras_docs_s']:.0f}",
             f"{r['torch_docs_s']:.0f}", f"{r['ratio']:.2f}x", f"{r['max_abs_diff']:.1e}")
            for r in results["inference"]]
    where = "GPU" if DEVICE == "cuda" else "CPU"
    common.print_table(f"HAT inference on {where}, EC2-mini 1,024 tokens, max pooling; median of {runs} after {warmup} "
                       f"warm-up, interleaved; {env}",
                       ("precision", "batch", "Keras ms", "PyTorch ms", "Keras docs/s", "PyTorch docs/s",
                        "Keras vs PyTorch", "max |diff|"), rows)
    rows = [(r["precision"], r["batch"], "masked positions" if r["trainer"] == "keras" else "all positions",
             f"{r['keras_ms']:.2f}", f"{r['torch_ms']:.2f}", f"{r['keras_tokens_s']:.0f}", f"{r['torch_tokens_s']:.0f}",
             f"{r['ratio']:.2f}x") for r in results["training"]]
    common.print_table(f"HAT MLM training step (AdamW) on {where}, EC2-mini, 15% masked; PyTorch decodes every "
                       f"position as upstream; {env}",
                       ("precision", "batch", "Keras decodes", "Keras ms", "PyTorch ms", "Keras tokens/s",
                        "PyTorch tokens/s", "Keras vs PyTorch"), rows)
    for e in results["errors"]:
        print(f"\nERROR {e}")


def add_arguments(p):
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--train-batch", type=int, default=8)
    p.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    p.add_argument("--dry-run-on-cpu", action="store_true",
                   help="run the same measurements on CPU (a check of the script, or CPU figures where TensorFlow "
                        "is missing: pin cores with taskset and set OMP_NUM_THREADS)")


def main_args(a):
    global DEVICE
    torch = common.torch_module()
    DEVICE = "cpu" if a.dry_run_on_cpu else "cuda"
    if torch is None or (DEVICE == "cuda" and not torch.cuda.is_available()):
        raise SystemExit("bench gpu: needs torch with a CUDA device for the PyTorch peer")
    if common.torch_peer() is None:
        raise SystemExit(f"bench gpu: torch_hat.py not found under {common.shared_dir() / 'tools'} (set HAT_SHARED)")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    run(tuple(a.batches), a.train_batch, tuple(a.precisions), a.runs, a.warmup, a.json)
    return 0


def main(argv=None):
    return common.script_main(__doc__, add_arguments, main_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
