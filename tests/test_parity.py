"""Parity with the original PyTorch HAT: every fixture layout, head, pooling and reference batch."""
import numpy as np
import pytest
import tensorflow as tf
import keras

import hat_keras
from hat_keras import all_positions
from hat_keras.models.weight_map import model_ports

from harness import TINY, assert_close, batch, head_model, refs


@pytest.fixture(scope="module", params=TINY)
def tiny(request, fixtures_dir):
    name = request.param
    return name, refs(fixtures_dir, name), hat_keras.from_pretrained(fixtures_dir / name / "mlm")


def test_backbone_all_batches(tiny):
    name, r, mlm = tiny
    for prefix, types in (("a", False), ("b", False), ("c", True)):
        out = mlm.backbone(batch(r, prefix, types))
        assert_close(out["sequence_output"], r[f"{prefix}_last_hidden_state"], what=f"{name} batch {prefix}")
        L = mlm.backbone.segment_length
        assert_close(out["segment_output"], r[f"{prefix}_last_hidden_state"][:, ::L], what="segment_output")


def test_embeddings_and_layer_outputs(tiny):
    name, r, mlm = tiny
    b = mlm.backbone
    # the last layer runs twice in the graph (full, and first tokens only): its full output is sequence_output
    probe = keras.Model(b.input, [b.embeddings_layer_norm.output] + [layer.output for layer in b.hat_layers[:-1]]
                        + [b.output["sequence_output"]])
    outs = probe({**batch(r, "a"), "segment_ids": None})
    assert_close(outs[0], r["a_embedding_output"], what="embedding output")
    if "a_layer_outputs" in r:  # tiny-e2 and tiny-adhoc store every layer's clean output
        for i, out in enumerate(outs[1:]):
            assert_close(out, r["a_layer_outputs"][i], what=f"{name} layer {i}")


def test_position_ids(tiny):
    name, r, mlm = tiny
    for prefix in "abc":
        pos = mlm.backbone.position_ids(r[f"{prefix}_input_ids"].astype("int32"))
        np.testing.assert_array_equal(np.asarray(pos), r[f"{prefix}_position_ids"])


def test_mlm_logits_and_loss(tiny):
    name, r, mlm = tiny
    x = batch(r, "a")
    logits = mlm({**x, "mask_positions": all_positions(x["token_ids"])})
    assert_close(logits, r["a_mlm_logits"], what=f"{name} mlm logits")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-100)(
        r["a_mlm_labels"].astype("int32"), logits)
    assert abs(float(loss) - float(r["a_mlm_loss"])) < 1e-5


def test_mlm_gradients(tiny, fixtures_dir):
    """Gradients of the MLM loss within 1e-4 relative; pad rows get no lookup gradient, as in PyTorch."""
    name, r, mlm = tiny
    x = batch(r, "a")
    labels = r["a_mlm_labels"].astype("int32")
    ports = {k: p for p in model_ports(mlm) for k in p.keys}
    names = [k[len("grad/"):] for k in r.files if k.startswith("grad/")]
    variables = list({id(ports[n].variable): ports[n].variable for n in names}.values())
    with tf.GradientTape() as tape:
        logits = mlm({**x, "mask_positions": all_positions(x["token_ids"])})
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-100)(labels, logits)
    grads = dict(zip([id(v) for v in variables], tape.gradient(loss, [v.value for v in variables])))
    for n in names:
        port = ports[n]
        g = grads[id(port.variable)]
        g = np.zeros(port.variable.shape, "float32") if g is None else tf.convert_to_tensor(g).numpy()
        got = port.to_hf(g)[port.keys.index(n)]
        want = r["grad/" + n]
        scale = max(np.abs(want).max(), 1e-30)
        err = np.abs(got - want).max()
        assert err <= 1e-4 * scale + 1e-9, f"{name} grad {n}: {err} vs {scale}"


HEADS = ("seqcls-max", "seqcls-attentive", "seqcls-first", "seqcls-last", "seqsentcls", "multiplechoice")


