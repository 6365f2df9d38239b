"""Cutting a document into `max_segments` segments of K tokens, as the original `HATTokenizer` does.

Three modes (spec §4.2), each twice: TensorFlow ops with static output shapes (for `tf.data`, SavedModel
and eager calls, which all run the same graph) and a plain-Python reference used by the tests.

- `uniform`: pad/truncate the flat ids to `model_max_length`, keep `model_max_length - max_segments`,
  cut into chunks of K-1 and prefix each with CLS. An all-padding chunk starts with PAD instead, and the
  first position's mask is 1 when any position of the chunk is (the `"[PAD]"`-literal quirk).
- `sentences`: greedy packing of whole sentences into K-1 tokens with upstream's over-long rules:
  a long sentence arriving into an empty segment is emitted truncated and its tail `sent[K:]` (token
  K-1 dropped) is carried; a long sentence arriving after others keeps only its first K-1 tokens.
- `presegmented`: one segment per given string, truncated to K-1 (upstream used a fixed 128 here).

Where upstream crashes (no sentence / no segment), the result is an all-padding row.
The sentence splitter is deterministic (no downloaded model): split at newlines, then at whitespace that
follows `.`, `!` or `?` (optionally followed by one closing quote or bracket).
"""
import functools
import re

SEGMENTATIONS = ("uniform", "sentences", "presegmented")

_CLOSERS = "\"'\u201d\u2019)\\]"
_PY_SENTENCE_SPLIT = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'\u201d\u2019)\]]))\s+")
_PY_PARAGRAPH_SPLIT = re.compile(r"\n\s*\n")


@functools.lru_cache(maxsize=1)
def whitespace_class():
    """RE2 class of Python's `str.isspace` characters (what `re`'s `\\s` and `str.strip` use)."""
    codes = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF and chr(c).isspace()]
    return "[" + "".join(f"\\x{{{c:x}}}" for c in codes) + "]"


def check_segmentation(segmentation):
    if segmentation not in SEGMENTATIONS:
        raise ValueError(f"segmentation={segmentation!r}: expected one of {SEGMENTATIONS}")
    return segmentation


# ---- pure-Python reference -------------------------------------------------------------------------
def split_sentences_py(text):
    """Newlines, then whitespace after . ! ? (plus one optional closing quote/bracket)."""
    out = []
    for line in re.split(r"\n+", text):
        for s in _PY_SENTENCE_SPLIT.split(line):
            s = s.strip()
            if s:
                out.append(s)
    return out


def split_paragraphs_py(text):
    return [p.strip() for p in _PY_PARAGRAPH_SPLIT.split(text) if p.strip()]


def default_segments_py(text):
    """Segments of a raw text in `presegmented` mode: paragraphs (blank lines); for fewer than two
    paragraphs, consecutive triples of sentences."""
    paragraphs = split_paragraphs_py(text)
    if len(paragraphs) >= 2:
        return paragraphs
    sents = split_sentences_py(text)
    return [" ".join(sents[i:i + 3]) for i in range(0, len(sents), 3)]


def _empty_py(max_segments, segment_length, pad_id):
    n = max_segments * segment_length
    return [pad_id] * n, [0] * n, [0] * n


def _pad_segment_py(ids, segment_length, cls_id, pad_id):
    body = ids[:segment_length - 1]
    pad = segment_length - 1 - len(body)
    return [cls_id] + body + [pad_id] * pad, [1] + [1] * len(body) + [0] * pad


def _finish_py(segments, max_segments, segment_length, pad_id):
    ids, mask = [], []
    for seg_ids, seg_mask in segments[:max_segments]:
        ids += seg_ids
        mask += seg_mask
    total = max_segments * segment_length
    ids += [pad_id] * (total - len(ids))
    mask += [0] * (total - len(mask))
    return ids, mask, [0] * total


