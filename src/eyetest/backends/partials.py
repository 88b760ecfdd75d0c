"""Partial files of the weights cache: written under a lock, swept once their writer is gone.

A fetch or import writes ``.<filename>.<random>.part`` beside its
destination and renames it into place only once its SHA256 is right
(:mod:`eyetest.backends.weights`).  A writer killed outright (SIGKILL, power
loss) cannot delete its partial file, so:

* the writer holds an exclusive ``flock`` on the file from its creation
  until it is renamed into place or deleted (:class:`PartialFile`); the
  kernel drops the lock when the writer's process ends in any way;
* :func:`remove_stale` deletes a partial file only while holding that lock
  itself, after checking the name still refers to the locked file: the file
  of a writer still running, in this or any other process, is never touched.

On a file system that cannot lock (``flock`` fails with ENOLCK, EOPNOTSUPP,
...) liveness is unknown: files are written unlocked and never swept.
Without ``flock`` at all (Windows) a file another process has open cannot be
deleted, which is the same guard: the sweep just tries.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: see the module docstring
    fcntl = None

SUFFIX = ".part"


def claim(fd: int) -> bool | None:
    """Take the exclusive lock of a partial file without waiting.

    True once taken, False while another open file (another writer) holds
    it, None where the file system cannot lock (and on Windows).
    """
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:                      # ENOLCK, EOPNOTSUPP, ...: no locks here
        return None
    return True


def names(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not deleted or replaced since)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


class PartialFile:
    """The temporary file beside ``dest`` that a fetch or import writes.

    Created open and locked (an ``OSError`` when the directory is unusable);
    held until it is renamed into place (:meth:`place`) or deleted on
    leaving the ``with`` block.  Closing the writer from :meth:`open` keeps
    the lock (it is a duplicate descriptor).
    """

    def __init__(self, dest: Path):
        self.dest = dest
        for _ in range(8):
            fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=SUFFIX, dir=dest.parent)
            # unlockable file systems: written unlocked (and never swept)
            if claim(fd) is not False and names(fd, Path(name)):
                self.fd, self.path = fd, Path(name)
                return
            # a sweep took this file in the instant between its creation and the lock: make another
            os.close(fd)
        raise OSError(f"could not keep a temporary file in {dest.parent}")

    def open(self):
        return os.fdopen(os.dup(self.fd), "wb")

    def place(self) -> None:
        """Rename the file into place (``os.replace``, atomic)."""
        if fcntl is None:        # Windows: an open file cannot be renamed
            self._close()
        os.replace(self.path, self.dest)

    def _close(self) -> None:
        if self.fd != -1:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        try:
            if fcntl is None:    # Windows: an open file cannot be deleted
                self._close()
            self.path.unlink(missing_ok=True)     # gone already once placed
        finally:
            self._close()


def remove_stale(folder: Path) -> list[Path]:
    """Delete the partial files in ``folder`` whose writer is gone; the paths deleted."""
    try:
        candidates = sorted(p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(SUFFIX))
    except OSError:                      # no such directory (yet)
        return []
    removed = []
    for path in candidates:
        if fcntl is None:
            try:
                path.unlink()
                removed.append(path)
            except OSError:              # open in a running fetch, or already gone
                pass
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:                  # renamed into place or deleted meanwhile
            continue
        try:
            if claim(fd) is True and names(fd, path):
                path.unlink()
                removed.append(path)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed
