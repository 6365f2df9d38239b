"""A tiny MLM training job run in a subprocess by the distributed / resume tests (TF device setup and
TF_CONFIG must be fixed before TensorFlow starts, and a SIGKILL must hit a separate process)."""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--strategy", default="cpu")
    p.add_argument("--logical-cpus", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=20)
    p.add_argument("--checkpoint-every", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--steps-per-execution", type=int, default=1)
    p.add_argument("--jit-compile", action="store_true", default=None)
    p.add_argument("--sleep", type=float, default=0.0, help="seconds per step (gives a test time to kill)")
    p.add_argument("--weights-out")
    p.add_argument("--outputs-out", help="npz: the trained model's MLM logits on fixed inputs (and the inputs)")
    p.add_argument("--deterministic", action="store_true",
                   help="TF op determinism: the MLM masking's random ops then give the same masks every run")
    a = p.parse_args()

    from hat_keras.training import strategy as st
    if a.logical_cpus:
        st.set_logical_cpus(a.logical_cpus)
    import keras
    import numpy as np
    import tensorflow as tf

    import hat_keras as h
    from hat_keras import training as T
    from hat_keras.training import callbacks as cb
    from hat_keras.training import preprocessing as pp
    from training_helpers import K, N, tiny_backbone_kwargs

    if a.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = st.get_strategy(a.strategy, devices=[f"/cpu:{i}" for i in range(a.logical_cpus)] or None)
    rng = np.random.RandomState(0)
    ids = rng.randint(5, 13, size=(64, K * N)).astype("int32")  # a skewed unigram: quick to learn
    ids[:, ::K] = 2
    ids[:, -K:] = 0  # the last segment is padding, as in real documents
    ids[:, -K] = 2
    mask = (ids > 0).astype("int32")
    mask[:, -K] = 0
    examples = T.Examples(tf.data.Dataset.from_tensor_slices({"token_ids": ids, "padding_mask": mask}), len(ids),
                          pretokenized=True)
    masker = pp.PretokenizedMasker(70, 4, [0, 1, 2, 3, 4], K * N, selection_length=8)
    args = T.TrainArgs(output_dir=a.out, train_data=[], batch_size=a.batch_size, max_steps=a.max_steps,
                       checkpoint_every=a.checkpoint_every, learning_rate=3e-3, seed=1, tensorboard=False,
                       steps_per_execution=a.steps_per_execution, jit_compile=a.jit_compile, verbose=2)
    print(json.dumps({"resumed_step": cb.saved_step(os.path.join(a.out, "backup"), strategy)}), flush=True)

    def model_fn():
        keras.utils.set_random_seed(0)
        return h.HATMaskedLM(h.HATBackbone(**tiny_backbone_kwargs(vocabulary_size=70)))

    class Slow(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            time.sleep(a.sleep)
            with open(os.path.join(a.out, "progress"), "w") as f:
                f.write(str(int(self.model.optimizer.iterations.numpy())))

    extra = [Slow()] if a.sleep else []
    result = T.train("mlm", args, strategy=strategy, model_fn=model_fn, preprocess=lambda x, y=None: masker(x),
                     examples=examples, extra_callbacks=extra)
    if a.weights_out:
        np.savez(a.weights_out, *[v.numpy() for v in result.model.weights])
    if a.outputs_out:
        x = {"token_ids": ids[:4], "padding_mask": mask[:4],
             "mask_positions": np.tile(np.arange(1, 9, dtype="int32"), (4, 1))}
        np.savez(a.outputs_out, logits=keras.ops.convert_to_numpy(result.model(x)), **x)
    spec = {"steps": result.steps, "loss": result.history["loss"], "replicas": strategy.num_replicas_in_sync,
            "backend": keras.config.backend()}
    if keras.config.backend() == "jax":  # every variable's copy on each device, compared bit for bit
        copies = [[np.asarray(s.data) for s in v.value.addressable_shards] for v in result.model.weights]
        spec["copies_per_variable"] = sorted({len(c) for c in copies})
        spec["variables_differing_across_devices"] = sum(
            any(not np.array_equal(c[0], other) for other in c[1:]) for c in copies)
    print("RESULT " + json.dumps(spec), flush=True)


if __name__ == "__main__":
    main()
