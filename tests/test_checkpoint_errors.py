"""Bad checkpoints end in one line naming the file and key: relabelled dtypes, non-finite values, mis-shaped
fused tensors, a vocabulary larger than vocab_size, invalid JSON, a `.keras` that is no zip; BF16 loads."""
import json
import os
import shutil
import struct

import numpy as np
import pytest

import hat_keras
from hat_keras import CheckpointError, HATConfigError
from hat_keras.cli import main
from training_helpers import SPECIALS, WORDS, write_tiny_hat

LN_BIAS = "hi_transformer.embeddings.LayerNorm.bias"
QUERY = "hi_transformer.encoder.layer.0.sentence_encoder.attention.self.query.weight"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_hat(str(tmp_path_factory.mktemp("tiny") / "hat"))


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _rewrite_header(path, change):
    """Edit a safetensors header in place (the tensor bytes stay as they are)."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    change(header)
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    open(path, "wb").write(struct.pack("<Q", len(blob)) + blob + raw[8 + n:])


def _convert(src, dst, capsys):
    rc = main(["convert", str(src), "-o", str(dst), "--quiet"])
    return rc, capsys.readouterr().err


def test_relabelled_dtype_is_refused(tiny, tmp_path, capsys):
    """F32 bytes relabelled I32 (same size) read as values around 1e9: refused, naming the key."""
    bad = _copy(tiny, tmp_path / "bad")
    _rewrite_header(bad / "model.safetensors", lambda h: h[LN_BIAS].update(dtype="I32"))
    with pytest.raises(CheckpointError, match=rf"tensor '{LN_BIAS}' has dtype int32; HAT weights are floating"):
        hat_keras.from_pretrained(bad)
    rc, err = _convert(bad, tmp_path / "out.keras", capsys)
    assert rc == 1 and err.count("\n") == 1 and LN_BIAS in err and "int32" in err
    assert sorted(os.listdir(tmp_path)) == ["bad"]  # nothing at DST, no partial folder


def test_non_finite_values_refused_and_bf16_loads(tiny, tmp_path):
    import torch
    from safetensors.torch import save_file
    state = hat_keras.read_state_dict(tiny)
    nan = _copy(tiny, tmp_path / "nan")
    from safetensors.numpy import save_file as save_np
    save_np({**state, LN_BIAS: np.full_like(state[LN_BIAS], np.nan)}, str(nan / "model.safetensors"))
    with pytest.raises(CheckpointError, match=rf"tensor '{LN_BIAS}' holds NaN or infinite values"):
        hat_keras.from_pretrained(nan)
    bf16 = _copy(tiny, tmp_path / "bf16")
    save_file({k: torch.from_numpy(v).to(torch.bfloat16) if v.dtype == np.float32 else torch.from_numpy(v)
               for k, v in state.items()}, str(bf16 / "model.safetensors"))
    model = hat_keras.from_pretrained(bf16)
    want = torch.from_numpy(state[QUERY]).to(torch.bfloat16).float().numpy()
    got = hat_keras.read_state_dict(bf16)[QUERY]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    kernel = model.backbone.hat_layers[0].segment_block.qkv_dense.kernel.numpy()
    np.testing.assert_array_equal(kernel[:, :want.shape[0]], want.T)


def test_mis_shaped_query_named_by_convert_and_info(tiny, tmp_path, capsys):
    from safetensors.numpy import save_file
    bad = _copy(tiny, tmp_path / "bad")
    state = hat_keras.read_state_dict(bad)
    shape = state[QUERY].shape
    state[QUERY] = state[QUERY].reshape(shape[0] * 2, shape[1] // 2)
    save_file(state, str(bad / "model.safetensors"))
    msg = f"{QUERY}: checkpoint ({shape[0] * 2}, {shape[1] // 2}) vs model {shape}"
    with pytest.raises(CheckpointError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        hat_keras.from_pretrained(bad)
    rc, err = _convert(bad, tmp_path / "out.keras", capsys)
    assert rc == 1 and msg in err
    assert main(["info", str(bad)]) == 1
    captured = capsys.readouterr()
    assert "layout from keys" in captured.out and msg in captured.err


def test_vocabulary_larger_than_vocab_size_refused_at_load(tiny, tmp_path, capsys):
    big = _copy(tiny, tmp_path / "big")
    vocab = SPECIALS + WORDS + ["."]
    (big / "vocab.txt").write_text("\n".join(vocab + ["extra1", "extra2"]) + "\n")
    size = json.loads((big / "config.json").read_text())["vocab_size"]
    assert size == len(vocab)
    with pytest.raises(HATConfigError, match=rf"vocab.txt: the vocabulary has {size + 2} tokens but the model's "
                                             rf"vocab_size is {size}; ids {size}..{size + 1} would index past"):
        hat_keras.from_pretrained(big)
    rc, err = _convert(big, tmp_path / "out.keras", capsys)
    assert rc == 1 and "vocab.txt" in err and "vocab_size is" in err
    hat_keras.from_pretrained(big, load_tokenizer=False)  # the weights themselves are fine


def test_invalid_json_and_fake_keras_name_the_file(tiny, tmp_path, capsys):
    bad = _copy(tiny, tmp_path / "bad")
    (bad / "config.json").write_text('{"vocab_size": 54, oops}')
    rc, err = _convert(bad, tmp_path / "out.keras", capsys)
    assert rc == 1 and f"{bad / 'config.json'}: not valid JSON" in err
    shutil.copy(os.path.join(tiny, "config.json"), bad / "config.json")
    (bad / "tokenizer_config.json").write_text("{nope")
    with pytest.raises(ValueError, match="tokenizer_config.json: not valid JSON"):
        hat_keras.from_pretrained(bad)
    fake = tmp_path / "fake.keras"
    fake.write_text("not a zip")
    for argv in (["info", str(fake)], ["convert", str(fake), "-o", str(tmp_path / "o"), "--quiet"],
                 ["predict", str(fake), str(fake)]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert f"{fake}: exists but is not a `.keras` archive (not a zip file)" in err, (argv, err)


def test_tokenizer_refuses_dicts_numbers_and_none(tiny):
    tok = hat_keras.HATTokenizer.from_pretrained(tiny)
    with pytest.raises(TypeError, match=r"takes a string or \(lists of\) strings, got a dict \(keys \['text'\]\)"):
        tok({"text": "alpha"})
    with pytest.raises(TypeError, match=r"got int 3 at inputs\[1\]$"):
        tok(["alpha", 3])
    for bad, message in ((None, "got NoneType None$"), (["alpha", None], r"got NoneType None at inputs\[1\]$"),
                         ([["alpha", "beta"], ["gamma", None]], r"got NoneType None at inputs\[1\]\[1\]$"),
                         (np.array(["alpha", None], dtype=object), r"got NoneType None at inputs\[1\]$")):
        with pytest.raises(TypeError, match=r"HATTokenizer takes a string or \(lists of\) strings, " + message):
            tok(bad)
    np.testing.assert_array_equal(tok(["alpha"])["token_ids"], tok("alpha")["token_ids"][None])