def uniform_py(ids, max_segments, segment_length, max_length, cls_id, pad_id):
    ids = list(ids[:max_length])
    mask = [1] * len(ids) + [0] * (max_length - len(ids))
    ids += [pad_id] * (max_length - len(ids))
    keep = max_length - max_segments
    ids, mask = ids[:keep], mask[:keep]
    step = segment_length - 1
    segments = []
    for i in range(0, keep, step):
        c_ids, c_mask = ids[i:i + step], mask[i:i + step]
        first = pad_id if all(t == pad_id for t in c_ids) else cls_id
        pad = step - len(c_ids)
        segments.append(([first] + c_ids + [pad_id] * pad, [1 if any(c_mask) else 0] + c_mask + [0] * pad))
    return _finish_py(segments, max_segments, segment_length, pad_id)


def presegmented_py(segment_ids, max_segments, segment_length, cls_id, pad_id):
    if not segment_ids:
        return _empty_py(max_segments, segment_length, pad_id)
    segments = [_pad_segment_py(list(s), segment_length, cls_id, pad_id) for s in segment_ids[:max_segments]]
    return _finish_py(segments, max_segments, segment_length, pad_id)


def group_sentences_py(sentence_ids, max_segments, segment_length):
    """Upstream `sentence_grouping` on token lists: the token lists of the emitted segments."""
    budget = segment_length - 1
    doc, cur = [], []
    for sent in sentence_ids:
        if len(doc) >= max_segments:
            break
        if len(cur) + len(sent) <= budget:
            cur = cur + list(sent)
        else:
            doc.append((cur if cur else list(sent))[:budget])
            cur = list(sent) if cur else list(sent[segment_length:])
    if cur and len(doc) < max_segments:
        doc.append(cur[:budget])
    return doc


def sentences_py(sentence_ids, max_segments, segment_length, cls_id, pad_id):
    groups = group_sentences_py(sentence_ids, max_segments, segment_length)
    segments = [_pad_segment_py(g, segment_length, cls_id, pad_id) for g in groups]
    return _finish_py(segments, max_segments, segment_length, pad_id)


# ---- TensorFlow ------------------------------------------------------------------------------------
def _tf():
    import tensorflow as tf
    return tf


def _strip_and_drop_empty(pieces):
    tf = _tf()
    ws = whitespace_class()
    pieces = tf.ragged.map_flat_values(tf.strings.regex_replace, pieces, f"^{ws}+|{ws}+$", "")
    return tf.ragged.boolean_mask(pieces, tf.ragged.map_flat_values(tf.not_equal, pieces, ""))


def split_sentences(texts):
    """String tensor [B] -> ragged sentences [B, S]; same output as `split_sentences_py`."""
    tf = _tf()
    marked = tf.strings.regex_replace(texts, f"([.!?][{_CLOSERS}]?){whitespace_class()}+", "\\1\n")
    return _strip_and_drop_empty(tf.strings.split(marked, "\n"))


def split_paragraphs(texts):
    """String tensor [B] -> ragged paragraphs [B, P]; same output as `split_paragraphs_py`."""
    tf = _tf()
    # 0xFF never occurs in UTF-8 text, so it can mark the cuts.
    marked = tf.strings.regex_replace(texts, f"\n{whitespace_class()}*\n", b"\xff")
    return _strip_and_drop_empty(tf.strings.split(marked, b"\xff"))


def _select_rows(condition, if_true, if_false):
    """Row-wise choice between two ragged [B, ...] tensors."""
    tf = _tf()

    def keep(rt, cond):
        lengths = rt.row_lengths()
        mask = tf.RaggedTensor.from_row_lengths(tf.repeat(cond, lengths), lengths)
        return tf.ragged.boolean_mask(rt, mask)

    return tf.concat([keep(if_true, condition), keep(if_false, tf.logical_not(condition))], axis=1)


def _group_rows(rt, size):
    """Ragged [B, S] -> ragged [B, ceil(S/size), <=size] (consecutive groups)."""
    tf = _tf()
    lengths = rt.row_lengths()
    groups = (lengths + size - 1) // size
    group_rows = tf.ragged.range(groups)
    total = tf.gather(lengths, group_rows.value_rowids())
    inner = tf.minimum(tf.cast(size, lengths.dtype), total - group_rows.flat_values * size)
    return tf.RaggedTensor.from_nested_row_lengths(rt.flat_values, [groups, inner])


