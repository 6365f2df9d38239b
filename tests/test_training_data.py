"""Readers and tf.data pipelines: formats, labels, clear errors, static shapes, seeds, skip and shards."""
import json

import numpy as np
import pytest
import tensorflow as tf

from hat_keras.training import data as hd
from hat_keras.training import preprocessing as pp
from training_helpers import K, N, write_jsonl, write_tiny_hat


def _pack(text):
    """A toy in-graph packer (hash ids) so pipeline tests do not depend on a vocabulary."""
    ids = tf.cast(tf.strings.to_hash_bucket_fast(tf.strings.split(text), 90) + 5, tf.int32)[:K * N]
    ids = tf.ensure_shape(tf.pad(ids, [[0, K * N - tf.shape(ids)[0]]]), [K * N])
    return {"token_ids": ids, "padding_mask": tf.cast(ids > 0, tf.int32)}


def _classify(x, y=None, w=None):
    out = _pack(x)
    return (out, y) if w is None else (out, y, w)


def test_jsonl_string_labels_sorted(tmp_path):
    ex = hd.read_examples(write_jsonl(tmp_path / "a.jsonl", 10), label_field="label")
    assert ex.num_examples == 10 and ex.label_names == ["no", "yes"] and not ex.multi_label
    labels = [int(e["label"]) for e in ex.dataset]
    assert labels == [i % 2 for i in range(10)]


def test_multi_label_fields(tmp_path):
    ex = hd.read_examples(write_jsonl(tmp_path / "m.jsonl", 6, multi=True), label_field=["pos", "neg", "odd"])
    assert ex.multi_label and ex.label_names == ["pos", "neg", "odd"]
    first = next(iter(ex.dataset))
    np.testing.assert_array_equal(first["label"].numpy(), [0.0, 1.0, 1.0])


def test_csv_text_and_folders(tmp_path):
    (tmp_path / "d.csv").write_text('text,label\n"hello, world",1\nbye,0\n')
    ex = hd.read_examples(tmp_path / "d.csv", label_field="label")
    assert [e["text"].numpy().decode() for e in ex.dataset] == ["hello, world", "bye"]
    assert ex.label_names == ["0", "1"]
    (tmp_path / "lines.txt").write_text("first line\n\nsecond line\n")
    assert hd.read_examples(tmp_path / "lines.txt").num_examples == 2
    for cls in ("neg", "pos"):
        (tmp_path / "cls" / cls).mkdir(parents=True)
        (tmp_path / "cls" / cls / "a.txt").write_text(f"a {cls} document")
    ex = hd.read_examples(tmp_path / "cls", label_field="label")
    assert ex.label_names == ["neg", "pos"] and ex.num_examples == 2


def test_errors_name_file_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"body": "x", "label": 1}\n')
    with pytest.raises(hd.DataError, match=r"bad.jsonl:1: no field 'text'"):
        hd.read_examples(path, label_field="label")
    path.write_text('{"text": "x"}\n')
    with pytest.raises(hd.DataError, match=r"bad.jsonl:1: no label field 'label'"):
        hd.read_examples(path, label_field="label")
    path.write_text('{"text": "x", "label": 1}\n{"text": "a\tb"}\n')
    with pytest.raises(hd.DataError) as e:
        hd.read_examples(path, label_field="label")
    try:
        json.loads('{"text": "a\tb"}')
    except json.JSONDecodeError as parser:  # the reason in full, where it is in the line included
        assert str(e.value) == f"{path}:2: not valid JSON ({parser})"
    with pytest.raises(hd.DataError, match="no such file"):
        hd.read_examples(tmp_path / "missing.jsonl")
    with pytest.raises(hd.DataError, match="unknown format"):
        (tmp_path / "x.parquet").write_text("")
        hd.read_examples(tmp_path / "x.parquet")


def _batches(ds, n):
    return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in ds.take(n)]


