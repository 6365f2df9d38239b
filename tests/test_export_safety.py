"""Exports that never lose or leave anything: the model's own tokenizer bundled, existing OUT refused or
replaced whole, a SIGKILL mid-verification leaving no process and no temp files (cleaned by the next run),
and serving signatures that check their inputs. A tiny `.keras` classifier with no vocab.txt beside it."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from training_helpers import write_tiny_hat

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = "alpha beta gamma delta. red green blue one two three. nine eight seven. " * 6


@pytest.fixture(scope="module")
def clf(tmp_path_factory):
    """(`.keras` classifier whose tokenizer lives only inside it, a text file)."""
    import hat_keras
    root = tmp_path_factory.mktemp("clf")
    model = hat_keras.load(write_tiny_hat(str(root / "hat")), task="text_classifier", num_labels=2)
    (root / "model").mkdir()
    path = root / "model" / "clf.keras"
    model.save(path)
    (root / "doc.txt").write_text(DOC, encoding="utf-8")
    return path, root / "doc.txt"


@pytest.fixture(scope="module")
def tflite_out(clf, tmp_path_factory):
    from hat_keras.cli import main
    out = tmp_path_factory.mktemp("tflite") / "out"
    assert main(["export", str(clf[0]), "-o", str(out), "--format", "tflite", "--num-samples", "2"]) == 0
    return out


def test_tflite_bundles_the_keras_models_own_tokenizer(clf, tflite_out):
    """`export clf.keras --format tflite` with no vocab.txt beside it bundles the tokenizer inside the
    `.keras`; `predict OUT/model.tflite` then gives the ids and probabilities `predict clf.keras` gives."""
    import hat_keras
    from hat_keras.exporting.metadata import read_metadata
    from hat_keras.runtime import TFLiteTextClassifier
    from hat_keras.predict import predict_files
    path, doc = clf
    info, files = read_metadata(str(tflite_out / "model.tflite"))
    assert {"vocab.txt", "tokenizer_config.json"} <= set(files) and info["tokenizer"]["segmentation"] == "sentences"
    model = hat_keras.load(path)
    assert files["vocab.txt"].decode().split("\n")[:-1] == model.preprocessor.tokenizer.get_vocabulary()
    host = TFLiteTextClassifier(str(tflite_out / "model.tflite")).encode([DOC])
    keras_ids = model.preprocessor([DOC])
    np.testing.assert_array_equal(host["token_ids"], keras_ids["token_ids"])
    np.testing.assert_array_equal(host["padding_mask"], keras_ids["padding_mask"])
    a = predict_files(str(path), [str(doc)], out=lambda _: None)[0]
    b = predict_files(str(tflite_out / "model.tflite"), [str(doc)], out=lambda _: None)[0]
    assert a["label"] == b["label"]
    for name, p in a["probabilities"].items():
        assert abs(p - b["probabilities"][name]) <= 2e-6, (a, b)
    assert sorted(os.listdir(tflite_out)) == ["export_report.json", "model.tflite"]
    assert not [p for p in os.listdir(tflite_out.parent) if p.startswith(".")]


@pytest.fixture(scope="module")
def saved_over_tflite(clf, tflite_out, tmp_path_factory):
    """A SavedModel export into a copy of the TFLite OUT: first without --overwrite, then with it."""
    from hat_keras.cli import main
    out = tmp_path_factory.mktemp("saved") / "out"
    shutil.copytree(tflite_out, out)
    before = sorted(os.listdir(out))
    refused = main(["export", str(clf[0]), "-o", str(out), "--format", "saved_model", "--num-samples", "2"])
    kept = sorted(os.listdir(out))
    assert main(["export", str(clf[0]), "-o", str(out), "--format", "saved_model", "--num-samples", "2",
                 "--overwrite"]) == 0
    return out, refused, before, kept


def test_existing_out_refused_then_replaced_whole(saved_over_tflite, capsys):
    out, refused, before, kept = saved_over_tflite
    assert refused == 1 and kept == before == ["export_report.json", "model.tflite"]
    assert sorted(os.listdir(out)) == ["export_report.json", "hat"]  # no stale model.tflite beside hat/1
    report = json.loads((out / "export_report.json").read_text())
    assert report["format"] == "saved_model" and report["artifact"] == os.path.join("hat", "1")
    assert sorted(os.listdir(out / "hat" / "1" / "assets")) == [
        "config.json", "hat_export.json", "labels.txt", "tokenizer_config.json", "vocab.txt"]
    assert not [p for p in os.listdir(out.parent) if p.startswith(".")]


def test_serving_signatures_validate_inputs_and_take_empty_batches(saved_over_tflite):
    import tensorflow as tf
    out = saved_over_tflite[0]
    m = tf.saved_model.load(str(out / "hat" / "1"))
    serve, classify = m.signatures["serving_default"], m.signatures["classify_text"]
    geo = json.loads((out / "hat" / "1" / "assets" / "hat_export.json").read_text())
    S, V = geo["sequence_length"], geo["vocab_size"]
    ids, mask = np.full((2, S), 5, np.int32), np.ones((2, S), np.int32)
    good = serve(token_ids=tf.constant(ids), padding_mask=tf.constant(mask))["probabilities"].numpy()
    assert good.shape == (2, 2) and np.all(np.isfinite(good))
    for bad_ids, bad_mask, message in [
            (-5, 1, rf"token_ids must be in \[0, {V}\); got values from\] \[-5\] \[to\] \[5\]"),
            (V, 1, rf"token_ids must be in \[0, {V}\); got values from\] \[5\] \[to\] \[{V}\]"),
            (None, 7, r"padding_mask must hold only 0 and 1; got values from\] \[1\] \[to\] \[7\]")]:
        x, y = ids.copy(), mask.copy()
        if bad_ids is not None:
            x[1, 3] = bad_ids
        y[0, 2] = bad_mask
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            serve(token_ids=tf.constant(x), padding_mask=tf.constant(y))
    empty = serve(token_ids=tf.zeros([0, S], tf.int32), padding_mask=tf.zeros([0, S], tf.int32))
    assert empty["logits"].shape == (0, 2) and empty["probabilities"].shape == (0, 2)
    none = classify(text=tf.constant([], tf.string))
    assert none["probabilities"].shape == (0, 2) and none["label"].shape == (0,) and none["score"].shape == (0,)
    assert none["label_names"].shape == (0, 2)


def _processes_mentioning(text):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_during_verification_leaves_no_process_and_next_run_cleans(clf, tmp_path):
    """SIGKILL while the fresh-process SavedModel verifier runs: OUT is not created, the verifier exits with
    its parent, nothing lands in the temp directory; the next export removes the partial folder."""
    from hat_keras.exporting import export_model
    path, _ = clf
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.path.dirname(HERE) + os.pathsep + HERE}
    code = ("from hat_keras.exporting import export_model; "
            f"export_model({str(path)!r}, {str(out)!r}, 'saved_model', num_samples=2)")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    marker, verifier = f".{out.name}.partial-{proc.pid}-", []
    try:
        deadline = time.time() + 500
        while time.time() < deadline and proc.poll() is None and not verifier:
            verifier = [p for p in _processes_mentioning(marker) if p != proc.pid]
            time.sleep(0.1)
        assert verifier, f"no verifier process seen (rc {proc.poll()}): {proc.stderr.read().decode()[-2000:]}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    deadline = time.time() + 20
    while time.time() < deadline and any(os.path.exists(f"/proc/{p}") for p in verifier):
        time.sleep(0.1)
    assert not any(os.path.exists(f"/proc/{p}") for p in verifier), "the verifier outlived its parent"
    assert not out.exists()
    partials = [p for p in os.listdir(tmp_path) if p.startswith(f".{out.name}.partial-")]
    assert len(partials) == 1  # the killed run's staging folder (and everything it wrote) ...
    assert os.listdir(tmp) == []  # ... and nothing in the temp directory
    report = export_model(str(path), out, "keras", num_samples=2, log=lambda _: None)
    assert report["passed"] and sorted(os.listdir(out)) == ["export_report.json", "model.keras"]
    assert sorted(os.listdir(tmp_path)) == ["out", "tmp"]  # ... removed by the next export of OUT


def test_export_input_errors_name_file_and_line(clf, tmp_path, capsys):
    from hat_keras.cli import main
    path, _ = clf
    bad = tmp_path / "samples.jsonl"
    bad.write_text('{"text": "alpha"}\n{"text": oops}\n')
    assert main(["export", str(path), "-o", str(tmp_path / "o"), "--format", "keras", "--samples", str(bad)]) == 1
    assert f"{bad}:2: not valid JSON" in capsys.readouterr().err
    bad.write_text("")
    assert main(["export", str(path), "-o", str(tmp_path / "o"), "--format", "keras", "--samples", str(bad)]) == 1
    assert f"{bad}: no documents (empty file)" in capsys.readouterr().err
    fake = tmp_path / "fake.keras"
    fake.write_text("not a zip")
    assert main(["export", str(fake), "-o", str(tmp_path / "o"), "--format", "keras"]) == 1
    assert "exists but is not a `.keras` archive (not a zip file)" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["fake.keras", "samples.jsonl"]


def test_samples_files_json_array_json_lines_and_text(tmp_path):
    """`--samples` / `--calibration` files: a .json holds a JSON array (of strings or of objects with `text`)
    or JSON lines, a .jsonl JSON lines, anything else one document per line; errors name file and line (or
    array index) with the JSON parser's whole message."""
    from hat_keras.exporting.text import read_texts
    docs = ["alpha beta. gamma", 'red "green"\tblue', "ünïcode stays"]
    lines = "\n".join(json.dumps({"text": d, "label": i}) for i, d in enumerate(docs)) + "\n"
    forms = {"strings.json": json.dumps(docs), "objects.json": "\n\n" + json.dumps(
                 [{"text": d, "label": i} for i, d in enumerate(docs)], indent=2),
             "lines.json": lines, "lines.jsonl": lines, "plain.txt": "\n".join(docs) + "\n"}
    for name, content in forms.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
        texts, labels = read_texts(str(tmp_path / name))
        assert texts == docs, name
        assert labels == ([0, 1, 2] if name not in ("strings.json", "plain.txt") else [None] * 3), name
        assert read_texts(str(tmp_path / name), limit=2)[0] == docs[:2], name

    def error(name, content):
        (tmp_path / name).write_text(content, encoding="utf-8")
        with pytest.raises(ValueError) as e:
            read_texts(str(tmp_path / name))
        return str(e.value)

    path = tmp_path / "ctrl.jsonl"
    assert error("ctrl.jsonl", '{"text": "ok"}\n{"text": "a\tb"}\n') == (
        f"{path}:2: not valid JSON (Invalid control character at: line 1 column 12 (char 11))")
    assert error("ctrl.json", '{"text": "a\tb"}\n').endswith(
        "ctrl.json:1: not valid JSON (Invalid control character at: line 1 column 12 (char 11)); a .json file "
        "holds a JSON array or JSON lines")
    broken = '\n[\n "a",\n oops]'
    with pytest.raises(json.JSONDecodeError) as parser:  # the reference: the whole file parsed at once
        json.loads(broken)
    assert "line 4 column 2" in str(parser.value)
    assert error("broken.json", broken) == f"{tmp_path / 'broken.json'}: not valid JSON ({parser.value})"
    assert error("number.json", '["a", 3]') == (
        f"{tmp_path / 'number.json'}[1]: expected an object with `text` or a string, got int")
    assert error("field.json", '[{"body": "a"}]') == f"{tmp_path / 'field.json'}[0]: no `text` field"
    assert error("empty.json", "[]") == f"{tmp_path / 'empty.json'}: no documents (empty file)"


