"""Output helpers shared by the commands that write files.

:func:`write_errors` turns an ``OSError`` raised while writing results (disk
full, permission denied, a folder where a file should go) into one clear
``error:`` line naming the path, instead of a traceback.
"""

from __future__ import annotations

from contextlib import contextmanager

from eyetest.errors import EyetestError


class OutputError(EyetestError):
    """A result file could not be written (the path and the system's reason are named)."""


@contextmanager
def write_errors():
    """Re-raise an ``OSError`` of the block as :class:`OutputError` (printed as one line by the CLI)."""
    try:
        yield
    except OSError as exc:
        where = exc.filename if exc.filename is not None else "an output file"
        raise OutputError(f"cannot write {str(where)!r}: {exc.strerror or exc}") from exc