def test_static_deterministic_and_skip(tmp_path):
    ex = hd.read_examples(write_jsonl(tmp_path / "a.jsonl", 30), label_field="label")
    ds = hd.make_dataset(ex, _classify, 4, seed=3, repeat=True)
    hd.assert_static(ds.element_spec)
    assert ds.element_spec[0]["token_ids"].shape == (4, K * N)
    a, b = _batches(ds, 12), _batches(hd.make_dataset(ex, _classify, 4, seed=3, repeat=True), 12)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x[0]["token_ids"], y[0]["token_ids"])
    other = _batches(hd.make_dataset(ex, _classify, 4, seed=4, repeat=True), 12)
    assert any(not np.array_equal(x[0]["token_ids"], y[0]["token_ids"]) for x, y in zip(a, other))
    # a resumed run (5 steps done) sees exactly the batches the uninterrupted run saw next
    resumed = _batches(hd.make_dataset(ex, _classify, 4, seed=3, repeat=True, skip_steps=5), 7)
    for x, y in zip(a[5:], resumed):
        np.testing.assert_array_equal(x[0]["token_ids"], y[0]["token_ids"])
        np.testing.assert_array_equal(x[1], y[1])


def test_shards_per_input_pipeline(tmp_path):
    ex = hd.read_examples(write_jsonl(tmp_path / "a.jsonl", 16), label_field="label")
    seen = []
    for pid in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pid, num_replicas_in_sync=2)
        ds = hd.make_dataset(ex, lambda x, y: {"id": tf.strings.length(x), "label": y}, 4, shuffle=False,
                             input_context=ctx)
        batches = list(ds)
        assert batches[0]["label"].shape == (2,)  # per-replica batch = 4 / 2
        seen.append(sum(len(b["label"]) for b in batches))
    assert seen == [8, 8]


def test_pretokenized_tfrecords_roundtrip(tmp_path):
    ex = hd.read_examples(write_jsonl(tmp_path / "a.jsonl", 12), label_field="label")
    path = str(tmp_path / "train.tfrecord")
    assert hd.write_pretokenized(ex, _pack, path) == 12
    back = hd.read_examples(path, label_field="label", count=True)
    assert back.pretokenized and back.num_examples == 12 and back.label_names == ["no", "yes"]
    first, orig = next(iter(back.dataset)), _pack(next(iter(ex.dataset))["text"])
    np.testing.assert_array_equal(first["token_ids"].numpy(), orig["token_ids"].numpy())
    assert first["token_ids"].dtype == tf.int32
    masker = pp.PretokenizedMasker(100, 4, [0, 2, 3], K * N)
    ds = hd.make_dataset(back, lambda x, y=None: masker(x), 4)
    hd.assert_static(ds.element_spec)
    x, y, w = next(iter(ds))
    assert x["mask_positions"].shape == y.shape == w.shape == (4, masker.selection_length)


def test_eval_padding_weights(tmp_path):
    ex = hd.read_examples(write_jsonl(tmp_path / "a.jsonl", 10), label_field="label")
    padded = hd.pad_to_batches(ex, 4)
    assert padded.num_examples == 12
    weights = [float(e["weight"]) for e in padded.dataset]
    assert weights == [1.0] * 10 + [0.0] * 2


def test_text_preprocessors_give_static_batches(tmp_path):
    folder = write_tiny_hat(str(tmp_path / "hat"))
    import hat_keras as h

    backbone = h.from_pretrained(folder, task="backbone")
    ex = hd.read_examples(write_jsonl(tmp_path / "a.jsonl", 8), label_field="label")
    cls = pp.text_preprocessor("classify", folder, backbone)
    ds = hd.make_dataset(ex, cls, 4)
    hd.assert_static(ds.element_spec)
    x, y = next(iter(ds))
    assert x["token_ids"].shape == (4, K * N) and int(x["token_ids"][0, 0]) == 2  # [CLS] opens segment 0
    mlm = pp.text_preprocessor("mlm", folder, backbone)
    ds = hd.make_dataset(hd.read_examples(tmp_path / "a.jsonl"), mlm, 4)
    hd.assert_static(ds.element_spec)
    x, y, w = next(iter(ds))
    assert float(np.sum(w)) > 0 and y.shape == x["mask_positions"].shape
    with pytest.raises(ValueError, match="dynamic shape"):
        ds = hd.read_examples(tmp_path / "a.jsonl").dataset.map(lambda e: _pack(e["text"]))
        hd.assert_static(ds.batch(3).element_spec)