def test_saved_model_name_stays_inside_out(clf, tmp_path, capsys):
    """`--model-name` / `--name` is one folder inside OUT: separators, `..` and absolute paths are refused at
    parsing (exit 2, naming the flag and value) and by the library; nothing is written anywhere."""
    from hat_keras.cli import main
    from hat_keras.exporting import ExportError, export_model
    from hat_keras.exporting.verify import inside
    path, _ = clf
    (tmp_path / "base").mkdir()
    out = tmp_path / "base" / "out"
    for flag, name in (("--name", "../../escape"), ("--model-name", "../../escape"), ("--model-name", "a/b"),
                       ("--model-name", str(tmp_path / "abs")), ("--model-name", ".."), ("--model-name", "a\\b")):
        with pytest.raises(SystemExit) as e:
            main(["export", str(path), "-o", str(out), "--format", "saved_model", flag, name])
        assert e.value.code == 2 and capsys.readouterr().err == (
            f"hat-keras export: error: argument {flag}: {name!r}: the model name must be one folder name inside "
            "OUT (no '/', '\\', '..' or absolute path) (see hat-keras export --help)\n")
    with pytest.raises(ExportError, match=r"^name: '\.\./\.\./escape': the model name must be one folder name"):
        export_model(str(path), out, "saved_model", name="../../escape", num_samples=2, log=lambda _: None)
    assert os.listdir(tmp_path) == ["base"] and os.listdir(tmp_path / "base") == []
    with pytest.raises(ExportError, match=r"'\.\./escape/1': an export's files must stay inside OUT"):
        inside(str(out), "../escape/1")
    assert inside(str(out), os.path.join("hat", "1")) == os.path.join(str(out), "hat", "1")


