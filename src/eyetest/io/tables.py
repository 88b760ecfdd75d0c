"""Result tables as CSV, Parquet or JSON, chosen by file extension; atomic writes.

``.csv``       UTF-8, header row, floats written with full precision
               (``repr``-exact round trip); ``inf``/``nan`` as ``inf``/``nan``.
``.parquet``   Apache Parquet via pyarrow.
``.json``      ``{"columns": [...], "records": [{...}, ...]}``; non-finite
               floats (JSON has none) are written as the strings ``"inf"``,
               ``"-inf"`` and ``"nan"`` and turned back into floats on reading.

Every write goes to a temporary file in the target folder first and is moved
into place with :func:`os.replace`, so readers never see a half-written file.
The file gets the mode a plain ``open(path, "w")`` would give it: the mode of
the file it replaces, else ``0o666`` less the process umask.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from pathlib import Path

import pandas as pd

from eyetest.errors import EyetestError, UnknownNameError

TABLE_FORMATS = {".csv": "csv", ".parquet": "parquet", ".json": "json"}
_NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def table_format(path) -> str:
    """``"csv"``, ``"parquet"`` or ``"json"`` from the file extension."""
    ext = Path(path).suffix.lower()
    if ext not in TABLE_FORMATS:
        raise UnknownNameError("table file extension", ext or str(path), TABLE_FORMATS)
    return TABLE_FORMATS[ext]


def _umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)  # briefly stricter, never looser, for other threads
    os.umask(mask)
    return mask


def _target_mode(path: Path) -> int:
    """Mode of the existing file at ``path``, else ``0o666`` less the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def atomic_write_bytes(path, data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + ``os.replace``).

    Missing parent folders are created.  The file keeps the mode of the file
    it replaces; a new file gets ``0o666`` less the umask, like ``open``
    (:func:`tempfile.mkstemp` alone would leave it ``0o600``).
    ``fsync=False`` skips flushing to disk (still atomic for readers, but a
    power cut may lose the file): for caches that can be recomputed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _target_mode(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path, text: str) -> None:
    """Write UTF-8 text atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if hasattr(v, "item"):  # numpy scalar
        return _json_value(v.item())
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return v
    return v


def _table_to_json(df: pd.DataFrame) -> str:
    records = []
    cols = [str(c) for c in df.columns]
    for row in df.itertuples(index=False, name=None):
        records.append({c: (None if v is pd.NA else _json_value(v)) for c, v in zip(cols, row)})
    return json.dumps({"columns": cols, "records": records}, ensure_ascii=False, indent=1)


def write_table(df: pd.DataFrame, path) -> Path:
    """Write ``df`` to ``path`` in the format its extension names, atomically."""
    path = Path(path)
    fmt = table_format(path)
    if fmt == "csv":
        data = df.to_csv(index=False, float_format="%.17g").encode("utf-8")
    elif fmt == "json":
        data = _table_to_json(df).encode("utf-8")
    else:
        import io

        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        data = buf.getvalue()
    atomic_write_bytes(path, data)
    return path


def _json_column(values: list):
    """Turn a column back into floats when it holds only numbers / non-finite markers."""
    numeric = all(
        v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) or v in _NONFINITE
        for v in values
    )
    if numeric and any(isinstance(v, float) or v in _NONFINITE for v in values if v is not None):
        return [math.nan if v is None else _NONFINITE.get(v, v) if isinstance(v, str) else float(v)
                for v in values]
    return values


def read_table(path) -> pd.DataFrame:
    """Read a table written by :func:`write_table` (or any CSV/Parquet/JSON of that shape)."""
    path = Path(path)
    fmt = table_format(path)
    if not path.is_file():
        raise EyetestError(f"table {str(path)!r} does not exist")
    try:
        if fmt == "csv":
            return pd.read_csv(path, keep_default_na=False, na_values=["", "nan", "NaN"])
        if fmt == "parquet":
            return pd.read_parquet(path)
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise EyetestError(f"cannot read table {str(path)!r}: {exc}") from exc
    if not isinstance(doc, dict) or "records" not in doc or "columns" not in doc:
        raise EyetestError(f"table {str(path)!r}: expected an object with 'columns' and 'records'")
    cols = list(doc["columns"])
    data = {c: _json_column([r.get(c) for r in doc["records"]]) for c in cols}
    return pd.DataFrame(data, columns=cols)