def test_read_labelled_rows(tmp_path):
    from hat_keras.training.data import DataError, read_labelled_rows

    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a b", "label": "left"}\n\n{"text": "c", "label": "right"}\n', encoding="utf-8")
    assert read_labelled_rows(str(path)) == [("a b", "left"), ("c", "right")]
    path.write_text('{"text": "a b", "label": 0}\n{"text": "c", "label": 1.0}\n', encoding="utf-8")
    assert read_labelled_rows(str(path)) == [("a b", 0), ("c", 1)]
    path.write_text('{"text": "a b", "label": "left"}\n{"text": "c", "label": 1}\n', encoding="utf-8")
    with pytest.raises(DataError,
                       match=r"d.jsonl:2: label field 'label' is 1 \(an integer\) but .*d.jsonl:1 has 'left'"):
        read_labelled_rows(str(path))
    path.write_text('{"text": "a"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"d.jsonl:1: no label field 'label'"):
        read_labelled_rows(str(path))
    path.write_text('{"text": "a", "label": 0}\nnot json\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"d.jsonl:2: not valid JSON"):
        read_labelled_rows(str(path))


def test_one_label_type_per_field(tmp_path):
    """"neg", "pos" and 1 (meaning pos) would be three classes; one `true` among them likewise: refused,
    naming the file and line of the first label of the other type, whichever file it is in."""
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"text": "x", "label": "neg"}\n{"text": "y", "label": "pos"}\n')
    b.write_text('{"text": "z", "label": "pos"}\n{"text": "w", "label": 1}\n')
    with pytest.raises(hd.DataError) as e:
        hd.read_examples([a, b], label_field="label")
    assert str(e.value).startswith(f"{b}:2: label field 'label' is 1 (an integer) but {a}:1 has 'neg' (a string)")
    b.write_text('{"text": "z", "label": "pos"}\n{"text": "w", "label": true}\n')
    with pytest.raises(hd.DataError, match=r"b.jsonl:2: label field 'label' is True \(a boolean\)"):
        hd.read_examples([a, b], label_field="label")
    b.write_text('{"text": "z", "label": 0}\n{"text": "w", "label": false}\n')
    with pytest.raises(hd.DataError, match=r"b.jsonl:2: label field 'label' is False \(a boolean\) but "
                                           r".*b.jsonl:1 has 0 \(an integer\)"):
        hd.read_examples(b, label_field="label")


def test_boolean_labels_map_to_false_true(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text('{"text": "z", "label": true}\n{"text": "w", "label": true}\n')
    ex = hd.read_examples(path, label_field="label")  # only `true` seen: still the two classes false/true
    assert ex.label_names == ["false", "true"] and ex.label_kind == "boolean"
    assert [int(e["label"]) for e in ex.dataset] == [1, 1]
    ev = tmp_path / "e.jsonl"
    ev.write_text('{"text": "z", "label": false}\n')
    assert [int(e["label"]) for e in hd.read_examples(ev, label_field="label", label_names=ex.label_names,
                                                       label_kind_of="boolean").dataset] == [0]
    ev.write_text('{"text": "z", "label": "false"}\n')  # evaluation labels of another type than training's
    with pytest.raises(hd.DataError, match=r"e.jsonl:1: label field 'label' is 'false' \(a string\) but the "
                                           r"training labels are booleans"):
        hd.read_examples(ev, label_field="label", label_names=ex.label_names, label_kind_of="boolean")
