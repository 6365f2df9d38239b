"""Quiet by default: a command prints its progress lines and its result, no framework or C++ log line."""
import os
import re
import subprocess
import sys

import pytest

from export_support import hyperpartisan, tiny_vocab

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOISE = re.compile(r"^(INFO|WARNING|ERROR): \[|W0000|I0000|E0000|oneDNN|cuda|Some weights|newly initialized",
                   re.MULTILINE | re.IGNORECASE)


def quiet_env(**extra):
    """The user's environment: none of the test suite's log settings, no debug switch."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "HAT_KERAS_DEBUG")}
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
    env.update(extra)
    return env


def hat_keras(*args, cwd):
    """`hat-keras ARGS` in a fresh interpreter: (exit status, stdout + stderr). The one place that spells the
    command line."""
    code = "import sys; from hat_keras.cli import main; sys.exit(main())"
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=quiet_env(), capture_output=True,
                          text=True, timeout=600)
    return done.returncode, done.stdout + done.stderr


def assert_quiet(output, max_lines=40):
    lines = output.splitlines()
    assert not NOISE.findall(output), output
    assert len(lines) <= max_lines, output
    # No multi-line JSON: a line that is only an opening or closing brace/bracket, or an indented "key": value.
    assert not [ln for ln in lines if re.fullmatch(r"\s*[\[{\]}],?\s*|\s+\"[^\"]+\": .*", ln)], output


@pytest.fixture(scope="module")
def tiny_checkpoint(fixtures_dir, data_dir, tmp_path_factory):
    """The tiny-e2 classifier checkpoint with a vocabulary it can read, and two documents."""
    import shutil
    root = tmp_path_factory.mktemp("quiet")
    model = root / "model"
    shutil.copytree(fixtures_dir / "tiny-e2" / "seqcls-max", model)
    train, _ = hyperpartisan(data_dir, "train", 200)
    (model / "vocab.txt").write_text("\n".join(tiny_vocab(train)) + "\n", encoding="utf-8")
    test, _ = hyperpartisan(data_dir, "test", 2)
    docs = []
    for i, text in enumerate(test):
        (root / f"doc{i}.txt").write_text(text, encoding="utf-8")
        docs.append(f"doc{i}.txt")
    return root, docs


def test_export_tflite_and_predict_are_quiet(tiny_checkpoint):
    root, docs = tiny_checkpoint
    rc, out = hat_keras("export", "model", "--format", "tflite", "-o", "out", cwd=root)
    assert rc == 0, out
    assert_quiet(out)
    assert (root / "out" / "export_report.json").exists()  # the report stays in the file
    rc, out = hat_keras("predict", os.path.join("out", "model.tflite"), *docs, cwd=root)
    assert rc == 0, out
    assert_quiet(out)
    assert len(out.splitlines()) == len(docs)  # one line a document, nothing else


def test_tensorflow_start_up_is_quiet_under_jax():
    pytest.importorskip("jax")
    pytest.importorskip("tensorflow")
    done = subprocess.run([sys.executable, "-c", "import hat_keras, tensorflow"], env=quiet_env(KERAS_BACKEND="jax"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr


def test_native_stderr_is_captured_and_re_emitted_on_error(capfd):
    from hat_keras import logs
    with logs.native_stderr():
        os.write(2, b"INFO: [environment.cc:36] noise\n")
    assert capfd.readouterr().err == ""
    with pytest.raises(RuntimeError), logs.native_stderr():
        os.write(2, b"E0000 the reason it failed\n")
        raise RuntimeError("native failure")
    assert "the reason it failed" in capfd.readouterr().err
