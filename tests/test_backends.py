"""The models and converter are backend-agnostic Keras 3: parity on a backend without TensorFlow installed.

The GPU benchmark relies on this (a GPU machine without a TensorFlow build runs the port on the JAX backend);
here the torch backend stands in, in a fresh interpreter where `import tensorflow` fails.
"""
import json


import hat_keras
from harness import assert_close, batch, refs, run_fresh_python

NO_TF = """
import sys
for name in ("tensorflow", "tensorflow_text", "tf_keras"):
    sys.modules[name] = None  # as if not installed: import fails, find_spec returns None
import os
os.environ["KERAS_BACKEND"] = "torch"
"""


def test_stateless_call_without_segment_ids(fixtures_dir):
    """`stateless_call` (used by JAX training and jax.jit) accepts inputs without token types, like `__call__`."""
    r = refs(fixtures_dir, "tiny-e2")
    mlm = hat_keras.from_pretrained(fixtures_dir / "tiny-e2" / "mlm")
    bb = mlm.backbone
    tv = [v.value for v in bb.trainable_variables]
    ntv = [v.value for v in bb.non_trainable_variables]
    out, _ = bb.stateless_call(tv, ntv, batch(r, "b"))
    assert_close(out["sequence_output"], r["b_last_hidden_state"], what="stateless_call")


def test_torch_backend_without_tensorflow(fixtures_dir):
    code = NO_TF + f"""
import json, numpy as np, keras
import hat_keras
assert keras.config.backend() == "torch" and not hat_keras._HAS_TF
r = np.load({str(fixtures_dir / "tiny-e2" / "refs.npz")!r})
mlm = hat_keras.from_pretrained({str(fixtures_dir / "tiny-e2" / "mlm")!r})
diffs = {{}}
for p in "abc":
    x = {{"token_ids": r[p + "_input_ids"].astype("int32"), "padding_mask": r[p + "_attention_mask"].astype("int32")}}
    if p == "c":
        x["segment_ids"] = r["c_token_type_ids"].astype("int32")
    out = keras.ops.convert_to_numpy(mlm.backbone(x)["sequence_output"])
    diffs[p] = float(np.max(np.abs(out - r[p + "_last_hidden_state"])))
x = {{"token_ids": r["a_input_ids"].astype("int32"), "padding_mask": r["a_attention_mask"].astype("int32")}}
logits = keras.ops.convert_to_numpy(mlm({{**x, "mask_positions": hat_keras.all_positions(x["token_ids"])}}))
diffs["mlm"] = float(np.max(np.abs(logits - r["a_mlm_logits"])))
print(json.dumps(diffs))
"""
    diffs = json.loads(run_fresh_python(code).strip().splitlines()[-1])
    assert set(diffs) == {"a", "b", "c", "mlm"}
    for what, d in diffs.items():
        assert d < 1e-5, (what, d)
