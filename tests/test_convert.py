"""Converter: any geometry against the PyTorch peer, the way back, and clear errors on bad checkpoints."""
import json
import shutil

import numpy as np
import pytest

import hat_keras
from hat_keras import CheckpointError, HATConfigError, layout_from_string

from harness import assert_close, head_model
from torch_peer import load_peer, random_checkpoint, torch_forward

GEOMETRIES = [
    # layout, K, max segments, pad id, type vocab, heads
    ("D|S|SD", 16, 3, 0, 2, 2),
    ("SD|D|S", 24, 5, 1, 1, 4),       # RoBERTa-style pad id 1, one token type
    ("S|S|SD|D|D", 8, 6, 1, 2, 1),
]


def _config(layout, K, N, pad, types, heads, vocab=300, hidden=32):
    return dict(vocab_size=vocab, hidden_size=hidden, num_attention_heads=heads, intermediate_size=48,
                num_hidden_layers=len(layout.split("|")), encoder_layout=layout_from_string(layout),
                max_sentences=N, max_sentence_length=K, max_sentence_size=K, model_max_length=N * K,
                max_position_embeddings=K, pad_token_id=pad, type_vocab_size=types)


def _inputs(rng, B, n_seg, K, pad, vocab, types):
    ids = rng.integers(3, vocab, (B, n_seg * K))
    ids[:, ::K] = 2
    mask = np.ones_like(ids)
    ids[0, -K // 2:], mask[0, -K // 2:] = pad, 0          # half-padded last segment
    if n_seg > 1:
        ids[1, K:2 * K], mask[1, K:2 * K] = pad, 0         # a fully padded middle segment
    ids[-1, 3] = pad                                       # pad id inside the text
    tt = rng.integers(0, types, ids.shape)
    return ids, mask, tt


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: g[0])
@pytest.mark.parametrize("head,pooling", [("mlm", None), ("seqcls", "attentive"), ("seqcls", "last"),
                                          ("seqsentcls", None)])
def test_any_geometry_matches_pytorch(tmp_path, geometry, head, pooling):
    """Random checkpoints of other layouts, K, segment counts and pad ids, compared in float64 on both
    sides so that only semantics (not float32 rounding of these random weights) can make them differ."""
    peer = load_peer()
    layout, K, N, pad, types, heads = geometry
    config = _config(*geometry)
    config["num_labels"] = 3
    torch_model = random_checkpoint(peer, tmp_path / "ckpt", config, head=head, pooling=pooling or "max",
                                    seed=len(layout) + K)
    if pooling == "last":
        torch_model.last_index = -K  # the intended 'last' (upstream hard-codes -128 = -K for released models)
    torch_model.double()
    model = hat_keras.from_pretrained(tmp_path / "ckpt", pooling=pooling, dtype="float64")
    assert not model.load_report.initialized
    rng = np.random.default_rng(K)
    for n_seg in sorted({1, N}):
        ids, mask, tt = _inputs(rng, 3, n_seg, K, pad, 300, types)
        ref = torch_forward(torch_model, ids, mask, tt)
        x = {"token_ids": ids.astype("int32"), "padding_mask": mask.astype("int32"), "segment_ids": tt.astype("int32")}
        assert_close(model.backbone(x)["sequence_output"], ref["last_hidden_state"], atol=1e-9, rtol=1e-9,
                     what=f"{layout} n={n_seg}")
        if head == "mlm":
            out = model({**x, "mask_positions": hat_keras.all_positions(ids)})
        else:
            out = model(x)
        assert_close(out, ref["logits"], atol=1e-9, rtol=1e-9, what=f"{layout} {head} n={n_seg}")


