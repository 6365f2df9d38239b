"""The profile benchmark's reading of XLA's optimised HLO: matmul FLOPs and kinds (closed-form counts)."""
import tensorflow as tf

from hat_keras.benchmarking.profile import category, hlo_instructions


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