def default_segments(texts):
    """String tensor [B] -> ragged segments [B, S]; same output as `default_segments_py`."""
    tf = _tf()
    paragraphs = split_paragraphs(texts)
    triples = tf.strings.reduce_join(_group_rows(split_sentences(texts), 3), axis=-1, separator=" ")
    return _select_rows(paragraphs.row_lengths() >= 2, paragraphs, triples)


def _assemble(first_ids, first_mask, body_ids, body_mask):
    """[B, N] firsts + [B, N, K-1] bodies -> flat [B, N*K] ids, mask and zero token types."""
    tf = _tf()
    ids = tf.concat([first_ids[:, :, None], body_ids], axis=-1)
    mask = tf.concat([first_mask[:, :, None], body_mask], axis=-1)
    n, k = ids.shape[1], ids.shape[2]
    ids = tf.reshape(ids, [-1, n * k])
    mask = tf.reshape(mask, [-1, n * k])
    return ids, mask, tf.zeros_like(ids)


def pack_uniform(token_ids, max_segments, segment_length, max_length, cls_id, pad_id):
    """Ragged ids [B, T] -> (ids, mask, types), each int32 [B, max_segments * segment_length]."""
    tf = _tf()
    step = segment_length - 1
    keep = max_length - max_segments
    chunks = -(-keep // step)
    width = chunks * step
    token_ids = tf.cast(token_ids[:, :keep], tf.int32)
    ids = token_ids.to_tensor(default_value=pad_id, shape=[None, width])
    mask = tf.ones_like(token_ids).to_tensor(default_value=0, shape=[None, width])
    ids = tf.reshape(ids, [-1, chunks, step])
    mask = tf.reshape(mask, [-1, chunks, step])
    first_ids = tf.where(tf.reduce_all(tf.equal(ids, pad_id), axis=-1), pad_id, cls_id)
    first_mask = tf.cast(tf.reduce_any(mask > 0, axis=-1), tf.int32)
    if chunks < max_segments:  # model_max_length < max_segments * K: pad with empty segments
        extra = [[0, 0], [0, max_segments - chunks]]
        first_ids = tf.pad(first_ids, extra, constant_values=pad_id)
        first_mask = tf.pad(first_mask, extra)
        ids = tf.pad(ids, extra + [[0, 0]], constant_values=pad_id)
        mask = tf.pad(mask, extra + [[0, 0]])
    n = max_segments
    return _assemble(first_ids[:, :n], first_mask[:, :n], ids[:, :n], mask[:, :n])


def pack_presegmented(token_ids, max_segments, segment_length, cls_id, pad_id):
    """Ragged ids [B, S, T] (one row per segment) -> (ids, mask, types) [B, N*K]."""
    tf = _tf()
    step = segment_length - 1
    token_ids = tf.cast(token_ids[:, :max_segments], tf.int32)
    body = token_ids.to_tensor(default_value=pad_id, shape=[None, max_segments, step])
    body_mask = tf.ones_like(token_ids).to_tensor(default_value=0, shape=[None, max_segments, step])
    present = tf.range(max_segments)[None, :] < tf.cast(token_ids.row_lengths(), tf.int32)[:, None]
    first_ids = tf.where(present, cls_id, pad_id)
    return _assemble(first_ids, tf.cast(present, tf.int32), body, body_mask)


def group_sentences(sentence_lengths, max_segments, segment_length):
    """Upstream `sentence_grouping` on lengths only.

    `sentence_lengths`: ragged int [B, S]. Returns `(start, length, consumed)`: int32 [B, N], each
    emitted segment being the token range [start, start + length) of the document's concatenated
    sentences (length 0: no segment), and int32 [B], how many sentences the grouping looked at. The
    loop runs over sentence positions, vectorised over the batch, and stops once every document has
    `max_segments` segments or no sentence left.
    """
    tf = _tf()
    n_seg, k, budget = max_segments, segment_length, segment_length - 1
    lengths = tf.cast(sentence_lengths.to_tensor(0), tf.int32)
    starts = tf.cumsum(lengths, axis=1, exclusive=True)
    count = tf.cast(sentence_lengths.row_lengths(), tf.int32)
    batch = tf.shape(lengths)[0]
    max_s = tf.shape(lengths)[1]
    zeros = tf.zeros([batch], tf.int32)
    init = (tf.constant(0), zeros, zeros, zeros, tf.zeros([batch, n_seg], tf.int32),
            tf.zeros([batch, n_seg], tf.int32), zeros)

    def emit(active, n, e_start, e_len, seg_start, seg_len):
        hit = tf.logical_and(active[:, None], tf.equal(tf.range(n_seg)[None, :], n[:, None]))
        seg_start = tf.where(hit, e_start[:, None], seg_start)
        seg_len = tf.where(hit, e_len[:, None], seg_len)
        return n + tf.cast(active, tf.int32), seg_start, seg_len

    def cond(s, n, cur_start, cur_len, seg_start, seg_len, consumed):
        return tf.logical_and(s < max_s, tf.reduce_any(tf.logical_and(s < count, n < n_seg)))

    def body(s, n, cur_start, cur_len, seg_start, seg_len, consumed):
        active = tf.logical_and(s < count, n < n_seg)
        consumed = consumed + tf.cast(active, tf.int32)
        length, start = lengths[:, s], starts[:, s]
        fits = cur_len + length <= budget
        has_cur = cur_len > 0
        e_start = tf.where(has_cur, cur_start, start)
        e_len = tf.minimum(tf.where(has_cur, cur_len, length), budget)
        n, seg_start, seg_len = emit(tf.logical_and(active, tf.logical_not(fits)), n, e_start, e_len,
                                     seg_start, seg_len)
        new_start = tf.where(fits, tf.where(has_cur, cur_start, start), tf.where(has_cur, start, start + k))
        new_len = tf.where(fits, cur_len + length, tf.where(has_cur, length, tf.maximum(length - k, 0)))
        cur_start = tf.where(active, new_start, cur_start)
        cur_len = tf.where(active, new_len, cur_len)
        return s + 1, n, cur_start, cur_len, seg_start, seg_len, consumed

    _, n, cur_start, cur_len, seg_start, seg_len, consumed = tf.while_loop(cond, body, init)
    flush = tf.logical_and(cur_len > 0, n < n_seg)
    _, seg_start, seg_len = emit(flush, n, cur_start, tf.minimum(cur_len, budget), seg_start, seg_len)
    return seg_start, seg_len, consumed


def pack_sentences(token_ids, max_segments, segment_length, cls_id, pad_id, return_complete=False):
    """Ragged ids [B, S, T] (one row per sentence) -> (ids, mask, types) [B, N*K].

    With `return_complete`, also a bool [B]: the grouping filled every segment without looking at the
    last sentence, so more text after that sentence could not change the result.
    """
    tf = _tf()
    step = segment_length - 1
    seg_start, seg_len, consumed = group_sentences(token_ids.row_lengths(axis=2), max_segments, segment_length)
    flat = tf.cast(token_ids.merge_dims(1, 2), tf.int32)  # [B, T_total]
    offsets = tf.cast(flat.row_starts(), tf.int32)
    pos = tf.range(step)[None, None, :]
    valid = pos < seg_len[:, :, None]
    index = offsets[:, None, None] + seg_start[:, :, None] + pos
    values = tf.concat([flat.flat_values, [pad_id]], axis=0)  # the extra slot serves invalid positions
    body = tf.gather(values, tf.where(valid, index, tf.shape(values)[0] - 1))
    present = seg_len > 0
    first_ids = tf.where(present, cls_id, pad_id)
    out = _assemble(first_ids, tf.cast(present, tf.int32), body, tf.cast(valid, tf.int32))
    if not return_complete:
        return out
    count = tf.cast(token_ids.row_lengths(), tf.int32)
    return out, tf.logical_and(present[:, -1], consumed < count)