def test_export_counts_and_calibration_refused_at_parsing(tmp_path, capsys):
    """--num-samples / --num-calibration below 1 and --calibration with a mode that does not calibrate (every
    one but the integer modes of `hat_keras.exporting.quantize`) are usage errors: exit 2, one line naming the
    flag and value, before any model is read (MODEL does not even exist)."""
    from hat_keras.cli import main
    from hat_keras.exporting.quantize import VARIANTS
    docs = tmp_path / "docs.txt"
    docs.write_text("alpha beta\n")
    base = ["export", str(tmp_path / "missing.keras"), "-o", str(tmp_path / "out"), "--format", "tflite"]
    prefix = "hat-keras export: error: "
    cases = [(["--num-samples", "0"], "argument --num-samples: '0': must be at least 1"),
             (["--num-samples", "-5"], "argument --num-samples: '-5': must be at least 1"),
             (["--num-calibration", "0"], "argument --num-calibration: '0': must be at least 1"),
             (["--num-samples", "two"], "argument --num-samples: 'two' is not an integer")]
    modes = ", ".join(VARIANTS + ("int8",))
    for quantize in ("float16", "dynamic", "float32"):
        cases.append((["--quantize", quantize, "--calibration", str(docs)],
                      f"--calibration {docs}: only the integer modes calibrate (--quantize {modes}); "
                      f"--quantize {quantize} does not use it"))
    cases.append((["--calibration", str(docs)], f"--calibration {docs}: only the integer modes calibrate "
                  f"(--quantize {modes}); --format tflite without --quantize does not use it"))
    for extra, message in cases:
        with pytest.raises(SystemExit) as e:
            main(base + extra)
        assert e.value.code == 2 and capsys.readouterr().err == f"{prefix}{message} (see hat-keras export --help)\n"
    for quantize in VARIANTS + ("int8",):  # the integer modes take it: the run starts (and stops at MODEL)
        assert main(base + ["--quantize", quantize, "--calibration", str(docs)]) == 1
        assert "missing.keras: no such" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["docs.txt"]


