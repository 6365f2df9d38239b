"""SavedModel for TF Serving: `OUT/NAME/VERSION/` with `serving_default` (ids) and `classify_text` (raw strings).

Signatures:
  serving_default(token_ids, padding_mask: int32 (B, N·K)) -> logits, probabilities (B, C)
  classify_text(text: string (B,)) -> probabilities (B, C), label (B,), label_names (B, C), score (B,)
  tokenize(text: string (B,)) -> token_ids, padding_mask (B, N·K): the in-graph tokenizer on its own
Assets: config.json (HF config with id2label), labels.txt, vocab.txt, hat_export.json (segment geometry, labels
and the in-graph tokenizer's settings, e.g. its segmentation, under `tokenizer`).
The raw-text signatures use TF-Text ops: load with `import tensorflow_text` (tensorflow_model_server links them).
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

from hat_keras import compat
from hat_keras.exporting.source import ExportError, write_json
from hat_keras.exporting.verify import TOLERANCES, verified_export
from hat_keras.staging import EXIT_WITH_PARENT

TEXT_SIGNATURES = ("classify_text", "tokenize")


def write_saved_model(source, directory, encoder=None):
    """Write the SavedModel (no verification) to `directory`; returns the list of signatures."""
    import keras
    import tensorflow as tf

    from hat_keras.inference import bucket_index, segment_buckets

    S = source.sequence_length
    model = source.model
    labels = tf.constant(source.labels)
    archive = keras.export.ExportArchive()
    archive.track(model)
    ids_spec = {"token_ids": tf.TensorSpec((None, S), tf.int32, name="token_ids"),
                "padding_mask": tf.TensorSpec((None, S), tf.int32, name="padding_mask")}

    vocab, classes = int(source.backbone.vocabulary_size), len(source.labels)
    compact, K = bool(getattr(source.backbone, "compact", False)), int(source.segment_length)
    buckets = segment_buckets(source.backbone.max_segments)

    def serve(inputs):
        ids, mask = inputs["token_ids"], inputs["padding_mask"]
        checks = validate_inputs(ids, mask, vocab)
        if compact:  # the batch runs on its bucket (`trim_segments`): padded segments cost nothing
            keep = tf.gather(buckets, bucket_index(mask, K, buckets)) * K
            ids, mask = ids[:, :keep], mask[:, :keep]
        with tf.control_dependencies(checks):
            # A batch of zero documents gets empty outputs (the model's reshapes need at least one).
            logits = tf.cond(tf.shape(ids)[0] > 0,
                             lambda: tf.cast(model({"token_ids": ids, "padding_mask": mask}, training=False),
                                             tf.float32),
                             lambda: tf.zeros([0, classes], tf.float32))
        return {"logits": logits, "probabilities": tf.nn.softmax(logits, axis=-1)}

    archive.add_endpoint("serving_default", serve, input_signature=[ids_spec])
    signatures = ["serving_default"]
    if encoder is not None:
        for layer in encoder.trackables():
            layer.built = True
            archive.track(layer)

        def tokenize(text):
            enc = encoder.encode_tf(text)
            return {"token_ids": tf.cast(enc["token_ids"], tf.int32),
                    "padding_mask": tf.cast(enc["padding_mask"], tf.int32)}

        def classify_text(text):
            probs = serve(tokenize(text))["probabilities"]
            batch = tf.shape(probs)[0]
            top = tf.argmax(probs, axis=-1, output_type=tf.int32)
            return {"probabilities": probs, "label": tf.gather(labels, top),
                    "score": tf.reduce_max(probs, axis=-1),
                    "label_names": tf.tile(labels[None, :], [batch, 1])}

        text_spec = [tf.TensorSpec((None,), tf.string, name="text")]
        archive.add_endpoint("classify_text", classify_text, input_signature=text_spec)
        archive.add_endpoint("tokenize", tokenize, input_signature=text_spec)
        signatures += list(TEXT_SIGNATURES)

    with tempfile.TemporaryDirectory() as assets:
        files = _asset_files(source, assets, encoder)
        compat.export_archive_root(archive).hat_assets = {
            os.path.basename(p).replace(".", "_"): tf.saved_model.Asset(p) for p in files}
        compat.drop_duplicate_variable_lists(archive)
        archive.write_out(directory, verbose=False)
    return signatures


def validate_inputs(token_ids, padding_mask, vocabulary_size):
    """Assert ops: ids in [0, vocabulary_size) (an out-of-range id would wrap or read another row, on GPUs
    silently) and mask values 0/1 (others give NaN probabilities). They raise InvalidArgumentError with
    the range found, which TF Serving returns to the client as the request's error."""
    import tensorflow as tf
    lo, hi = tf.reduce_min(token_ids), tf.reduce_max(token_ids)
    empty = tf.equal(tf.size(token_ids), 0)
    ids_ok = tf.logical_or(empty, tf.logical_and(lo >= 0, hi < vocabulary_size))
    mask_ok = tf.reduce_all(tf.logical_or(tf.equal(padding_mask, 0), tf.equal(padding_mask, 1)))
    return [tf.debugging.Assert(ids_ok, [f"token_ids must be in [0, {vocabulary_size}); got values from", lo,
                                         "to", hi], name="check_token_ids"),
            tf.debugging.Assert(mask_ok, ["padding_mask must hold only 0 and 1; got values from",
                                          tf.reduce_min(padding_mask), "to", tf.reduce_max(padding_mask)],
                                name="check_padding_mask")]


