"""The offline examples run as users run them."""
import importlib.util
import subprocess
import sys


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
    for needle in ("tensorflow-tpu", "get_strategy(\"tpu\"", "export_model", "tflite"):
        assert needle.lower() in source.lower(), needle
