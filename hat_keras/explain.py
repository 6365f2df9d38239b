"""How much each segment drove a document classifier's decision, read off its pooling.

HAT's classifier pools the segments' first-token states into one vector, so what each segment
contributes is defined by the pooling itself, with no gradients and no extra model:

- `max`: the share of the pooled features that the segment supplies (for each of the H features, the
  segment holding the maximum; segments tied on a feature share it equally);
- `attentive`: the segment's attention weight in the pooling softmax;
- `first` / `last`: 1 for the one segment read, 0 for the others.

Each row sums to 1. The same function runs eagerly, in Keras `predict --explain`, and inside the
web export's `.tflite` (a second output, `segment_contributions`), so all report the same numbers.
"""
from keras import ops

from hat_keras.layers.transformer_block import softmax

CONTRIBUTIONS = "segment_contributions"


def _real_segments(padding_mask, batch, max_segments):
    """(B, N) bool: the segment's first token is real; an all-padding document counts every segment
    (the pooler's compact-mode rule)."""
    mask = ops.reshape(ops.cast(padding_mask, "int32"), (batch, max_segments, -1))
    real = mask[:, :, 0] > 0
    return ops.logical_or(real, ops.logical_not(ops.any(real, axis=1, keepdims=True)))


def segment_contributions(pooler, segment_output, padding_mask=None):
    """(B, N, H) segment states -> (B, N) float32 contributions under `pooler`'s pooling.

    `padding_mask` is passed exactly when the pooler gets it (compact backbones), so padded segments
    are left out exactly where the pooling leaves them out.
    """
    x = ops.cast(segment_output, "float32")
    shape = ops.shape(x)
    batch, n = shape[0], shape[1]
    real = None if padding_mask is None else _real_segments(padding_mask, batch, n)
    index = ops.arange(n, dtype="int32")[None, :]
    if pooler.pooling == "first":
        return ops.cast(ops.equal(index, 0), "float32") * ops.ones((batch, 1), "float32")
    if pooler.pooling == "last":
        last = n - 1 if real is None else ops.max(ops.where(real, index, 0), axis=1, keepdims=True)
        return ops.cast(ops.equal(index, last), "float32") * ops.ones((batch, 1), "float32")
    if pooler.pooling == "attentive":
        scores = ops.tanh(pooler.v(pooler.lin_proj(segment_output)))
        if real is not None:
            scores = ops.where(real[:, :, None], scores, ops.cast(-1e9, scores.dtype))
        return ops.cast(softmax(scores, axis=1)[:, :, 0], "float32")
    if real is not None:
        x = ops.where(real[:, :, None], x, float("-inf"))
    top = ops.cast(ops.equal(x, ops.max(x, axis=1, keepdims=True)), "float32")  # (B, N, H)
    return ops.mean(top / ops.sum(top, axis=1, keepdims=True), axis=2)


def classify_with_contributions(model, inputs, training=False):
    """A `HATTextClassifier` forward that also returns the contributions: (logits, (B, N) float32).

    It calls the classifier's own layers in the order its functional graph does, so the logits are
    the model's."""
    backbone = model.backbone
    segments = backbone(inputs, training=training)["segment_output"]
    compact = getattr(backbone, "compact", False)
    mask = inputs["padding_mask"] if compact else None
    pooled = model.pooler(segments, mask) if compact else model.pooler(segments)
    logits = model.output_dense(model.output_dropout(pooled, training=training))
    return ops.cast(logits, "float32"), segment_contributions(model.pooler, segments, mask)
