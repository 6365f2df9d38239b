"""Training data: files -> examples -> `tf.data` with the in-graph preprocessor, fully static batches.

Readers accept JSONL, CSV/TSV, plain text (a `.txt` file = one example per non-empty line; a folder of
`.txt` files = one example per file; a folder of class sub-folders = labelled documents) and TFRecords
(raw `text` + labels, or pre-tokenized `token_ids`/`padding_mask` written by `write_pretokenized`).
Paths go through `tf.io.gfile`, so `gs://` works. JSONL/CSV/text are read into memory (fine-tuning
scale); stream large MLM corpora as TFRecords.

Batches are deterministic under a seed (seeded shuffle, ordered map), sharded per input pipeline,
`drop_remainder=True`, and can skip the batches a resumed run has already trained on.
"""
import csv
import dataclasses
import io
import json
import os
from typing import List, Optional

import numpy as np
import tensorflow as tf

TEXT_SUFFIXES = (".txt", ".text")
TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords", ".tfr")


class DataError(ValueError):
    """Bad input data; the message names the file and the field."""


@dataclasses.dataclass
class Examples:
    """Unbatched examples: `dataset` yields {"text": string} or pre-tokenized {"token_ids", "padding_mask"},
    plus "label" (int32 scalar, or float32 multi-hot row) when labelled."""
    dataset: tf.data.Dataset
    num_examples: Optional[int]  # None when streamed (TFRecords)
    label_names: Optional[List[str]] = None
    multi_label: bool = False
    pretokenized: bool = False
    label_kind: Optional[str] = None  # "string", "integer" or "boolean": the one type of the label field

    @property
    def num_classes(self):
        return None if self.label_names is None else len(self.label_names)


# ------------------------------------------------------------------------------------------- readers

