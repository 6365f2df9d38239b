"""Outputs that appear whole or not at all: build beside the destination, then put in place in one rename.

`Staging(OUT)` creates `.OUT.partial-<pid>-<random>/` next to OUT, with `out/` (what becomes OUT) and
`work/` (scratch). While it is active, every temporary file of the process (Python's `tempfile`, and child
processes through TMPDIR) goes to `work/`, so nothing is left in the system temp directory. `commit()`
swaps `out/` and OUT in one `renameat2(RENAME_EXCHANGE)` (Linux), so the old OUT stays whole until the new
one is in place; elsewhere it falls back to two renames. The partial folder is removed on success or
failure, and partial folders of processes that died (SIGKILL, power loss) are removed by the next run
that writes the same OUT.
"""
import ctypes
import errno
import os
import re
import secrets
import shutil
import tempfile

PARTIAL = ".partial-"
TMP_VARS = ("TMPDIR", "TEMP", "TMP")
# Python source a child process (`python -c`) runs first: it exits as soon as its parent is gone, so a killed
# command leaves no process behind (and the next run cleans the partial folders).
EXIT_WITH_PARENT = r"""
import os as _os, threading as _threading, time as _time
_parent = _os.getppid()


def _exit_with_parent():
    while True:
        _time.sleep(0.2)
        if _os.getppid() != _parent:
            _os._exit(3)


_threading.Thread(target=_exit_with_parent, daemon=True).start()
"""


class OutputExists(FileExistsError):
    """OUT exists and replacing it was not asked for."""


def partial_prefix(out):
    return f".{os.path.basename(out)}{PARTIAL}"


def is_partial(name):
    """Whether a folder name is a partial folder (`.OUT.partial-<pid>-<hex>`): an output not (yet) complete."""
    return name.startswith(".") and PARTIAL in name


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale(out):
    """Delete the partial folders of OUT whose process is gone (and those of earlier versions, which carry no
    pid). A kill between the two renames of the non-atomic fallback left the old OUT as `previous/`: it is
    put back first."""
    parent = os.path.dirname(out)
    prefix = partial_prefix(out)
    removed = []
    for name in os.listdir(parent):
        if not name.startswith(prefix):
            continue
        m = re.fullmatch(r"(\d+)-[0-9a-f]+", name[len(prefix):])
        if m and _alive(int(m.group(1))):
            continue
        path = os.path.join(parent, name)
        previous = os.path.join(path, "previous")
        if os.path.isdir(previous) and not os.path.lexists(out):
            os.rename(previous, out)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def check_destination(out, overwrite=False):
    """Refuse an existing OUT (an empty folder is fine) unless `overwrite`."""
    if not os.path.lexists(out) or overwrite:
        return
    if os.path.isdir(out) and not os.path.islink(out) and not os.listdir(out):
        return
    raise OutputExists(f"{out}: exists; pass --overwrite (overwrite=True) to replace it (the old one is kept until "
                       "the new one is complete)")


def _exchange(a, b):
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); OSError where unsupported."""
    libc = ctypes.CDLL(None, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), b)


class Staging:
    """`with Staging(out, overwrite) as st: ...write into st.path...; st.commit()`."""

    def __init__(self, out, overwrite=False):
        self.out = os.path.abspath(os.fspath(out))
        self.overwrite = overwrite
        check_destination(self.out, overwrite)
        parent = os.path.dirname(self.out)
        os.makedirs(parent, exist_ok=True)
        self.removed_stale = remove_stale(self.out)
        self.root = os.path.join(parent, f"{partial_prefix(self.out)}{os.getpid()}-{secrets.token_hex(4)}")
        os.mkdir(self.root)
        self.path = os.path.join(self.root, "out")
        self.work = os.path.join(self.root, "work")
        os.mkdir(self.path)
        os.mkdir(self.work)
        self.committed = False
        self._saved = None

    def __enter__(self):
        self._saved = (tempfile.tempdir, {k: os.environ.get(k) for k in TMP_VARS})
        tempfile.tempdir = self.work
        os.environ.update({k: self.work for k in TMP_VARS})
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        if self._saved is not None:
            tempfile.tempdir, env = self._saved
            for k, v in env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            self._saved = None
        shutil.rmtree(self.root, ignore_errors=True)

    def commit(self):
        """Put `path` in place of OUT (the old OUT, if any, ends in the partial folder and is deleted)."""
        check_destination(self.out, self.overwrite)  # again: another process may have written OUT meanwhile
        if not os.path.lexists(self.out):
            os.rename(self.path, self.out)
        else:
            try:
                _exchange(self.path, self.out)
            except OSError as e:
                if e.errno not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                previous = os.path.join(self.root, "previous")
                os.rename(self.out, previous)
                try:
                    os.rename(self.path, self.out)
                except OSError:
                    os.rename(previous, self.out)
                    raise
        self.committed = True
        return self.out
