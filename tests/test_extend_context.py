"""extend-context: more segments, same outputs on inputs the original accepts, tables tiled."""
import numpy as np
import pytest

import hat_keras
from hat_keras.cli import main as extend_main
from hat_keras.context import extend_context, extend_rows

from harness import assert_close, batch, refs


def test_extend_rows_tiles_and_keeps_trained_rows():
    table = np.arange(5 * 2, dtype="float32").reshape(5, 2)  # 4 segments + padding row
    out = extend_rows(table, 11)
    np.testing.assert_array_equal(out[:5], table)
    np.testing.assert_array_equal(out[5:9], table[1:5])
    np.testing.assert_array_equal(out[9:], table[1:3])
    np.testing.assert_array_equal(extend_rows(table, 7, "last")[5:], table[[4, 4]])
    with pytest.raises(ValueError):
        extend_rows(table, 3)


@pytest.mark.parametrize("head_semantics", [False, True])
def test_extended_model_same_outputs(fixtures_dir, head_semantics):
    path = fixtures_dir / "tiny-e2" / "mlm"
    mlm = hat_keras.load(path, use_segment_position_embeddings=head_semantics)
    big = extend_context(mlm, 16)
    assert big.backbone.max_segments == 16 and big.hat_config.max_sentences == 16
    r = refs(fixtures_dir, "tiny-e2")
    x = batch(r, "a")
    assert_close(big.backbone(x)["sequence_output"], mlm.backbone(x)["sequence_output"], atol=1e-6)
    K = big.backbone.segment_length
    long = {"token_ids": np.tile(x["token_ids"], (1, 4)), "padding_mask": np.tile(x["padding_mask"], (1, 4))}
    assert long["token_ids"].shape[1] == 16 * K
    out = big.backbone(long)["sequence_output"]
    assert out.shape[1] == 16 * K and np.isfinite(np.asarray(out)).all()
    with pytest.raises(ValueError):
        mlm.backbone(long)


def test_extend_context_cli_checkpoint(fixtures_dir, tmp_path):
    src = fixtures_dir / "tiny-e2" / "mlm"
    dst = tmp_path / "long"
    assert extend_main(["extend-context", str(src), "--max-segments", "12", "-o", str(dst)]) == 0
    big = hat_keras.load(dst)
    assert big.backbone.max_segments == 12 and big.hat_config.model_max_length >= 12 * 32
    r = refs(fixtures_dir, "tiny-e2")
    assert_close(big.backbone(batch(r, "a"))["sequence_output"], r["a_last_hidden_state"])


def test_extended_checkpoint_loads_in_the_pytorch_peer(fixtures_dir, tmp_path):
    """The written checkpoint (position_ids buffer, tables) is what the PyTorch HAT expects, at 4x length."""
    import sys
    from conftest import SHARED

    tools = SHARED / "tools"
    if not (tools / "torch_hat.py").exists():
        pytest.skip("PyTorch peer not available")
    sys.path.insert(0, str(tools))
    torch = pytest.importorskip("torch")
    import torch_hat

    dst = tmp_path / "long"
    extend_main(["extend-context", str(fixtures_dir / "tiny-e2" / "mlm"), "--max-segments", "16", "-o", str(dst)])
    peer = torch_hat.load(str(dst), head="mlm")
    big = hat_keras.load(dst)
    r = refs(fixtures_dir, "tiny-e2")
    x = batch(r, "a")
    long = {k: np.tile(v, (1, 4)) for k, v in x.items()}
    with torch.inference_mode():
        ref = peer(torch.from_numpy(long["token_ids"]).long(), torch.from_numpy(long["padding_mask"]).long())
    assert_close(big.backbone(long)["sequence_output"], ref["last_hidden_state"].numpy())
