"""A plain-numpy BERT layer and HAT layer (spec §2.4-2.5): the closed-form reference for the layer tests."""
import math

import numpy as np

erf = np.vectorize(math.erf)


def _weights(dense):
    return [np.asarray(w, np.float64) for w in dense.weights]


def layer_norm(x, ln, eps):
    gamma, beta = _weights(ln)
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def block(x, bias, layer):
    """BERT layer: self-attention (additive bias on keys) -> add & norm -> gelu FFN -> add & norm."""
    B, T, H = x.shape
    n, d = layer.num_heads, layer.head_dim
    wqkv, bqkv = _weights(layer.qkv_dense)
    q, k, v = np.split(x @ wqkv + bqkv, 3, axis=-1)
    heads = lambda t: t.reshape(B, T, n, d).transpose(0, 2, 1, 3)  # noqa: E731
    scores = heads(q) @ heads(k).transpose(0, 1, 3, 2) / np.sqrt(d) + bias
    p = np.exp(scores - scores.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    context = (p @ heads(v)).transpose(0, 2, 1, 3).reshape(B, T, H)
    wo, bo = _weights(layer.output_dense)
    x = layer_norm(context @ wo + bo + x, layer.attention_layer_norm, layer.layer_norm_epsilon)
    wi, bi = _weights(layer.intermediate_dense)
    h = x @ wi + bi
    h = 0.5 * h * (1 + erf(h / np.sqrt(2)))
    wf, bf = _weights(layer.ffn_output_dense)
    return layer_norm(h @ wf + bf + x, layer.ffn_layer_norm, layer.layer_norm_epsilon)


def hat_layer(x, mask, layer):
    """S: the block inside each K-token segment; D: the block over the segments' first tokens, written back."""
    B, S, H = x.shape
    K = layer.segment_length
    big = np.finfo(np.float32).min
    if layer.segment_block is not None:
        seg_bias = ((1 - mask.reshape(-1, 1, 1, K)) * big).astype(np.float64)
        x = block(x.reshape(-1, K, H), seg_bias, layer.segment_block).reshape(B, S, H)
    if layer.document_block is not None:
        segs = x.reshape(B, -1, K, H).copy()
        firsts = mask.reshape(B, -1, K)[:, :, 0]
        doc_bias = ((1 - firsts)[:, None, None, :] * big).astype(np.float64)
        segs[:, :, 0] = block(segs[:, :, 0], doc_bias, layer.document_block)
        x = segs.reshape(B, S, H)
    return x
