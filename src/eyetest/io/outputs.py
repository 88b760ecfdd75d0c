"""Checks on output paths, made before any work is done.

A command that computes for minutes and then finds that it cannot write its
result has wasted the minutes; :func:`check_writable` says up front, naming
the path, when a file cannot be created where it is asked for.
"""

from __future__ import annotations

import os
from pathlib import Path

from eyetest.errors import DatasetError


def check_writable(path, what: str = "output file") -> Path:
    """Check that file ``path`` can be created or replaced; return it as a :class:`~pathlib.Path`.

    ``path`` must not be a folder, and its nearest existing ancestor must be
    a folder this process may write into (missing folders below it are
    created by the atomic writers).  A failure is a
    :class:`~eyetest.errors.DatasetError` naming the path and the reason.
    """
    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"{what} {str(path)!r} is a folder")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        if folder.is_symlink():   # a dangling link: mkdir would fail on it
            raise DatasetError(f"cannot write {what} {str(path)!r}: {str(folder)!r} is a broken link")
        folder = folder.parent
    if not folder.is_dir():
        raise DatasetError(f"cannot write {what} {str(path)!r}: {str(folder)!r} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DatasetError(f"cannot write {what} {str(path)!r}: folder {str(folder)!r} is not writable")
    return path


def check_writable_folder(folder, what: str = "output folder") -> Path:
    """Check that ``folder`` exists as a folder or can be created (see :func:`check_writable`)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DatasetError(f"{what} {str(folder)!r} is a file, not a folder")
    if folder.is_dir():
        if not os.access(folder, os.W_OK | os.X_OK):
            raise DatasetError(f"{what} {str(folder)!r} is not writable")
        return folder
    check_writable(folder, what)
    return folder