def expand_paths(paths):
    """Files behind `paths` (files, folders, globs; local or gs://), sorted for determinism."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out = []
    for p in map(os.fspath, paths):
        if any(c in p for c in "*?["):
            matches = sorted(tf.io.gfile.glob(p))
            if not matches:
                raise DataError(f"{p}: no file matches")
            out += matches
        elif tf.io.gfile.isdir(p):
            out.append(p)
        elif tf.io.gfile.exists(p):
            out.append(p)
        else:
            raise DataError(f"{p}: no such file or folder")
    return out


def _kind(path):
    low = path.lower()
    if tf.io.gfile.isdir(path):
        return "folder"
    for suffix, kind in ((".jsonl", "jsonl"), (".json", "jsonl"), (".ndjson", "jsonl"), (".csv", "csv"),
                         (".tsv", "tsv")):
        if low.endswith(suffix) or low.endswith(suffix + ".gz"):
            return kind
    if low.endswith(TFRECORD_SUFFIXES) or ".tfrecord" in low:
        return "tfrecord"
    if low.endswith(TEXT_SUFFIXES):
        return "text"
    raise DataError(f"{path}: unknown format (use .jsonl, .csv, .tsv, .txt, .tfrecord or a folder)")


def _open(path):
    raw = tf.io.gfile.GFile(path, "rb").read()
    if path.endswith(".gz"):
        import gzip
        raw = gzip.decompress(raw)
    return raw.decode("utf-8")


def _read_jsonl(path, text_field, label_fields):
    rows = []
    for n, line in enumerate(io.StringIO(_open(path)), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{n}: not valid JSON ({e})") from None
        rows.append((obj, f"{path}:{n}"))
    return rows


def read_labelled_rows(path, text_field="text", label_field="label"):
    """[(text, label)] from one JSONL/CSV/TSV file, in file order, with the same checks and messages as
    `read_examples` (for callers that want plain Python rows, e.g. to shuffle and subsample)."""
    kind = _kind(path)
    if kind not in ("jsonl", "csv", "tsv"):
        raise DataError(f"{path}: expected a .jsonl, .csv or .tsv file of `{text_field}` and `{label_field}`")
    rows = _read_jsonl(path, text_field, label_field) if kind == "jsonl" else \
        _read_csv(path, "," if kind == "csv" else "\t")
    out = [(_text_of(obj, text_field, where), _label_of(obj, label_field, where)) for obj, where in rows]
    if isinstance(label_field, str):
        label_kind([label for _, label in out], [where for _, where in rows], label_field)
    return out


def _read_csv(path, delimiter):
    reader = csv.DictReader(io.StringIO(_open(path)), delimiter=delimiter)
    return [(row, f"{path}:{n}") for n, row in enumerate(reader, 2)]


def _text_of(obj, text_field, where):
    fields = [text_field] if isinstance(text_field, str) else list(text_field)
    parts = []
    for f in fields:
        if f not in obj:
            raise DataError(f"{where}: no field {f!r} (fields: {sorted(obj)[:12]})")
        v = obj[f]
        if not isinstance(v, str):
            raise DataError(f"{where}: field {f!r} must be a string, got {type(v).__name__}")
        parts.append(v)
    return "\n\n".join(p for p in parts if p)


def _label_of(obj, label_field, where):
    if isinstance(label_field, str):
        if label_field not in obj:
            raise DataError(f"{where}: no label field {label_field!r} (fields: {sorted(obj)[:12]})")
        v = obj[label_field]
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if not isinstance(v, (int, str)):  # (bool is an int: booleans are kept, see `label_kind`)
            raise DataError(f"{where}: label field {label_field!r} must be an integer or a string, got {v!r}")
        return v
    row = []
    for f in label_field:
        if f not in obj:
            raise DataError(f"{where}: no label field {f!r}")
        try:
            row.append(float(obj[f]))
        except (TypeError, ValueError):
            raise DataError(f"{where}: label field {f!r} must be 0/1, got {obj[f]!r}") from None
    return row


KINDS = {bool: "boolean", int: "integer", str: "string"}
_A = {"boolean": "a boolean", "integer": "an integer", "string": "a string"}
BOOLEAN_NAMES = ["false", "true"]


def label_kind(values, wheres, field, expected=None):
    """The one type of a label field over the whole data set: "string", "integer" or "boolean".

    Mixed types are refused (labels "neg", "pos" and 1 meaning pos would otherwise be three classes), and
    so are booleans among integers or strings; a field of booleans only is mapped to classes
    "false" (0) and "true" (1). `expected`: the training data's kind, for evaluation data."""
    first = {}
    for v, where in zip(values, wheres):
        first.setdefault(KINDS[type(v)], (v, where))
    if len(first) > 1:
        (k1, (v1, w1)), (k2, (v2, w2)) = list(first.items())[:2]
        raise DataError(f"{w2}: label field {field!r} is {v2!r} ({_A[k2]}) but {w1} has {v1!r} ({_A[k1]}); use one "
                        "type per field: every label a string, or every label an integer (booleans only alone)")
    kind = next(iter(first), None)
    if expected is not None and kind is not None and kind != expected:
        v, where = first[kind]
        raise DataError(f"{where}: label field {field!r} is {v!r} ({_A[kind]}) but the training labels are "
                        f"{expected}s; use the same label type in both")
    return kind


def _label_index(values, label_names, where_first, kind=None):
    """Labels (ints or strings) -> (indices, names). Integer labels keep their value; strings are sorted."""
    if kind == "boolean":
        values = [BOOLEAN_NAMES[int(v)] for v in values]
        label_names = label_names or BOOLEAN_NAMES
    if label_names is None:
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            label_names = [str(i) for i in range(max(values) + 1)] if values else []
        else:
            label_names = sorted({str(v) for v in values})
    lookup = {n: i for i, n in enumerate(label_names)}
    out = []
    for v in values:
        key = str(v)
        if key not in lookup:
            raise DataError(f"{where_first}: label {v!r} is not one of {label_names}")
        out.append(lookup[key])
    return out, list(label_names)


