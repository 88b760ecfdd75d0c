"""Exceptions raised by eyetest.

Every error names the offending file, field or value.  All derive from
:class:`EyetestError` so callers (and the CLI) can catch them in one place;
those that signal a bad argument also derive from :class:`ValueError`.
"""

from __future__ import annotations


class EyetestError(Exception):
    """Base class of every error eyetest raises on purpose."""


class ImageReadError(EyetestError):
    """An image file could not be read; ``path`` names it."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path!r}: {reason}")


class DatasetError(EyetestError):
    """A dataset folder or one of its CSV files is malformed."""


class MetricInputError(EyetestError, ValueError):
    """Arrays given to a metric do not fit it (shape, dtype, range, size)."""


class ManipulationError(EyetestError, ValueError):
    """An image manipulation got a bad image, strength or parameter (named in the message)."""


class UnknownNameError(EyetestError, KeyError):
    """A metric, preset, manipulation, model or design name is not known."""

    def __init__(self, what: str, name: str, known):
        self.what = what
        self.name = name
        self.known = sorted(known)
        super().__init__(f"unknown {what} {name!r}; known: {', '.join(self.known)}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]


class ResourceMissingError(EyetestError):
    """A parameter or weight file is missing or does not match its SHA256."""


class SpecError(EyetestError, ValueError):
    """A study spec (or other config) has a bad key or value; ``key`` names it."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


class JudgmentDataError(EyetestError, ValueError):
    """A judgment or rating table is malformed; ``field`` and ``value`` name the culprit."""

    def __init__(self, field: str, value, message: str):
        self.field = field
        self.value = value
        super().__init__(f"{field} {value!r}: {message}")


class ComparisonGraphWarning(UserWarning):
    """The comparison graph is disconnected or the maximum-likelihood scale is not finite."""


class TableError(DatasetError, ValueError):
    """A cell, column or row of a CSV table is malformed.

    ``path`` (the file, when known), ``row`` (a row label such as the paper
    name or line number), ``column`` and ``value`` name the offending cell.
    """

    def __init__(self, message: str, *, path=None, row=None, column=None, value=None):
        self.path = None if path is None else str(path)
        self.row = row
        self.column = column
        self.value = value
        self.detail = message
        where = []
        if self.path is not None:
            where.append(self.path)
        if row is not None:
            where.append(f"row {row!r}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)

    def with_path(self, path) -> "TableError":
        """The same error, naming the file it came from."""
        return TableError(self.detail, path=path, row=self.row, column=self.column, value=self.value)
