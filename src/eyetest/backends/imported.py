"""Scores computed elsewhere: read them and merge them into a result table.

A file of imported scores is CSV or Parquet (chosen by extension: ``.csv``,
``.parquet``/``.pq``) in the tidy layout of the result table, one row per
(image, method, metric)::

    image,method,metric,value
    0801,supir,musiq,68.2
    0801,hat,musiq,61.9

``image`` is the file stem (as in ``eyetest score`` tables), ``method`` the
method folder name, ``metric`` any name (it need not be registered), and
``value`` a number (``inf``/``nan`` allowed).  Extra columns (``scenario``,
``family``, ...) are kept.  After :func:`merge_imported` the rows are
indistinguishable from native ones for alignment, audit summaries and
reports, except for a ``source`` column naming the file they came from.

``eyetest score --import FILE`` calls :func:`merge_imported` on the table it
has just computed (the option lives in :mod:`eyetest.cli.commands.score`),
after :func:`match_dataset` has mapped file names (``0801.png``, as pyiqa
writes them) to stems and turned every row whose (image, method) is not in
the dataset into a problem.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from eyetest.errors import DatasetError
from eyetest.io.dataset import Problem
from eyetest.io.images import IMAGE_EXTENSIONS

REQUIRED = ("image", "method", "metric", "value")
KEYS = ("image", "method", "metric")
CONFLICT_MODES = ("error", "imported", "native")


class ImportedScoresError(DatasetError):
    """A file of imported scores is malformed; the message names file, row and value."""


def _read_raw(path: Path) -> pd.DataFrame:
    ext = path.suffix.lower()
    if not path.is_file():
        raise ImportedScoresError(f"imported scores file {str(path)!r} does not exist")
    try:
        if ext == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        if ext in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ImportedScoresError(f"cannot read imported scores {str(path)!r}: {exc}") from exc
    except Exception as exc:  # pyarrow raises its own error types for a bad file
        raise ImportedScoresError(f"cannot read imported scores {str(path)!r}: {exc}") from exc
    raise ImportedScoresError(
        f"imported scores {str(path)!r}: unknown extension {ext!r}; use .csv or .parquet")


def _row_place(path: Path, pos: int) -> str:
    # CSV: header is line 1, so data row i (0-based) is line i + 2
    if path.suffix.lower() == ".csv":
        return f"line {pos + 2}"
    return f"row {pos + 1}"


def _row_label(path: Path, pos: int) -> str:
    return f"{path.name} {_row_place(path, pos)}"


def read_scores(path, *, keys=KEYS) -> pd.DataFrame:
    """Read and validate a file of imported scores.

    ``keys`` are the required key columns (default ``image, method, metric``;
    the audit import passes ``("image", "metric")``); ``value`` is always
    required and the keys must be unique together.

    Returns
    -------
    DataFrame with ``image, method, metric`` as str, ``value`` as float64,
    any extra columns as read, in file order.

    Raises
    ------
    ImportedScoresError
        Unknown extension, unreadable file, a missing required column (named,
        with the columns found), an empty key cell, a value that is not a
        number (file, line/row and the value), or a repeated
        (image, method, metric).
    """
    p = Path(path)
    df = _read_raw(p)
    df.columns = [str(c).strip() for c in df.columns]
    keys = tuple(keys)
    required = keys + ("value",)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ImportedScoresError(
            f"imported scores {p.name!r} lacks column(s) {', '.join(missing)}; "
            f"found: {', '.join(df.columns) or '(none)'}; required: {', '.join(required)}")
    df = df.reset_index(drop=True)
    for col in keys:
        s = df[col]
        empty = s.isna() | (s.astype(str).str.strip() == "")
        if empty.any():
            i = int(np.flatnonzero(empty.to_numpy())[0])
            raise ImportedScoresError(f"{_row_label(p, i)}: empty {col!r}")
        df[col] = s.astype(str).str.strip()
    raw = df["value"]
    if pd.api.types.is_bool_dtype(raw):
        raise ImportedScoresError(f"{p.name}: column 'value' holds booleans, not numbers")
    if pd.api.types.is_numeric_dtype(raw):
        values = raw.astype(np.float64)
    else:
        text = raw.astype(str).str.strip()
        values = pd.to_numeric(text, errors="coerce").astype(np.float64)
        bad = values.isna() & (text.str.lower() != "nan")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ImportedScoresError(
                f"{_row_label(p, i)}: value {raw.iloc[i]!r} of metric {df['metric'].iloc[i]!r} "
                f"is not a number ({int(bad.sum())} such row(s))")
    df["value"] = values
    dup = df.duplicated(list(keys), keep=False)
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        key = tuple(df.loc[i, list(keys)])
        raise ImportedScoresError(
            f"{_row_label(p, i)}: ({', '.join(keys)}) = {key} appears more than once")
    return df


def _stem(image: str) -> str:
    p = Path(image)
    return p.stem if p.suffix.lower() in IMAGE_EXTENSIONS else image


def match_dataset(scores: pd.DataFrame, path, pairs) -> tuple[pd.DataFrame, list[Problem]]:
    """Keep the rows of ``scores`` whose (image, method) is in ``pairs``.

    ``image`` may be a file name with an image extension; it is read as its
    stem, as in ``scenarios.csv``.  Names are otherwise compared exactly
    (case included).

    Parameters
    ----------
    scores : rows from :func:`read_scores` of ``path``.
    path : the file they came from (named in problems).
    pairs : the (image, method) pairs of the dataset (with ``("*", method)``
        for a method's distribution-metric rows).

    Returns
    -------
    (kept rows with ``image`` as stems, problems): one
    :class:`~eyetest.io.dataset.Problem` per unknown (image, method), naming
    the file, the first line or row and the values.

    Raises
    ------
    ImportedScoresError
        A file name and its stem give one (image, method, metric) twice.
    """
    p = Path(path)
    df = scores.copy()
    raw = df["image"].astype(str)
    df["image"] = raw.map(_stem)
    dup = df.duplicated(list(KEYS), keep=False)
    if dup.any():
        first, second = (int(i) for i in np.flatnonzero(dup.to_numpy())[:2])
        key = tuple(df.loc[second, list(KEYS)])
        raise ImportedScoresError(
            f"{_row_label(p, second)}: image {raw.iloc[second]!r} read as a stem gives "
            f"(image, method, metric) = {key}, already given by {_row_label(p, first)} "
            f"(image {raw.iloc[first]!r})")
    pairs = set(pairs)
    methods = {m for _, m in pairs}
    known = np.array([(i, m) in pairs for i, m in zip(df["image"], df["method"])], dtype=bool)
    problems = []
    for (image, method), grp in df[~known].groupby(["image", "method"], sort=False):
        pos = int(grp.index[0])
        more = f" (and {len(grp) - 1} more row(s))" if len(grp) > 1 else ""
        if method not in methods:
            why = f"method {method!r} is not a method of the dataset"
        else:
            why = f"image {raw.iloc[pos]!r} of method {method!r} is not in the dataset"
        problems.append(Problem(str(p), f"{_row_place(p, pos)}{more}: {why}; imported "
                                "score(s) skipped", image, method))
    return df[known].reset_index(drop=True), problems


def _fill_from_native(imported: pd.DataFrame, native: pd.DataFrame, column: str, key: str) -> None:
    """Fill ``column`` of imported rows from the native table when ``key`` maps to one value."""
    if column not in native.columns:
        return
    known = native[[key, column]].dropna().drop_duplicates()
    unique = known.groupby(key)[column].nunique()
    mapping = known[known[key].isin(unique[unique == 1].index)].set_index(key)[column]
    filled = imported[key].map(mapping)
    if column in imported.columns:
        imported[column] = imported[column].where(imported[column].notna() & (imported[column] != ""), filled)
    else:
        imported[column] = filled


def merge_imported(table: pd.DataFrame, path, *, on_conflict: str = "error",
                   scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """Merge the scores in ``path`` into a result table.

    Parameters
    ----------
    table : tidy result table (``image, method, metric, value`` and optional
        ``scenario``/``family``); may be empty.
    path : CSV or Parquet file of imported scores (see :func:`read_scores`).
    on_conflict : what to do when an (image, method, metric) is in both:
        ``"error"`` (default; names the first clash), ``"imported"`` (the
        imported value wins) or ``"native"`` (the computed value wins).
    scores : the rows of ``path`` already read (e.g. by :func:`match_dataset`);
        default: :func:`read_scores` of ``path``.

    Returns
    -------
    A new DataFrame: native rows, then imported rows, with a ``source``
    column (``"eyetest"`` for native rows unless already set, the file name
    for imported ones).  ``scenario`` / ``family`` of imported rows are filled
    from the native table where the image / method has exactly one.
    """
    if on_conflict not in CONFLICT_MODES:
        raise ValueError(f"on_conflict must be one of {CONFLICT_MODES}, got {on_conflict!r}")
    p = Path(path)
    imported = read_scores(p) if scores is None else scores.copy()
    native = table.copy()
    missing = [c for c in REQUIRED if c not in native.columns]
    if missing and len(native):
        raise ImportedScoresError(f"result table lacks column(s) {', '.join(missing)}")
    for c in REQUIRED:
        if c not in native.columns:
            native[c] = pd.Series(dtype=np.float64 if c == "value" else object)
    if "source" not in native.columns:
        native["source"] = "eyetest"
    imported["source"] = p.name
    if len(native):
        for col, key in (("scenario", "image"), ("family", "method")):
            _fill_from_native(imported, native, col, key)
        nkeys = native[list(KEYS)].astype(str)
        ikeys = pd.MultiIndex.from_frame(imported[list(KEYS)])
        clash = pd.MultiIndex.from_frame(nkeys).isin(ikeys)
        if clash.any():
            if on_conflict == "error":
                first = tuple(nkeys[clash].iloc[0])
                raise ImportedScoresError(
                    f"{p.name}: (image, method, metric) = {first} is also computed by eyetest "
                    f"({int(clash.sum())} clash(es)); choose which wins with on_conflict="
                    "'imported' or 'native'")
            if on_conflict == "imported":
                native = native[~clash]
            else:
                keep = ~pd.MultiIndex.from_frame(imported[list(KEYS)]).isin(
                    pd.MultiIndex.from_frame(nkeys))
                imported = imported[keep]
    parts = [df for df in (native, imported) if len(df)]
    if not parts:
        return native.reset_index(drop=True)
    out = pd.concat(parts, ignore_index=True, sort=False)
    out["value"] = out["value"].astype(np.float64)
    return out