def read_examples(paths, text_field="text", label_field=None, label_names=None, count=False, label_kind_of=None):
    """Read examples from files (see module doc). `label_field`: None (unlabelled, e.g. MLM), a field name
    (single-label: ints or strings, one type over all files), or a list of field names (multi-label, one
    0/1 column per class). `label_kind_of`: the training data's label type (for evaluation data)."""
    files = expand_paths(paths)
    multi = label_field is not None and not isinstance(label_field, str)
    texts, labels, wheres, records = [], [], [], []
    for path in files:
        kind = _kind(path)
        if kind == "tfrecord":
            records.append(path)
            continue
        if kind == "folder":
            t, l = _read_folder(path, label_field is not None)
            texts += t
            labels += l
            wheres += [path] * len(l)
            continue
        if kind == "text":
            if label_field is not None:
                raise DataError(f"{path}: a .txt file has no labels; use JSONL/CSV or class sub-folders")
            texts += [line.strip() for line in io.StringIO(_open(path)) if line.strip()]
            continue
        rows = _read_jsonl(path, text_field, label_field) if kind == "jsonl" else \
            _read_csv(path, "," if kind == "csv" else "\t")
        for obj, where in rows:
            texts.append(_text_of(obj, text_field, where))
            if label_field is not None:
                labels.append(_label_of(obj, label_field, where))
                wheres.append(where)
    if records and texts:
        raise DataError(f"{records[0]}: do not mix TFRecords with other formats in one data set")
    if records:
        examples = _read_tfrecords(records, label_field, label_names)
        if count:
            n = int(tf.data.TFRecordDataset(records).reduce(np.int64(0), lambda c, _: c + 1))
            examples = dataclasses.replace(examples, num_examples=n)
        return examples
    if not texts:
        raise DataError(f"{', '.join(files)}: no examples")
    data = {"text": np.array(texts, dtype=object)}
    names, kind = None, None
    if label_field is not None:
        if multi:
            data["label"] = np.asarray(labels, np.float32)
            names = list(label_field)
        else:
            kind = label_kind(labels, wheres, label_field, label_kind_of)
            idx, names = _label_index(labels, label_names, files[0], kind)
            data["label"] = np.asarray(idx, np.int32)
    return Examples(tf.data.Dataset.from_tensor_slices(data), len(texts), names, multi, label_kind=kind)


def _read_folder(path, labelled):
    entries = sorted(tf.io.gfile.listdir(path))
    subdirs = [e.rstrip("/") for e in entries if tf.io.gfile.isdir(os.path.join(path, e))]
    if labelled:
        if not subdirs:
            raise DataError(f"{path}: labelled folders need one sub-folder per class")
        texts, labels = [], []
        for name in subdirs:
            for f in sorted(tf.io.gfile.listdir(os.path.join(path, name))):
                if f.lower().endswith(TEXT_SUFFIXES):
                    texts.append(_open(os.path.join(path, name, f)))
                    labels.append(name)
        return texts, labels
    texts = [_open(os.path.join(path, e)) for e in entries if e.lower().endswith(TEXT_SUFFIXES)]
    for name in subdirs:
        t, _ = _read_folder(os.path.join(path, name), False)
        texts += t
    return texts, []


def _sidecar_labels(path):
    side = path + ".labels.json"
    if tf.io.gfile.exists(side):
        try:
            with tf.io.gfile.GFile(side) as f:
                return json.load(f)
        except json.JSONDecodeError as e:
            raise DataError(f"{side}: not valid JSON ({e})") from None
    return None


