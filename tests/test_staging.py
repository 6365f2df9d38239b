"""hat_keras.staging: an output appears whole in one rename, the old one survives until then, temp files stay
inside the partial folder, and the partial folders of dead processes are removed (or put back)."""
import errno
import os
import subprocess
import sys
import tempfile

import pytest

from hat_keras import staging


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _tree(path):
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs)


def _write(folder, names):
    os.makedirs(folder, exist_ok=True)
    for n in names:
        with open(os.path.join(folder, n), "w") as f:
            f.write(n)


def test_existing_output_refused_and_replaced_in_one_swap(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _write(out, ["model.tflite", "export_report.json"])
    with pytest.raises(staging.OutputExists, match=r"out: exists; pass --overwrite"):
        staging.Staging(out)
    seen = []
    real = staging._exchange

    def exchange(a, b):
        seen.append(_tree(b))  # at the swap OUT still holds the old export, whole
        real(a, b)

    monkeypatch.setattr(staging, "_exchange", exchange)
    with staging.Staging(out, overwrite=True) as st:
        _write(os.path.join(st.path, "hat", "1"), ["saved_model.pb"])
        _write(st.path, ["export_report.json"])
        assert tempfile.gettempdir() == st.work and os.environ["TMPDIR"] == st.work
        with tempfile.NamedTemporaryFile(delete=False) as t:  # any library's temp file lands inside
            assert t.name.startswith(st.work)
        st.commit()
    assert seen == [["export_report.json", "model.tflite"]]
    assert _tree(out) == ["export_report.json", "hat/1/saved_model.pb"]
    assert sorted(os.listdir(tmp_path)) == ["out"] and tempfile.gettempdir() != st.work


def test_empty_folder_is_not_an_existing_output(tmp_path):
    (tmp_path / "out").mkdir()
    with staging.Staging(tmp_path / "out") as st:
        _write(st.path, ["a"])
        st.commit()
    assert _tree(tmp_path / "out") == ["a"]


def test_failure_leaves_old_output_and_nothing_else(tmp_path):
    out = tmp_path / "out"
    _write(out, ["old"])
    with pytest.raises(RuntimeError):
        with staging.Staging(out, overwrite=True) as st:
            _write(st.path, ["new"])
            raise RuntimeError("converter failed")
    assert _tree(out) == ["old"] and sorted(os.listdir(tmp_path)) == ["out"]


def test_two_rename_fallback(tmp_path, monkeypatch):
    """Where RENAME_EXCHANGE is unsupported: OUT -> previous, new -> OUT."""
    def unsupported(a, b):
        raise OSError(errno.EINVAL, "not supported")

    monkeypatch.setattr(staging, "_exchange", unsupported)
    out = tmp_path / "out"
    _write(out, ["old"])
    with staging.Staging(out, overwrite=True) as st:
        _write(st.path, ["new"])
        st.commit()
    assert _tree(out) == ["new"] and sorted(os.listdir(tmp_path)) == ["out"]


def test_stale_partials_removed_and_a_half_swapped_output_put_back(tmp_path):
    out = tmp_path / "out"
    dead, alive = _dead_pid(), os.getpid()
    _write(tmp_path / f".out.partial-{dead}-0a1b", ["model.tflite"])          # killed mid-write
    _write(tmp_path / ".out.partial-x8k2q1zz", ["model.tflite"])               # an earlier version's
    _write(tmp_path / f".out.partial-{alive}-ffff", ["busy"])                  # a running export
    _write(tmp_path / f".other.partial-{dead}-0a1b", ["x"])                    # another output's
    # killed between the two renames of the fallback: OUT is gone, the old export is `previous/`
    _write(tmp_path / f".out.partial-{dead}-cafe" / "previous", ["old_report.json"])
    removed = staging.remove_stale(str(out))
    assert len(removed) == 3
    assert _tree(out) == ["old_report.json"]
    assert sorted(os.listdir(tmp_path)) == [f".other.partial-{dead}-0a1b", f".out.partial-{alive}-ffff", "out"]
