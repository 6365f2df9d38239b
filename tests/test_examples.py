"""The offline examples run as users run them."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_convert_example_offline(fixtures_dir, tmp_path):
    diff = load_example("convert_from_hub").main(["--local", str(fixtures_dir / "tiny-b2" / "mlm"),
                                                  "--out", str(tmp_path / "b2.keras")])
    assert diff == 0.0 and (tmp_path / "b2.keras").exists()


def test_entry_points_explain_themselves():
    """export/ and tpu_training/ scripts are thin entry points with working --help."""
    for script in ("export/export_model.py", "export/serving_client.py", "tpu_training/train_mlm.py",
                   "tpu_training/finetune_classifier.py", "examples/finetune_hyperpartisan.py",
                   "examples/convert_from_hub.py", "examples/litert_inference.py"):
        proc = subprocess.run([sys.executable, str(ROOT / script), "--help"], capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, (script, proc.stderr[-2000:])
        assert "usage" in proc.stdout.lower(), script


def test_notebook_is_valid_json_with_the_tpu_steps():
    import json

    nb = json.loads((ROOT / "examples" / "colab_tpu_finetune.ipynb").read_text())
    source = "\n".join("".join(c["source"]) for c in nb["cells"])
    for needle in ("tensorflow-tpu", "get_strategy(\"tpu\"", "get_strategy(\"auto\")", "KERAS_BACKEND", "tflite"):
        assert needle.lower() in source.lower(), needle


def test_notebook_executes_end_to_end_on_cpu(tmp_path, monkeypatch):
    """The Colab notebook, run as a user runs it (a Jupyter kernel, cell by cell) on its default path here
    (JAX, two virtual CPU devices), with a tiny local model and data so nothing is installed or downloaded:
    it trains, reloads best.keras on raw text and exports a TFLite model that its verifier accepted."""
    pytest.importorskip("jax")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from training_helpers import write_jsonl, write_tiny_hat

    model = write_tiny_hat(str(tmp_path / "hat"))
    params = {"HAT_NB_BACKEND": "auto", "HAT_NB_TRAIN": str(write_jsonl(tmp_path / "train.jsonl", 16)),
              "HAT_NB_TEST": str(write_jsonl(tmp_path / "test.jsonl", 4, seed=1)), "HAT_NB_MODEL": model,
              "HAT_NB_OUTPUT": str(tmp_path / "run"), "HAT_NB_MAX_STEPS": "4", "HAT_NB_BATCH_SIZE": "2",
              "HAT_NB_INSTALL": "0", "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
              "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
              "TF_CPP_MIN_LOG_LEVEL": "2"}
    for k, v in params.items():
        monkeypatch.setenv(k, v)
    nb = nbformat.read(ROOT / "examples" / "colab_tpu_finetune.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "backend: jax" in text and "replicas: 2" in text, text[-3000:]
    assert "steps: 4" in text, text[-3000:]
    report = json.loads((tmp_path / "run" / "training_report.json").read_text())
    assert (report["backend"], report["devices"], report["steps"]) == ("jax", 2, 4)
    assert (tmp_path / "run" / "best.keras").exists() and (tmp_path / "run" / "hf" / "model.safetensors").exists()
    export = json.loads((tmp_path / "run" / "tflite" / "export_report.json").read_text())
    assert list((tmp_path / "run" / "tflite").glob("*.tflite")), export