def test_predict_on_a_folder_takes_its_one_finished_model(clf, tflite_out, saved_over_tflite, tmp_path, capsys):
    """`predict DIR`: the one finished model in DIR, at any depth; an unfinished export (`.OUT.partial-*`, here
    with a broken saved_model.pb) never counts and is refused when named; two models are refused, listed."""
    from hat_keras.cli import main
    from hat_keras.predict import PredictError, find_model, predict_files
    path, doc = clf
    root = tmp_path / "models"
    shutil.copytree(saved_over_tflite[0], root / "sm")
    partial = root / f".sm.partial-{os.getpid()}-0a1b2c3d" / "out"
    shutil.copytree(saved_over_tflite[0], partial)
    (partial / "hat" / "1" / "saved_model.pb").write_bytes(b"unfinished")
    assert find_model(str(root)) == str(root / "sm" / "hat" / "1")
    want = predict_files(str(path), [str(doc)], out=lambda _: None)[0]  # the Keras model itself
    got = predict_files(str(root), [str(doc)], out=lambda _: None)[0]
    assert got["label"] == want["label"]
    for name, p in want["probabilities"].items():
        assert abs(p - got["probabilities"][name]) <= 2e-6, (want, got)
    with pytest.raises(PredictError, match=r"inside an unfinished export \(a \.partial folder"):
        find_model(str(partial / "hat" / "1"))

    os.makedirs(root / "tfl")
    shutil.copy(tflite_out / "model.tflite", root / "tfl" / "model.tflite")
    assert find_model(str(root / "tfl")) == str(root / "tfl" / "model.tflite")
    assert main(["predict", str(root), str(doc)]) == 1
    assert capsys.readouterr().err == (
        f"hat-keras predict: error: {root}: 2 models in this folder ({os.path.join('sm', 'hat', '1')}, "
        f"{os.path.join('tfl', 'model.tflite')}); pass the one to use\n")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PredictError, match=r"empty: no model in this folder \(a \.keras or \.tflite file"):
        find_model(str(tmp_path / "empty"))


