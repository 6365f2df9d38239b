"""The profile benchmark's reading of XLA's optimised HLO: matmul FLOPs and kinds (closed-form counts)."""
import tensorflow as tf

from benchmarks.profile import category, hlo_instructions


def _optimized_hlo(fn, *args):
    return tf.function(fn, jit_compile=True).experimental_get_compiler_ir(*args)(stage="optimized_hlo")


def test_matmul_flops_and_kinds_from_optimized_hlo():
    a, b = tf.ones((2, 64, 32)), tf.ones((32, 48))
    q, k = tf.ones((2, 4, 16, 8)), tf.ones((2, 4, 8, 16))
    hlo = _optimized_hlo(lambda a, b, q, k: (tf.nn.relu(tf.matmul(a, b)), tf.matmul(q, k)), a, b, q, k)
    dots = [v for v in hlo_instructions(hlo).values() if v[0] == "dot"]
    flops = sorted(v[2] for v in dots)
    assert flops == sorted([2 * 2 * 64 * 48 * 32, 2 * 2 * 4 * 16 * 16 * 8])
    kinds = {v[2]: category(v, token_rows=128) for v in dots}
    assert kinds[2 * 2 * 64 * 48 * 32].startswith("token matmuls")  # 128 rows of tokens
    assert kinds[2 * 2 * 4 * 16 * 16 * 8].startswith("attention matmuls")
    assert category(next(v for v in dots if not v[3]), token_rows=256).startswith("small matmuls")
    assert any(v[0] == "fusion" for v in hlo_instructions(hlo).values())  # the relu


def test_ablations_remove_exactly_their_stage_and_are_undone():
    """`bench profile --ablate`: with LayerNorm, softmax and GELU removed a block is plain matmuls, adds and
    the LayerNorm scale/shift (checked in numpy); outside the context it is the full block again."""
    import numpy as np

    from benchmarks.profile import ABLATIONS, removed
    from hat_keras.layers.transformer_block import HATTransformerBlock

    H, n, inter = 8, 2, 12
    block = HATTransformerBlock(H, n, inter, dropout=0.0, attention_dropout=0.0)
    x = np.random.default_rng(0).normal(size=(2, 4, H)).astype("float32")
    bias = np.zeros((2, 1, 1, 4), "float32")
    block.build((None, 4, H))
    for v in block.weights:  # LayerNorm scale/shift away from 1/0 so that keeping them is visible
        if "layer_norm" in v.path:
            v.assign(np.random.default_rng(1).normal(size=v.shape).astype("float32"))
    full = np.asarray(block(x, bias))
    for part in ABLATIONS:
        with removed(block, (part,)):
            assert np.abs(np.asarray(block(x, bias)) - full).max() > 1e-3, part
    with removed(block, tuple(ABLATIONS)):
        ablated = np.asarray(block(x, bias))
    np.testing.assert_allclose(np.asarray(block(x, bias)), full, rtol=1e-6, atol=1e-6)

    w = {v.path.split("/", 1)[1]: np.asarray(v) for v in block.weights}
    qkv = x @ w["qkv/kernel"] + w["qkv/bias"]
    q, k, val = (t.reshape(2, 4, n, H // n).transpose(0, 2, 1, 3) for t in np.split(qkv, 3, axis=-1))
    context = ((q @ k.transpose(0, 1, 3, 2)) / np.sqrt(H // n)) @ val
    attn = context.transpose(0, 2, 1, 3).reshape(2, 4, H) @ w["attention_output/kernel"] + w["attention_output/bias"]
    h = (attn + x) * w["attention_layer_norm/gamma"] + w["attention_layer_norm/beta"]
    ffn = (h @ w["intermediate/kernel"] + w["intermediate/bias"]) @ w["ffn_output/kernel"] + w["ffn_output/bias"]
    expected = (ffn + h) * w["ffn_layer_norm/gamma"] + w["ffn_layer_norm/beta"]
    np.testing.assert_allclose(ablated, expected, rtol=1e-4, atol=1e-4)


def test_token_matmul_chain_follows_the_layout():
    """`bench profile --gemm` times one (QKV, output, FFN in, FFN out) set per layer whose tokens all pass
    through a segment encoder: every S layer but a last one (pooling heads run that on first tokens only)."""
    import hat_keras
    from benchmarks.profile import token_matmul_chain

    base = dict(vocab_size=50, hidden_size=16, num_attention_heads=2, intermediate_size=24, max_sentences=2,
                max_sentence_length=4, max_position_embeddings=4, model_max_length=8)
    for layout, full in (("S|SD|D|S|SD|D|S|S|S|S", 7), ("S|SD|D", 2), ("SD|S|D", 2), ("S|SD", 1)):
        x, weights = token_matmul_chain(hat_keras.HATConfig(**base, encoder_layout=layout), rows=8)
        assert x.shape == (8, 16) and len(weights) == full, layout
        assert [w.shape for w in weights[0]] == [(16, 48), (16, 16), (16, 24), (24, 16)]