@pytest.mark.parametrize("head", HEADS)
def test_heads(tiny, head, fixtures_dir):
    name, r, _ = tiny
    model = head_model(fixtures_dir, name, head)
    if head == "multiplechoice":
        x = {"token_ids": r["mc_input_ids"].astype("int32"), "padding_mask": r["mc_attention_mask"].astype("int32")}
        # 'last' is the first token of the last segment (= upstream's -128 when K = 128): the *_at_minus_L refs.
        assert_close(model(x), r["mc_logits_at_minus_L"], what=f"{name} mc")
        return
    key = head.replace("-", "_")
    for prefix, types in (("a", False), ("b", False), ("c", True)):
        ref_name = f"{prefix}_{key}_logits"
        if head == "seqcls-last":
            ref_name += "_at_minus_L"
        if ref_name not in r:
            continue
        assert_close(model(batch(r, prefix, types)), r[ref_name], what=f"{name} {head} {prefix}")


def test_seqcls_loss(tiny, fixtures_dir):
    name, r, _ = tiny
    model = head_model(fixtures_dir, name, "seqcls-max")
    logits = model(batch(r, "a"))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(r["a_seqcls_labels"], logits)
    assert abs(float(loss) - float(r["a_seqcls_max_loss"])) < 1e-5


def test_full_classifier_checkpoints(fixtures_dir):
    """Full save_pretrained checkpoints load end to end (hi_transformer. + pooler. + classifier. keys)."""
    for name in ("tiny-e2", "tiny-adhoc"):
        r = refs(fixtures_dir, name)
        model = hat_keras.from_pretrained(fixtures_dir / name / "seqcls-max")
        assert isinstance(model, hat_keras.HATTextClassifier) and model.pooling == "max"
        assert not model.load_report.initialized
        assert_close(model(batch(r, "a")), r["a_seqcls_max_logits"], what=name)


def test_head_semantics_flag(fixtures_dir):
    """use_segment_position_embeddings=True reproduces GitHub HEAD (the *_HEAD_b8502aa arrays)."""
    for name in ("tiny-e2",):
        r = refs(fixtures_dir, name)
        head_arrays = [k for k in r.files if k.endswith("_HEAD_b8502aa")]
        assert head_arrays
        mlm = hat_keras.from_pretrained(fixtures_dir / name / "mlm", use_segment_position_embeddings=True)
        out = mlm.backbone(batch(r, "a"))["sequence_output"]
        assert_close(out, r["a_last_hidden_state_HEAD_b8502aa"], what="HEAD semantics")
        # and the default (checkpoint semantics) differs from it
        default = hat_keras.from_pretrained(fixtures_dir / name / "mlm").backbone(batch(r, "a"))["sequence_output"]
        assert np.abs(np.asarray(default) - r["a_last_hidden_state_HEAD_b8502aa"]).max() > 1e-2
        if "a_seqcls_max_logits_HEAD_b8502aa" in r:
            state = hat_keras.read_state_dict(fixtures_dir / name / "seqcls-max")
            clf = hat_keras.from_pretrained(fixtures_dir / name / "seqcls-max", use_segment_position_embeddings=True)
            assert state and clf is not None
            assert_close(clf(batch(r, "a")), r["a_seqcls_max_logits_HEAD_b8502aa"], what="HEAD seqcls")


def test_safetensors_equals_bin(fixtures_dir):
    """model.safetensors (aliases removed) and pytorch_model.bin (all copies) give the same model."""
    r = refs(fixtures_dir, "tiny-b2")
    a = hat_keras.read_state_dict(fixtures_dir / "tiny-b2" / "mlm" / "model.safetensors")
    b = hat_keras.read_state_dict(fixtures_dir / "tiny-b2" / "mlm" / "pytorch_model.bin")
    assert set(a) < set(b)
    m = hat_keras.from_pretrained(fixtures_dir / "tiny-b2" / "mlm")
    out = m.backbone(batch(r, "a"))["sequence_output"]
    assert_close(out, r["a_last_hidden_state"])
