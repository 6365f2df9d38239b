"""One grammar: every subcommand explains itself, has the common flags, spells options alike; usage errors give
one line and exit 2, failures one line and exit 1; old spellings still work with a one-line notice."""
import argparse
import json

import pytest

import hat_keras
from hat_keras.cli import build_parser, main

COMMANDS = ("convert", "info", "predict", "export", "train", "warm-start", "extend-context", "quickstart")
WRITING = ("convert", "export", "train", "warm-start", "extend-context", "quickstart")
DEPRECATED = ("--model", "--checkpoint", "--output-dir", "--out", "--test", "--test-docs", "--max-sentences",
              "--labels", "--num-labels", "--name", "--version")


def _subparsers():
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_every_subcommand_speaks_the_same_grammar():
    meaning = {}
    for name, p in _subparsers().items():
        visible = {o: a for a in p._actions if a.help != argparse.SUPPRESS for o in a.option_strings}
        assert {"--quiet", "--verbose", "--json"} <= set(visible), name
        assert ("--overwrite" in visible) == ("-o" in visible) == (name in WRITING), name
        assert not set(DEPRECATED) & set(visible), name
        assert name == "train" or "--strategy" not in visible, name  # only the distribution strategy
        for option, a in visible.items():
            meaning.setdefault(option, {})[name] = (type(a).__name__, a.nargs, tuple(a.choices or ()))
    for option, where in meaning.items():
        assert len(set(where.values())) == 1, (option, where)
    assert len(meaning["--segmentation"]) >= 2 and len(meaning["--pooling"]) >= 2 and len(meaning["-o"]) == 6


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"hat-keras {hat_keras.__version__}\n"


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


@pytest.mark.parametrize("argv", [["convert"], ["export", "m", "--format", "bad", "-o", "o"], ["nosuch"],
                                  ["train", "text_classifier", "x"], ["extend-context", "a", "-o", "b"],
                                  ["info", "x", "--bogus"], ["convert", "m"], ["train", "nosuch", "m", "--train", "a"],
                                  ["convert", "m", "dst", "-o", "dst"]])
def test_wrong_arguments_give_one_line(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and "--help" in err, err


def test_runtime_errors_are_one_line(tmp_path, capsys):
    for argv in (["info", str(tmp_path / "nope")], ["convert", str(tmp_path / "nope"), "-o", str(tmp_path / "o")]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"hat-keras {argv[0]}: error: ") and "no such" in err, err
    assert build_parser().prog == "hat-keras" and not (tmp_path / "o").exists()


def test_old_spelling_works_with_one_line_and_json_is_one_object(fixtures_dir, tmp_path, capsys):
    src, dst = str(fixtures_dir / "tiny-e2" / "mlm"), tmp_path / "big"
    assert main(["extend-context", src, str(dst), "--max-segments", "4", "--json"]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == ["hat-keras: the positional OUT is deprecated; use -o/--output OUT"]
    assert json.loads(out)["max_segments"] == 4 and (dst / "config.json").exists()
    assert main(["extend-context", src, "-o", str(dst), "--max-segments", "4"]) == 1  # exists: --overwrite
    assert "pass --overwrite" in capsys.readouterr().err
    assert main(["extend-context", src, "-o", str(dst), "--max-segments", "4", "--overwrite"]) == 0


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