@pytest.mark.parametrize("head,pooling", [("mlm", None), ("seqcls", "max"), ("multiplechoice", "last")])
def test_round_trip_keras_hf_keras_and_pytorch_loads_it(tmp_path, fixtures_dir, head, pooling):
    """save_pretrained writes original key names: the PyTorch peer loads them; Keras -> HF -> Keras is exact."""
    peer = load_peer()
    name = "tiny-e2"
    src = fixtures_dir / name / ("mlm" if head == "mlm" else "seqcls-max")
    if head == "multiplechoice":
        model = head_model(fixtures_dir, name, "multiplechoice")
        src = fixtures_dir / name / "mlm"
    else:
        model = hat_keras.from_pretrained(src, pooling=pooling)
    out_dir = tmp_path / "hf"
    hat_keras.save_pretrained(model, out_dir)
    cfg = json.loads((out_dir / "config.json").read_text())
    assert cfg["encoder_layout"] == json.loads((src / "config.json").read_text())["encoder_layout"]
    again = hat_keras.from_pretrained(out_dir, pooling=pooling)
    assert type(again) is type(model) and not again.load_report.initialized
    for a, b in zip(model.weights, again.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    r = np.load(fixtures_dir / name / "refs.npz")
    ids, mask = r["a_input_ids"], r["a_attention_mask"]
    if head == "multiplechoice":
        ids, mask = r["mc_input_ids"], r["mc_attention_mask"]
    torch_model = peer.load(str(out_dir), pooling=pooling, last_index=-32)
    ref = torch_forward(torch_model, ids, mask)
    x = {"token_ids": ids.astype("int32"), "padding_mask": mask.astype("int32")}
    out = again({**x, "mask_positions": hat_keras.all_positions(ids)}) if head == "mlm" else again(x)
    assert_close(out, ref["logits"], what=f"{head} via the PyTorch loader")


def test_task_inference(fixtures_dir):
    assert isinstance(hat_keras.from_pretrained(fixtures_dir / "tiny-s1" / "mlm"), hat_keras.HATMaskedLM)
    assert isinstance(hat_keras.from_pretrained(fixtures_dir / "tiny-s1" / "mlm", task="backbone"),
                      hat_keras.HATBackbone)
    clf = hat_keras.from_pretrained(fixtures_dir / "tiny-s1" / "mlm", task="text_classifier", num_labels=5)
    assert clf.num_classes == 5
    # head weights absent from an MLM checkpoint are reported as newly initialised, like transformers does
    assert clf.load_report.initialized == ["classifier.bias", "classifier.weight", "pooler.dense.bias",
                                           "pooler.dense.weight"]
    assert any(k.startswith("lm_head.") for k in clf.load_report.unused)


def _copy(src, dst):
    shutil.copytree(src, dst)
    for p in dst.iterdir():
        p.chmod(0o644)
    return dst


def test_truncated_and_foreign_files(tmp_path, fixtures_dir):
    bad = _copy(fixtures_dir / "tiny-s1" / "mlm", tmp_path / "bad")
    (bad / "pytorch_model.bin").unlink()
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        hat_keras.from_pretrained(bad)
    (bad / "model.safetensors").unlink()
    (bad / "pytorch_model.bin").write_text("this is not a checkpoint")
    with pytest.raises(CheckpointError, match="pytorch_model.bin"):
        hat_keras.from_pretrained(bad)
    (bad / "pytorch_model.bin").unlink()
    with pytest.raises(FileNotFoundError, match="no weights"):
        hat_keras.from_pretrained(bad)


def test_layout_disagreement_and_key_errors(tmp_path, fixtures_dir):
    bad = _copy(fixtures_dir / "tiny-s1" / "mlm", tmp_path / "bad")
    (bad / "pytorch_model.bin").unlink()
    cfg = json.loads((bad / "config.json").read_text())
    cfg["encoder_layout"]["0"]["document_encoder"] = False
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(HATConfigError, match=r"SD\|SD\|SD"):
        hat_keras.from_pretrained(bad)

    # missing, unexpected and mis-shaped keys are listed together in one error
    from safetensors.numpy import save_file
    good = _copy(fixtures_dir / "tiny-s1" / "mlm", tmp_path / "good")
    state = hat_keras.read_state_dict(good / "model.safetensors")
    state.pop("hi_transformer.encoder.layer.1.sentence_encoder.output.dense.bias")
    state["hi_transformer.encoder.layer.0.sentence_encoder.extra.weight"] = np.zeros(3, "float32")
    state["hi_transformer.embeddings.token_type_embeddings.weight"] = np.zeros((3, 64), "float32")
    (good / "pytorch_model.bin").unlink()
    save_file(state, str(good / "model.safetensors"))
    with pytest.raises(CheckpointError) as err:
        hat_keras.from_pretrained(good)
    msg = str(err.value)
    assert "layer.1.sentence_encoder.output.dense.bias" in msg
    assert "sentence_encoder.extra.weight" in msg
    assert "token_type_embeddings.weight: checkpoint (3, 64) vs model (2, 64)" in msg


def test_config_validation_names_the_field(tmp_path):
    base = _config("S|SD", 16, 2, 0, 2, 2)
    cases = [({"num_hidden_layers": 3}, "num_hidden_layers"), ({"num_attention_heads": 5}, "num_attention_heads"),
             ({"max_sentence_length": None}, "max_sentence_length"), ({"encoder_layout": None}, "encoder_layout"),
             ({"pad_token_id": 1000}, "pad_token_id")]
    for change, field in cases:
        with pytest.raises(HATConfigError, match=field):
            hat_keras.HATConfig(**{**base, **change})
    cfg = hat_keras.HATConfig(**{**base, "parameters": 123, "output_past": True})
    assert cfg.to_dict()["parameters"] == 123  # unknown fields are kept
    assert cfg.layout == "S|SD"


def test_tied_copies_that_differ_warn(tmp_path, fixtures_dir):
    from safetensors.numpy import save_file
    d = _copy(fixtures_dir / "tiny-e2" / "mlm", tmp_path / "tied")
    state = hat_keras.read_state_dict(d / "pytorch_model.bin")
    state["lm_head.decoder.weight"] = state["lm_head.decoder.weight"] + 1.0
    state["hi_transformer.encoder.layer.2.position_embeddings.weight"] = np.zeros((5, 64), "float32")
    (d / "pytorch_model.bin").unlink()
    (d / "model.safetensors").unlink()
    save_file(state, str(d / "model.safetensors"))
    with pytest.warns(UserWarning) as record:
        model = hat_keras.from_pretrained(d)
    text = " ".join(str(w.message) for w in record)
    assert "decoder.weight differs" in text and "position_embeddings differ" in text
    first = model.backbone.hat_layers[1].segment_position_embedding.embeddings.numpy()
    np.testing.assert_array_equal(model.backbone.hat_layers[2].segment_position_embedding.embeddings.numpy(), first)
    np.testing.assert_array_equal(model.backbone.token_embedding.embeddings.numpy(),
                                  state["hi_transformer.embeddings.word_embeddings.weight"])


def test_sharded_safetensors(tmp_path, fixtures_dir):
    from safetensors.numpy import save_file
    d = tmp_path / "sharded"
    d.mkdir()
    shutil.copy(fixtures_dir / "tiny-l1" / "mlm" / "config.json", d / "config.json")
    state = hat_keras.read_state_dict(fixtures_dir / "tiny-l1" / "mlm" / "model.safetensors")
    keys = sorted(state)
    shards = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}
    for fname, ks in shards.items():
        save_file({k: state[k] for k in ks}, str(d / fname))
    index = {"metadata": {}, "weight_map": {k: f for f, ks in shards.items() for k in ks}}
    (d / "model.safetensors.index.json").write_text(json.dumps(index))
    a = hat_keras.from_pretrained(d)
    b = hat_keras.from_pretrained(fixtures_dir / "tiny-l1" / "mlm")
    for x, y in zip(a.weights, b.weights):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