def _asset_files(source, folder, encoder=None):
    paths = []
    write_json(os.path.join(folder, "config.json"), source.hf_config())
    paths.append(os.path.join(folder, "config.json"))
    with open(os.path.join(folder, "labels.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(source.labels) + "\n")
    paths.append(os.path.join(folder, "labels.txt"))
    write_json(os.path.join(folder, "hat_export.json"), {**source.geometry(), "labels": source.labels,
                                                          "tokenizer": encoder.settings() if encoder else {}})
    paths.append(os.path.join(folder, "hat_export.json"))
    from hat_keras.exporting.text import tokenizer_files
    for name, data in (tokenizer_files(source.tokenizer_dir) if source.tokenizer_dir else {}).items():
        with open(os.path.join(folder, name), "wb") as d:
            d.write(data)
        paths.append(os.path.join(folder, name))
    return paths


# A fresh interpreter that imports only tensorflow and tensorflow_text, as tensorflow_model_server does.
# It exits as soon as its parent is gone (a killed export must not leave it running).
_RUNNER = EXIT_WITH_PARENT + r"""
import os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(int(sys.argv[4]))
tf.config.threading.set_inter_op_parallelism_threads(1)
try:
    import tensorflow_text  # noqa: F401  registers the tokenizer ops
except ImportError:
    pass
model_dir, inp, outp = sys.argv[1:4]
data = np.load(inp, allow_pickle=False)
m = tf.saved_model.load(model_dir)
sig = m.signatures["serving_default"]
ids, mask = data["token_ids"], data["padding_mask"]
out = {"logits": sig(token_ids=tf.constant(ids), padding_mask=tf.constant(mask))["logits"].numpy()}
secs = []
for i in range(len(ids)):
    args = dict(token_ids=tf.constant(ids[i:i + 1]), padding_mask=tf.constant(mask[i:i + 1]))
    sig(**args)
    t = time.perf_counter(); sig(**args); secs.append(time.perf_counter() - t)
out["seconds"] = np.asarray(secs)
if "texts" in data.files and "classify_text" in m.signatures:
    texts = tf.constant([t for t in data["texts"]])
    r = m.signatures["classify_text"](text=texts)
    out["text_probabilities"] = r["probabilities"].numpy()
    out["text_label"] = r["label"].numpy().astype(str)
    t = m.signatures["tokenize"](text=texts)
    out["text_token_ids"], out["text_padding_mask"] = t["token_ids"].numpy(), t["padding_mask"].numpy()
assets = sorted(os.listdir(os.path.join(model_dir, "assets")))
out["assets"] = np.asarray(assets)
out["signatures"] = np.asarray(sorted(m.signatures.keys()))
out["foreign_modules"] = np.asarray(sorted(k for k in sys.modules if k.split(".")[0] in ("hat_keras", "keras_hub")))
np.savez(outp, **out)
"""


def run_saved_model(model_dir, token_ids, padding_mask, texts=None, threads=2, timeout=600):
    """Run the SavedModel in a fresh process (tensorflow + tensorflow_text only); returns its outputs."""
    with tempfile.TemporaryDirectory() as tmp:
        inp, outp = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        arrays = {"token_ids": np.asarray(token_ids, np.int32), "padding_mask": np.asarray(padding_mask, np.int32)}
        if texts is not None:
            arrays["texts"] = np.asarray(list(texts), dtype=str)
        np.savez(inp, **arrays)
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        proc = subprocess.run([sys.executable, "-c", _RUNNER, model_dir, inp, outp, str(threads)],
                              capture_output=True, text=True, timeout=timeout, env=env)
        if proc.returncode != 0:
            tail = [l for l in proc.stderr.strip().splitlines() if l.strip()][-1:] or ["(no output)"]
            raise RuntimeError(f"SavedModel failed in a fresh process: {tail[0]}")
        with np.load(outp, allow_pickle=False) as d:
            return {k: d[k] for k in d.files}


def check_model_name(name):
    """The model name is one folder inside OUT (`OUT/NAME/VERSION`, the layout TF Serving reads): a path
    separator, `.`, `..` or an absolute path would put the model elsewhere. Returns the name; ValueError
    naming it otherwise."""
    name = str(name)
    if not name or name in (".", "..") or any(c in name for c in "/\\\0") or os.path.isabs(name):
        raise ValueError(f"{name!r}: the model name must be one folder name inside OUT (no '/', '\\', '..' "
                         "or absolute path)")
    return name


def export_saved_model(source, out_dir, encoder=None, version=1, samples=None, tolerance=None, log=print):
    """TF Serving layout `out_dir/NAME/VERSION/`, verified in a fresh TF process before it is moved into place."""
    if not re.fullmatch(r"[0-9]+", str(version)):
        raise ExportError(f"version={version!r}: TF Serving versions are positive integers")
    try:
        check_model_name(source.name)
    except ValueError as e:
        raise ExportError(f"name: {e}") from None
    artifact = os.path.join(source.name, str(int(version)))
    tolerance = dict(tolerance or TOLERANCES[None])

    def write(tmp):
        signatures = write_saved_model(source, os.path.join(tmp, artifact), encoder)
        return {"signatures": signatures}

    def run(path, samples):
        texts = samples.texts if (encoder is not None and samples.texts) else None
        out = run_saved_model(path, samples.token_ids, samples.padding_mask, texts=texts)
        info = {"runtime": "tensorflow (fresh process, tensorflow + tensorflow_text only)",
                "assets": [str(a) for a in out["assets"]], "loaded_signatures": [str(s) for s in out["signatures"]]}
        if len(out["foreign_modules"]):
            raise ExportError(f"the SavedModel runner imported {list(out['foreign_modules'])}")
        if texts is not None:
            same = bool(np.array_equal(out["text_token_ids"], samples.token_ids)
                        and np.array_equal(out["text_padding_mask"], samples.padding_mask))
            info["in_graph_ids_match_host_tokenizer"] = same
            ref = source.logits(samples.token_ids, samples.padding_mask)
            ref_p = np.exp(ref - ref.max(-1, keepdims=True))
            ref_p /= ref_p.sum(-1, keepdims=True)
            info["classify_text_max_abs_diff_probabilities"] = float(np.abs(out["text_probabilities"] - ref_p).max())
            info["classify_text_labels"] = [str(x) for x in out["text_label"][:4]]
            if not same:  # the raw-text path would classify different ids than the host tokenizer
                return np.full_like(out["logits"], np.nan), out["seconds"], info
        return out["logits"], out["seconds"], info

    return verified_export(out_dir, artifact, write, run, source, samples, tolerance, "saved_model", log=log)


def payload_tensors(payload, signature="serving_default"):
    """REST JSON (row `instances` or columnar `inputs`) -> dict of numpy arrays, as TF Serving parses it."""
    if "instances" in payload:
        rows = payload["instances"]
        if rows and isinstance(rows[0], dict):
            return {k: np.asarray([r[k] for r in rows]) for k in rows[0]}
        return {"text": np.asarray(rows)}
    if "inputs" in payload:
        inputs = payload["inputs"]
        if isinstance(inputs, dict):
            return {k: np.asarray(v) for k, v in inputs.items()}
        return {"text": np.asarray(inputs)}
    raise ValueError("a REST predict payload has `instances` (row format) or `inputs` (columnar format)")


def read_assets(model_dir):
    """Labels and geometry from a SavedModel's assets (what a client needs to build requests)."""
    a = os.path.join(model_dir, "assets")
    with open(os.path.join(a, "hat_export.json"), encoding="utf-8") as f:
        return json.load(f)