def test_predict_segmentation_is_honoured_or_refused_on_every_runtime(clf, tflite_out, saved_over_tflite, tmp_path,
                                                                      capsys):
    """`--segmentation uniform`: the `.tflite` tokenizes in Python and gives the ids and probabilities of the
    Keras model's own tokenizer in uniform mode; a SavedModel tokenizes in its graph with the export's
    segmentation (recorded in hat_export.json), so another one is refused, naming both."""
    import hat_keras
    from hat_keras.cli import main
    from hat_keras.predict import PredictError, predict_files
    from hat_keras.runtime import TFLiteTextClassifier
    path, doc = clf
    tokenizer = hat_keras.load(path).preprocessor.tokenizer
    uniform, sentences = (tokenizer([DOC], segmentation=s)["token_ids"] for s in ("uniform", "sentences"))
    assert not np.array_equal(uniform, sentences)  # the flag matters for this document
    tflite = str(tflite_out / "model.tflite")
    np.testing.assert_array_equal(TFLiteTextClassifier(tflite, segmentation="uniform").encode([DOC])["token_ids"],
                                  uniform)
    want = predict_files(str(path), [str(doc)], segmentation="uniform", out=lambda _: None)[0]
    got = predict_files(tflite, [str(doc)], segmentation="uniform", out=lambda _: None)[0]
    for name, p in want["probabilities"].items():
        assert abs(p - got["probabilities"][name]) <= 2e-6, (want, got)

    saved = saved_over_tflite[0] / "hat" / "1"
    same = predict_files(str(saved), [str(doc)], segmentation="sentences", out=lambda _: None)[0]
    assert same == predict_files(str(saved), [str(doc)], out=lambda _: None)[0]
    assert main(["predict", str(saved), str(doc), "--segmentation", "uniform"]) == 1
    assert capsys.readouterr().err == (
        "hat-keras predict: error: --segmentation uniform: this SavedModel tokenizes in its graph with sentences "
        "segmentation; export it again with --segmentation uniform, or classify with the .keras model or a .tflite "
        "export, which tokenize in Python\n")
    old = tmp_path / "old"  # an export that did not record its segmentation
    shutil.copytree(saved, old)
    geo = json.loads((old / "assets" / "hat_export.json").read_text())
    del geo["tokenizer"]
    (old / "assets" / "hat_export.json").write_text(json.dumps(geo))
    with pytest.raises(PredictError, match=r"with the segmentation it was exported with \(not recorded in this "):
        predict_files(str(old), [str(doc)], segmentation="sentences", out=lambda _: None)


def test_classifier_takes_one_string_as_one_document_and_empty_batches(clf, tflite_out, saved_over_tflite):
    """On every runtime: a string is one document (label, probabilities (C,)) equal to the first row of the
    batch it starts; `[]` gives `([], (0, C))` as the SavedModel signatures do, and so do the runtime clients
    and the Keras model's `predict`; a None among the texts is refused with its position."""
    import hat_keras
    from hat_keras.predict import Classifier
    from hat_keras.runtime import SavedModelTextClassifier, TFLiteTextClassifier
    path, _ = clf
    tflite, saved = str(tflite_out / "model.tflite"), str(saved_over_tflite[0] / "hat" / "1")
    for model in (str(path), tflite, saved):
        c = Classifier.load(model)
        labels, probs = c([DOC, "alpha beta"])
        label, p = c(DOC)
        assert len(labels) == 2 and probs.shape == (2, 2), model
        assert label == labels[0] and p.shape == (2,) and np.abs(p - probs[0]).max() <= 2e-6, model
        none, empty = c([])
        assert none == [] and empty.shape == (0, 2) and empty.dtype == np.float32, model
        with pytest.raises(TypeError, match=r"^Classifier takes a string or \(lists of\) strings, got NoneType None "
                                            r"at inputs\[1\]$"):
            c(["alpha", None])
    c = Classifier.load(path)
    label, p, contributions, segments = c.explain(DOC)
    batch = c.explain([DOC])
    assert label == batch[0][0] and np.array_equal(contributions, batch[2][0]) and segments == batch[3][0]
    none, empty, no_contributions, no_segments = c.explain([])
    assert (none, no_segments) == ([], []) and empty.shape == (0, 2) and no_contributions.shape == (0, 4)
    assert hat_keras.load(path).predict([], verbose=0).shape == (0, 2)
    assert TFLiteTextClassifier(tflite)([]).shape == SavedModelTextClassifier(saved)([]).shape == (0, 2)


