"""Output helpers shared by the commands that write files.

:func:`write_errors` turns an ``OSError`` raised while writing results (disk
full, permission denied, a folder where a file should go) into one clear
``error:`` line naming the path, instead of a traceback.  The atomic writers
(:func:`eyetest.io.tables.atomic_write_bytes`) write to a temporary
``.NAME.<random>.tmp`` beside the target first (``<random>``: 8 characters
from mkstemp); the message names the target ``NAME``, the file the user
asked for, not that temporary name.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from eyetest.errors import EyetestError


class OutputError(EyetestError):
    """A result file could not be written (the path and the system's reason are named)."""


def target_of(filename) -> str:
    """The file a write was meant for: ``DIR/.NAME.<random>.tmp`` (an atomic writer's temporary) -> ``DIR/NAME``."""
    text = os.fsdecode(filename)
    folder, base = os.path.split(text)
    if base.startswith(".") and base.endswith(".tmp"):
        name, dot, _random = base[1:-len(".tmp")].rpartition(".")
        if dot and name:
            return os.path.join(folder, name)
    return text


@contextmanager
def write_errors(target=None):
    """Re-raise an ``OSError`` of the block as :class:`OutputError` (printed as one line by the CLI).

    ``target``: the file the block writes; when the system names another path
    (a parent folder that could not be made), both are named.
    """
    try:
        yield
    except OSError as exc:
        where = target_of(exc.filename) if exc.filename is not None else None
        reason = exc.strerror or str(exc)
        if target is None:
            message = f"cannot write {where or 'an output file'!r}: {reason}"
        elif where is None or where == os.fsdecode(target):
            message = f"cannot write {os.fsdecode(target)!r}: {reason}"
        else:
            message = f"cannot write {os.fsdecode(target)!r}: {reason} ({where!r})"
        raise OutputError(message) from exc


def check_table_output(path, what: str, *, param_hint: str = "--out"):
    """Check a result table's path before any work: a table extension eyetest writes (else a usage
    error on ``param_hint`` listing them) in a place that can be written (:func:`check_writable`)."""
    import click

    from eyetest.errors import UnknownNameError
    from eyetest.io.outputs import check_writable
    from eyetest.io.tables import table_format

    try:
        table_format(path)
    except UnknownNameError as exc:
        raise click.BadParameter(str(exc), param_hint=param_hint) from None
    return check_writable(path, what)