def _read_tfrecords(files, label_field, label_names):
    """tf.train.Example records: raw (`text`) or pre-tokenized (`token_ids`, `padding_mask`)."""
    first = next(iter(tf.data.TFRecordDataset(files[:1]).take(1)), None)
    if first is None:
        raise DataError(f"{files[0]}: empty TFRecord file")
    feats = tf.train.Example.FromString(first.numpy()).features.feature
    pretokenized = "token_ids" in feats
    if not pretokenized and "text" not in feats:
        raise DataError(f"{files[0]}: records need a `text` feature or pre-tokenized `token_ids`/`padding_mask`")
    spec = {}
    if pretokenized:
        length = len(feats["token_ids"].int64_list.value)
        spec["token_ids"] = tf.io.FixedLenFeature([length], tf.int64)
        spec["padding_mask"] = tf.io.FixedLenFeature([length], tf.int64)
    else:
        spec["text"] = tf.io.FixedLenFeature([], tf.string)
    multi = label_field is not None and not isinstance(label_field, str)
    names, key = None, None
    if label_field is not None:
        key = "label" if pretokenized or "label" in feats or multi else label_field
        if key not in feats:
            raise DataError(f"{files[0]}: no label feature {key!r}")
        spec[key] = (tf.io.FixedLenFeature([len(label_field)], tf.float32) if multi
                     else tf.io.FixedLenFeature([], tf.int64))
        names = list(label_field) if multi else (label_names or _sidecar_labels(files[0]))

    def parse(record):
        ex = tf.io.parse_single_example(record, spec)
        if key is not None:
            ex["label"] = ex.pop(key)
        return {k: (tf.cast(v, tf.int32) if v.dtype == tf.int64 else v) for k, v in ex.items()}

    ds = tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return Examples(ds, None, names, multi, pretokenized)


# ---------------------------------------------------------------------------------------- pipeline

def _apply(fn, ex):
    label, weight = ex.get("label"), ex.get("weight")
    inputs = {k: v for k, v in ex.items() if k not in ("label", "weight")}
    if "text" in inputs:
        inputs = inputs["text"]
    if weight is not None:
        return fn(inputs, label, weight)
    return fn(inputs) if label is None else fn(inputs, label)