def test_long_documents_read_alike_on_every_runtime(clf, tflite_out, saved_over_tflite):
    """The counts and `long="windows"` go through each runtime's own ids: the `.tflite` (host tokenizer) and
    the SavedModel (its `tokenize` signature, windows from the tokenizer in its assets) read a document longer
    than the model as the Keras model does and give its window probabilities."""
    from hat_keras.predict import Classifier
    path, _ = clf
    keras_windows = Classifier.load(path, long="windows")
    reading, probs = keras_windows.read(DOC), keras_windows(DOC)[1]
    truncated = Classifier.load(path).read(DOC)
    assert reading.windows >= 2 and reading.tokens == reading.document_tokens == truncated.document_tokens
    assert truncated.windows == 1 and truncated.tokens < truncated.document_tokens
    for model in (str(tflite_out / "model.tflite"), str(saved_over_tflite[0] / "hat" / "1")):
        windows = Classifier.load(model, long="windows")
        assert windows.read(DOC) == reading and Classifier.load(model).read(DOC) == truncated, model
        np.testing.assert_allclose(windows(DOC)[1], probs, atol=2e-6, err_msg=model)


def _under_jax(code):
    """Run `code` in a fresh Python on the Keras JAX backend; its last stdout line, as JSON (and its stderr)."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.path.dirname(HERE) + os.pathsep + HERE}
    proc = subprocess.run([sys.executable, "-c", "import keras\nassert keras.config.backend() == 'jax'\n" + code],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def _same_probabilities(reference, tflite, doc):
    from hat_keras.predict import predict_files
    want = predict_files(str(reference), [str(doc)], out=lambda _: None)[0]
    got = predict_files(str(tflite), [str(doc)], out=lambda _: None)[0]
    assert got["label"] == want["label"]
    for name, p in want["probabilities"].items():
        assert abs(p - got["probabilities"][name]) <= 2e-6, (want, got)


def test_export_under_jax_runs_in_a_tensorflow_process(clf, tmp_path):
    """`hat-keras export` under KERAS_BACKEND=jax writes a verified `.tflite` (converted in a TensorFlow
    process) whose probabilities are the TensorFlow-backend Keras model's; nothing else is left."""
    pytest.importorskip("jax")
    path, doc = clf
    result, _ = _under_jax(f"""
import json
from hat_keras.cli import main
rc = main(["export", {str(path)!r}, "-o", {str(tmp_path / "cli")!r}, "--format", "tflite", "--num-samples", "2",
           "--quiet"])
print(json.dumps({{"rc": rc}}))
""")
    assert result == {"rc": 0}
    assert sorted(os.listdir(tmp_path)) == ["cli"]  # no partial folders left
    assert sorted(os.listdir(tmp_path / "cli")) == ["export_report.json", "model.tflite"]
    _same_probabilities(path, tmp_path / "cli" / "model.tflite", doc)


@pytest.mark.slow
def test_export_of_a_jax_model_object_and_its_errors(clf, tmp_path):
    """`export_model` on a model loaded in a JAX process (saved as .keras for the TensorFlow process) gives the
    same `.tflite` as from TensorFlow; an error there is the command's one-line error, exit status 1."""
    pytest.importorskip("jax")
    path, doc = clf
    result, stderr = _under_jax(f"""
import json, hat_keras
from hat_keras.cli import main
from hat_keras.exporting import export_model
report = export_model(hat_keras.load({str(path)!r}), {str(tmp_path / "lib")!r}, "tflite", num_samples=2,
                      log=lambda _: None)
failed = main(["export", {str(path)!r}, "-o", {str(tmp_path / "bad")!r}, "--format", "onnx", "--label-names",
               "a,b,c", "--quiet"])
print(json.dumps({{"passed": report["passed"], "artifact": report["artifact_path"], "failed": failed}}))
""")
    assert result == {"passed": True, "artifact": str(tmp_path / "lib" / "model.tflite"), "failed": 1}
    assert stderr.strip().splitlines()[-1] == "hat-keras export: error: 3 labels given for a model with 2 classes"
    assert sorted(os.listdir(tmp_path)) == ["lib"]
    _same_probabilities(path, tmp_path / "lib" / "model.tflite", doc)
