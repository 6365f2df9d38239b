"""`hat-keras --help` and every subcommand's help explain themselves; wrong arguments give one line."""
import pytest

from hat_keras.cli import build_parser, main

COMMANDS = ("convert", "info", "predict", "export", "train", "warm-start", "extend-context", "quickstart")


def test_every_subcommand_has_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    top = capsys.readouterr().out
    for command in COMMANDS:
        assert command in top, command
        with pytest.raises(SystemExit) as e:
            main([command, "--help"])
        assert e.value.code == 0
        text = capsys.readouterr().out
        assert f"usage: hat-keras {command}" in text and len(text.splitlines()) > 3, command


@pytest.mark.parametrize("argv", [["convert"], ["export", "m", "--format", "bad", "o"], ["nosuch"],
                                  ["train", "classify", "--model", "x"], ["extend-context", "a", "b"]])
def test_wrong_arguments_give_one_line(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and "--help" in err, err


def test_runtime_errors_are_one_line(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err
    assert build_parser().prog == "hat-keras"


def test_the_command_prints_no_framework_start_up_lines(fixtures_dir):
    """TensorFlow's C++ start-up lines (absl notice, CUDA probe) stay out of what a user sees."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-m", "hat_keras.cli", "info", str(fixtures_dir / "tiny-e2" / "mlm")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "layout from keys" in proc.stdout
    noise = [ln for ln in (proc.stdout + proc.stderr).splitlines()
             if "absl::InitializeLog" in ln or "cudart_stub" in ln or ln.startswith(("I0000", "E0000", "W0000"))]
    assert not noise, noise