def make_dataset(examples: Examples, preprocess, batch_size, *, shuffle=True, seed=0, repeat=False,
                 skip_steps=0, input_context=None, shuffle_buffer=10_000, cache=False, auto_shard=False,
                 buckets=None):
    """examples -> shard -> [cache] -> shuffle(seed) -> [repeat] -> skip -> map(preprocess) -> batch(drop)
    -> prefetch.

    preprocess: called per example as `preprocess(x)` or `preprocess(x, label)` (x = text string, or the
      dict of pre-tokenized features); a keras-hub preprocessor layer fits. Must return fixed shapes.
    batch_size: the global batch; with `input_context` the per-replica batch is derived from it.
    skip_steps: global steps already trained on by a run that is being resumed; their examples are
      skipped before preprocessing, so resuming costs no tokenization.
    buckets: `(segment_length, [1, 2, 4, ...])` for compact models: batches of documents with the same
      bucket, trimmed to it (see `bucket_batches`); the sequence dimension is then not static.
    """
    if buckets is not None:
        return _bucketed_dataset(examples, preprocess, batch_size, buckets, shuffle=shuffle, seed=seed,
                                 repeat=repeat, skip_steps=skip_steps, input_context=input_context,
                                 shuffle_buffer=shuffle_buffer)
    ds = examples.dataset
    per_step = batch_size  # examples this pipeline feeds per global step
    if input_context is not None:
        if input_context.num_input_pipelines > 1:
            ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        per_step = batch_size // input_context.num_input_pipelines
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = _seeded_epochs(ds, shuffle_buffer, seed, repeat)
    elif repeat:
        ds = ds.repeat()
    if skip_steps:
        ds = ds.skip(int(skip_steps) * per_step)
    ds = ds.map(lambda ex: _apply(preprocess, ex), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    assert_static(ds.element_spec, "batches")
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = (tf.data.experimental.AutoShardPolicy.DATA if auto_shard
                                                         else tf.data.experimental.AutoShardPolicy.OFF)
    return ds.with_options(options)


def _bucketed_dataset(examples, preprocess, batch_size, buckets, *, shuffle, seed, repeat, skip_steps,
                      input_context, shuffle_buffer):
    """`make_dataset` for compact models: the same shuffled stream, grouped into batches by bucket. A
    resumed run skips whole batches after grouping (the grouping depends on every example before), so it
    tokenizes the skipped examples again; training without `repeat` keeps partial batches, padded with
    weight-0 rows (evaluation counts every example, with full batches)."""
    ds = examples.dataset
    if input_context is not None:
        if input_context.num_input_pipelines > 1:
            ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    if shuffle:
        ds = _seeded_epochs(ds, shuffle_buffer, seed, repeat)
    elif repeat:
        ds = ds.repeat()
    ds = ds.map(lambda ex: _apply(preprocess, ex), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = bucket_batches(ds, batch_size, *buckets, drop_remainder=repeat)
    if skip_steps:
        ds = ds.skip(int(skip_steps))
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def bucket_batches(ds, batch_size, segment_length, buckets, drop_remainder=True):
    """Per-example `(x, ...)` with full-length `x` features -> batches of `batch_size` documents that share
    a bucket (the smallest of `buckets` segment counts holding their real segments), every token feature
    trimmed to it: the compute follows the text, and XLA/TPUs see at most `len(buckets)` sequence shapes.
    Only for compact models, whose outputs do not depend on trailing padded segments. Partial batches
    (`drop_remainder=False`) are filled with weight-0 copies of their first row."""
    from hat_keras.inference import bucket_index

    sizes = tf.constant(list(buckets), tf.int64)
    width = int(buckets[-1]) * segment_length

    def key(x, *rest):
        return bucket_index(x["padding_mask"], segment_length, buckets)

    def trim(bucket):
        keep = tf.cast(sizes[bucket], tf.int32) * segment_length

        def cut(x, *rest):
            x = {k: (v[:, :keep] if v.shape.rank == 2 and v.shape[1] == width else v) for k, v in x.items()}
            return (x, *rest)

        return cut

    def fill(x, *rest):
        """Pad a partial batch to `batch_size` rows with copies of row 0; their weight is 0."""
        n = tf.shape(tf.nest.flatten(x)[0])[0]
        extra = batch_size - n
        pad = lambda v: tf.concat([v, tf.repeat(v[:1], extra, axis=0)], axis=0)  # noqa: E731
        x, rest = tf.nest.map_structure(pad, x), [tf.nest.map_structure(pad, r) for r in rest]
        if rest:  # (x, label[, weight]) -> (x, label, weight)
            real = rest[1][:n] if len(rest) == 2 else tf.ones([n], tf.float32)
            rest = [rest[0], tf.concat([real, tf.zeros([extra], real.dtype)], axis=0)]
        return (x, *rest)

    def reduce(bucket, window):
        batches = window.batch(batch_size, drop_remainder=drop_remainder).map(trim(bucket))
        return batches if drop_remainder else batches.map(fill)

    return ds.group_by_window(key, reduce, window_size=batch_size)


def _seeded_epochs(ds, buffer, seed, repeat):
    """`ds` shuffled with `seed`, a new order each epoch, and the same stream from every iterator over the
    result. (A plain `shuffle(reshuffle_each_iteration=True)` orders each new iterator differently, and
    Keras may open one to build the model before the one it trains on, so a resumed run would see other
    batches.) Built inside `flat_map`, the shuffle starts afresh for every iterator."""
    def stream(_):
        shuffled = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
        return shuffled.repeat() if repeat else shuffled

    return tf.data.Dataset.range(1).flat_map(stream)


def distribute(strategy, examples, preprocess, global_batch_size, **kwargs):
    """The per-worker pipeline under a strategy: each input pipeline reads its own shard and batches
    per replica, so the global batch is `global_batch_size` whatever the number of replicas."""
    replicas = strategy.num_replicas_in_sync
    if global_batch_size % replicas:
        raise ValueError(f"global batch {global_batch_size} is not divisible by {replicas} replicas")
    if getattr(strategy, "feeds_global_batches", False):
        # keras.distribution (JAX): global batches; Keras' data adapter shards each across the devices
        return make_dataset(examples, preprocess, global_batch_size, **kwargs)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # Keras distributes it: every worker keeps its 1/num_workers of the (global) batches
        return make_dataset(examples, preprocess, global_batch_size, auto_shard=True, **kwargs)
    if replicas == 1:
        return make_dataset(examples, preprocess, global_batch_size, **kwargs)
    return strategy.distribute_datasets_from_function(
        lambda ctx: make_dataset(examples, preprocess, global_batch_size, input_context=ctx, **kwargs))


def pad_to_batches(examples: Examples, multiple):
    """Append weight-0 copies so every example is evaluated with static, full batches; adds `weight`."""
    n = examples.num_examples
    if n is None:
        return examples
    extra = (-n) % multiple
    ones = tf.data.Dataset.from_tensor_slices(tf.ones([n], tf.float32))
    ds = tf.data.Dataset.zip(examples.dataset, ones).map(lambda ex, w: {**ex, "weight": w})
    if extra:
        pad = examples.dataset.repeat().take(extra).map(lambda ex: {**ex, "weight": tf.constant(0.0)})
        ds = ds.concatenate(pad)
    return dataclasses.replace(examples, dataset=ds, num_examples=n + extra)


def assert_static(element_spec, where="dataset"):
    """Raise when any shape in a (nested) element_spec is not fully defined (TPUs need static shapes)."""
    for spec in tf.nest.flatten(element_spec):
        if not spec.shape.is_fully_defined():
            raise ValueError(f"{where}: element_spec has a dynamic shape {spec.shape} ({spec}); TPUs need "
                             "fixed shapes (drop_remainder, fixed sequence and mask lengths)")


# ------------------------------------------------------------------------------- pre-tokenized files

def _int_feature(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=np.asarray(values).reshape(-1).tolist()))


def write_pretokenized(examples: Examples, pack, path, batch_size=64):
    """Tokenize once and store fixed-length `token_ids`/`padding_mask` (+`label`) as TFRecords, so a TPU
    host only parses integers. `pack(text)` -> dict with `token_ids` and `padding_mask` (the
    classification preprocessor's x, or its `packer`). Returns the number of records."""
    if examples.pretokenized:
        raise DataError(f"{path}: examples are already pre-tokenized")
    tf.io.gfile.makedirs(os.path.dirname(os.fspath(path)) or ".")
    n = 0

    def fn(ex):
        x = pack(ex["text"])
        x = x[0] if isinstance(x, tuple) else x
        out = {"token_ids": x["token_ids"], "padding_mask": tf.cast(x["padding_mask"], tf.int32)}
        if "label" in ex:
            out["label"] = ex["label"]
        return out

    ds = examples.dataset.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(batch_size)
    with tf.io.TFRecordWriter(os.fspath(path)) as writer:
        for batch in ds.as_numpy_iterator():
            for i in range(len(batch["token_ids"])):
                feats = {"token_ids": _int_feature(batch["token_ids"][i]),
                         "padding_mask": _int_feature(batch["padding_mask"][i])}
                if "label" in batch:
                    lab = batch["label"][i]
                    feats["label"] = (tf.train.Feature(float_list=tf.train.FloatList(value=lab.tolist()))
                                      if examples.multi_label else _int_feature([lab]))
                writer.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())
                n += 1
    if examples.label_names and not examples.multi_label:
        with tf.io.gfile.GFile(os.fspath(path) + ".labels.json", "w") as f:
            f.write(json.dumps(examples.label_names))
    return n
