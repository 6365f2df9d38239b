"""`hat-keras predict` reads text or says per file why not: empty, binary, undecodable; BOMs and --encoding
decode exactly (no replacement characters); --skip-bad classifies the rest."""
import codecs
import json
import os
import re

import pytest

from hat_keras.cli import main
from hat_keras.predict import PredictError, read_text_file
from training_helpers import write_tiny_hat

TEXT = "Café au lait: alpha beta gamma. red green blue."


def test_read_text_file_decodes_or_names_the_problem(tmp_path):
    def file(name, data):
        (tmp_path / name).write_bytes(data)
        return str(tmp_path / name)

    assert read_text_file(file("u8.txt", TEXT.encode())) == TEXT
    assert read_text_file(file("bom8.txt", codecs.BOM_UTF8 + TEXT.encode())) == TEXT
    assert read_text_file(file("u16.txt", TEXT.encode("utf-16"))) == TEXT  # BOM: little or big endian
    assert read_text_file(file("u16be.txt", codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"))) == TEXT
    assert read_text_file(file("u32.txt", TEXT.encode("utf-32"))) == TEXT
    latin = file("latin.txt", TEXT.encode("latin-1"))
    with pytest.raises(PredictError, match=r"latin.txt: not utf-8 text \(byte 0xe9 at offset 3\); pass --encoding"):
        read_text_file(latin)
    assert read_text_file(latin, "latin-1") == TEXT  # "Café" keeps its accent
    for name, data, message in [
            ("empty.txt", b"", "empty file"), ("blank.txt", b" \n\t\n", "empty file"),
            ("nobom16.txt", TEXT.encode("utf-16-le"), "binary file (NUL bytes), not text"),
            ("nul.txt", b"abc\x00def", "binary file (NUL characters after decoding as utf-8)"),
            ("elf.bin", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4, "binary file (NUL bytes), not text")]:
        with pytest.raises(PredictError, match=re.escape(f"{name}: {message}")):
            read_text_file(file(name, data))
    with pytest.raises(PredictError, match="no such text file"):
        read_text_file(str(tmp_path / "missing.txt"))


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    import hat_keras
    root = tmp_path_factory.mktemp("predict")
    model = hat_keras.load(write_tiny_hat(str(root / "hat")), task="text_classifier", num_labels=2)
    model.save(root / "clf.keras")
    return root / "clf.keras"


def test_cli_refuses_bad_files_unless_skip_bad(classifier, tmp_path, capsys):
    good, latin, empty, binary = (tmp_path / n for n in ("good.txt", "latin.txt", "empty.txt", "ls"))
    good.write_text(TEXT, encoding="utf-8")
    latin.write_bytes(TEXT.encode("latin-1"))
    empty.write_bytes(b"")
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)))
    assert main(["predict", str(classifier), str(good), str(empty), str(binary)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing classified
    lines = captured.err.strip().splitlines()
    assert lines[0] == f"hat-keras predict: error: {empty}: empty file (no text to classify)"
    assert lines[1].startswith(f"hat-keras predict: error: {binary}: binary file (NUL bytes), not text")
    assert lines[2].startswith("hat-keras predict: error: 2 of 3 files are not readable text") and len(lines) == 3

    assert main(["predict", str(classifier), str(good), str(empty), str(binary), "--skip-bad", "--json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)["predictions"]
    assert [r["file"] for r in rows] == [str(good)] and captured.err.count("skipped:") == 2

    # Latin-1 with --encoding classifies exactly like the same text in UTF-8 (not "Caf\ufffd")
    assert main(["predict", str(classifier), str(good), "--json"]) == 0
    utf8 = json.loads(capsys.readouterr().out)["predictions"][0]
    assert main(["predict", str(classifier), str(latin), "--json"]) == 1
    assert "not utf-8 text (byte 0xe9 at offset 3)" in capsys.readouterr().err
    assert main(["predict", str(classifier), str(latin), "--json", "--encoding", "latin-1"]) == 0
    assert json.loads(capsys.readouterr().out)["predictions"][0]["probabilities"] == utf8["probabilities"]
    assert main(["predict", str(classifier), str(good), "--encoding", "klingon"]) == 1
    assert "--encoding klingon: unknown encoding" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["empty.txt", "good.txt", "latin.txt", "ls"]
