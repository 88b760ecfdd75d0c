"""Import and export of judgment tables in eyetest's and foreign formats.

Formats read by :func:`read_judgments` (``format=``):

``generic``
    eyetest's own pairwise table (CSV, JSONL or Parquet by extension):
    ``rater,condition_a,condition_b,outcome`` (outcome ``a|b|tie``) plus any
    optional column (``trial,image,method_a,method_b,scenario,dimension,
    elapsed_ms,timestamp,both_bad,is_gold,is_repeat,is_training,gold_outcome``).
    If ``condition_a/b`` are missing but ``image,method_a,method_b`` exist,
    the ids are built with :func:`eyetest.core.judgments.model.condition_id`.
``pwcmp``
    the trial tables of pwcmp (Perez-Ortiz & Mantiuk 2017).  Two layouts are
    recognised by their header:

    * ``observer,session_id,scene,condition_A,condition_B,is_A_selected[,criterion]``
      (:data:`PWCMP_TMO_MAPPING`);
    * ``trial,observer,session,scene,dist_type1,dist_level1,dist_type2,dist_level2,selected``
      with ``selected`` 1 (first) or 2 (second) (:data:`PWCMP_LIGHTFIELD_MAPPING`):
      the method is ``<dist_type>_<dist_level>`` (e.g. ``HEVC_17``; the
      undistorted reference is ``Reference_0``).

    In both, ``scene`` becomes ``image`` and the condition id is
    ``condition_id(scene, method)``, so ``--by image`` scales per scene.
``arena``
    Chatbot-Arena battle records: ``model_a,model_b,winner`` with winner in
    ``model_a|model_b|tie|tie (bothbad)`` (``both_bad`` is set for the last);
    ``judge`` (if present) becomes ``rater``, ``tstamp`` becomes ``timestamp``.
``ratings``
    ``rater,condition,value,scale`` (or ``image,method`` instead of ``condition``).
``study``
    a study export (``eyetest study export``, CSV or JSON Lines), turned into
    the pairwise or rating table by :func:`eyetest.study.export.from_export`
    (rater = session; gold, attention, repeat and training trials flagged).

All other columns are kept, so any of them can be used to slice (``--by``).
Identifier columns (:data:`ID_COLUMNS`: raters, conditions, methods, images,
scenarios, ...) are read as text, never guessed as numbers, so ``007`` stays
``007`` and ``10`` and ``10.0`` stay two different ids; surrounding spaces are
removed, and only an empty cell counts as missing (``NA`` or ``None`` are
ids).  A CSV whose header has no comma but semicolons (or tabs) is read with
that separator.

:func:`write_table` writes CSV, JSONL or Parquet (by extension), atomically
(:func:`eyetest.io.tables.atomic_write_bytes`).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from eyetest.core.judgments.model import condition_id, validate_pairwise, validate_ratings
from eyetest.errors import JudgmentDataError, UnknownNameError
from eyetest.io.tables import atomic_write_bytes

FORMATS = ("generic", "pwcmp", "arena", "ratings", "study")
#: columns that mark a study export (``eyetest study export``)
STUDY_EXPORT_COLUMNS = ("client_id", "session", "kind", "condition_a", "is_repeat")
TABLE_EXTENSIONS = (".csv", ".jsonl", ".ndjson", ".parquet")

#: columns read as text (ids), in eyetest's and the foreign formats
ID_COLUMNS = (
    "rater", "condition_a", "condition_b", "condition", "method_a", "method_b", "method", "image",
    "scenario", "dimension", "session", "session_id", "observer", "scene", "criterion",
    "condition_A", "condition_B", "dist_type1", "dist_level1", "dist_type2", "dist_level2",
    "judge", "model_a", "model_b",
)
#: what pandas reads as missing by default (its documented list); used for non-id columns
_NA_TEXT = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
            "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")

#: pwcmp tone-mapping layout -> eyetest columns
PWCMP_TMO_MAPPING = {
    "rater": "observer", "session": "session_id", "image": "scene",
    "method_a": ("condition_A",), "method_b": ("condition_B",),
    "selected": ("is_A_selected", {1: "a", 0: "b"}), "dimension": "criterion",
}
#: pwcmp light-field layout -> eyetest columns (method = dist_type + "_" + dist_level)
PWCMP_LIGHTFIELD_MAPPING = {
    "rater": "observer", "session": "session", "image": "scene", "trial": "trial",
    "method_a": ("dist_type1", "dist_level1"), "method_b": ("dist_type2", "dist_level2"),
    "selected": ("selected", {1: "a", 2: "b"}),
}

#: names users know from a foreign format -> the eyetest column they became
FOREIGN_COLUMNS = {
    "pwcmp": {"scene": "image", "observer": "rater", "criterion": "dimension", "session_id": "session"},
    "arena": {"judge": "rater"},
}


def eyetest_column(name: str | None, *, format: str) -> str | None:
    """The eyetest column a foreign column name was read into (``scene`` -> ``image``)."""
    if name is None:
        return None
    return FOREIGN_COLUMNS.get(format, {}).get(name, name)


def _plain(value):
    """A numpy scalar as the plain Python value (for readable error messages)."""
    return value.item() if hasattr(value, "item") else value


def _as_text_ids(df: pd.DataFrame) -> pd.DataFrame:
    """Id columns as stripped text; an empty id is missing."""
    for col in ID_COLUMNS:
        if col in df.columns:
            text = df[col].map(lambda v: str(v).strip(), na_action="ignore")
            df[col] = text.mask(text.isna() | (text == ""))
    return df


def _read_csv(path: Path) -> pd.DataFrame:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        header = fh.readline()
    sep = ","
    if "," not in header:  # e.g. a spreadsheet exported with ';' (European locales) or tabs
        sep = ";" if ";" in header else ("\t" if "\t" in header else ",")
    columns = pd.read_csv(path, sep=sep, nrows=0).columns
    ids = [c for c in columns if c in ID_COLUMNS]
    na = {c: [""] if c in ids else list(_NA_TEXT) for c in columns}
    return pd.read_csv(path, sep=sep, dtype={c: str for c in ids}, keep_default_na=False, na_values=na)


def _read_jsonl(path: Path) -> pd.DataFrame:
    records = []
    with path.open(encoding="utf-8-sig") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise JudgmentDataError("file", str(path), f"line {line_no} is not JSON: {exc}") from None
            if not isinstance(record, dict):
                raise JudgmentDataError("file", str(path), f"line {line_no} is not a JSON object")
            for col in ID_COLUMNS:  # a JSON number id keeps its text (10 and 10.0 stay different)
                if col in record and record[col] is not None and not isinstance(record[col], str):
                    record[col] = json.dumps(record[col])
            records.append(record)
    return pd.DataFrame.from_records(records)


def _read_any(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise JudgmentDataError("file", str(path), "does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            raw = pd.read_parquet(path)
        elif suffix in (".jsonl", ".ndjson"):
            raw = _read_jsonl(path)
        else:
            raw = _read_csv(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        if isinstance(exc, JudgmentDataError):
            raise
        raise JudgmentDataError("file", str(path), f"cannot be parsed: {exc}") from None
    if raw.empty:
        raise JudgmentDataError("file", str(path), "the table has no judgments (no rows below the header)")
    return _as_text_ids(raw)


def detect_format(columns) -> str:
    """Guess the format from a header (see module docstring)."""
    cols = set(columns)
    if set(STUDY_EXPORT_COLUMNS) <= cols:
        return "study"
    if {"model_a", "model_b", "winner"} <= cols:
        return "arena"
    if {"is_A_selected", "condition_A", "condition_B"} <= cols or {"dist_type1", "dist_level1", "selected"} <= cols:
        return "pwcmp"
    if {"condition", "value"} <= cols or {"value", "scale"} <= cols:
        return "ratings"
    return "generic"


def apply_mapping(raw: pd.DataFrame, mapping: dict, *, source: str = "table") -> pd.DataFrame:
    """Turn a foreign pairwise table into the generic one using a column mapping.

    ``mapping`` maps eyetest columns to source columns; ``method_a/method_b``
    map to a tuple of columns joined with ``_``; ``selected`` maps to
    ``(column, {value: "a"|"b"|"tie"})``.  Unmapped source columns are kept.
    """
    need = []
    for key, val in mapping.items():
        need += [val] if isinstance(val, str) else ([val[0]] if key == "selected" else list(val))
    missing = [c for c in need if c not in raw.columns and c != mapping.get("dimension")]
    if missing:
        raise JudgmentDataError("columns", ",".join(missing), f"missing from {source}")
    out = pd.DataFrame(index=raw.index)
    for key, val in mapping.items():
        if key in ("method_a", "method_b"):
            joined = raw[val[0]].astype(str)
            for col in val[1:]:
                joined = joined + "_" + raw[col].astype(str)
            out[key] = joined
        elif key == "selected":
            col, codes = val
            out["outcome"] = raw[col].map(codes)
            bad = out["outcome"].isna()
            if bad.any():
                raise JudgmentDataError(col, _plain(raw[col][bad].iloc[0]),
                                        f"in {source} must be one of {sorted(codes)}")
        elif val in raw.columns:
            out[key] = raw[val]
    out["condition_a"] = condition_id(out["image"], out["method_a"])
    out["condition_b"] = condition_id(out["image"], out["method_b"])
    used = {v for v in need}
    for col in raw.columns:
        if col not in used and col not in out.columns:
            out[col] = raw[col]
    return out


def from_pwcmp(raw: pd.DataFrame, *, source: str = "table") -> pd.DataFrame:
    """pwcmp trial table (either layout) -> generic pairwise table."""
    mapping = PWCMP_LIGHTFIELD_MAPPING if "dist_type1" in raw.columns else PWCMP_TMO_MAPPING
    return validate_pairwise(apply_mapping(raw, mapping, source=source))


def from_arena(raw: pd.DataFrame, *, source: str = "table") -> pd.DataFrame:
    """Chatbot-Arena battles -> generic pairwise table."""
    missing = [c for c in ("model_a", "model_b", "winner") if c not in raw.columns]
    if missing:
        raise JudgmentDataError("columns", ",".join(missing), f"missing from {source}")
    codes = {"model_a": "a", "model_b": "b", "tie": "tie", "tie (bothbad)": "tie"}
    winner = raw["winner"].astype(str).str.strip()
    out = raw.drop(columns=["model_a", "model_b", "winner"]).copy()
    out["outcome"] = winner.map(codes)
    bad = out["outcome"].isna()
    if bad.any():
        raise JudgmentDataError("winner", winner[bad].iloc[0], f"in {source} must be one of {', '.join(codes)}")
    out["both_bad"] = winner == "tie (bothbad)"
    out["condition_a"] = raw["model_a"].astype(str)
    out["condition_b"] = raw["model_b"].astype(str)
    out["rater"] = raw["judge"].astype(str) if "judge" in raw.columns else "arena"
    if "tstamp" in raw.columns and "timestamp" not in raw.columns:
        out["timestamp"] = raw["tstamp"]
    return validate_pairwise(out)


def _generic(raw: pd.DataFrame) -> pd.DataFrame:
    out = raw.copy()
    if "condition_a" not in out.columns and {"image", "method_a", "method_b"} <= set(out.columns):
        out["condition_a"] = condition_id(out["image"], out["method_a"])
        out["condition_b"] = condition_id(out["image"], out["method_b"])
    return validate_pairwise(out)


def _ratings(raw: pd.DataFrame) -> pd.DataFrame:
    out = raw.copy()
    if "condition" not in out.columns and {"image", "method"} <= set(out.columns):
        out["condition"] = condition_id(out["image"], out["method"])
    return validate_ratings(out)


def read_judgments(path, *, format: str = "auto", return_format: bool = False):  # noqa: A002 - CLI word
    """Read a judgment or rating file into eyetest's validated table.

    Parameters
    ----------
    path : str or Path
    format : {"auto", "generic", "pwcmp", "arena", "ratings"}
        ``auto`` guesses from the header (:func:`detect_format`).
    return_format : bool
        Also return the format that was used (the guess, for ``auto``).

    Returns
    -------
    DataFrame, or ``(DataFrame, format)`` with ``return_format=True``.
    """
    path = Path(path)
    raw = _read_any(path)
    fmt = detect_format(raw.columns) if format == "auto" else format
    if fmt not in FORMATS:
        raise UnknownNameError("judgment format", fmt, FORMATS + ("auto",))
    try:
        if fmt == "pwcmp":
            table = from_pwcmp(raw, source=str(path))
        elif fmt == "arena":
            table = from_arena(raw, source=str(path))
        elif fmt == "ratings":
            table = _ratings(raw)
        elif fmt == "study":
            from eyetest.study.export import from_export

            table = from_export(raw, source=str(path))
        else:
            table = _generic(raw)
    except JudgmentDataError as exc:
        if str(path) in str(exc):
            raise
        raise JudgmentDataError(exc.field, exc.value, f"{exc.args[0].split(': ', 1)[-1]} (in {path})") from None
    return (table, fmt) if return_format else table


def check_table_path(path) -> Path:
    """``path`` as a Path if its extension is one :func:`write_table` writes, else :class:`UnknownNameError`."""
    path = Path(path)
    if path.suffix.lower() not in TABLE_EXTENSIONS:
        raise UnknownNameError("table extension", path.suffix.lower() or f"(none) of {path}", TABLE_EXTENSIONS)
    return path


def write_table(df: pd.DataFrame, path) -> Path:
    """Write ``df`` as CSV, JSONL or Parquet (by extension), atomically.

    The bytes are written by :func:`eyetest.io.tables.atomic_write_bytes`
    (temporary file + ``os.replace``; the file gets the usual permissions).
    """
    path = check_table_path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        data = df.to_csv(index=False).encode("utf-8")
    elif suffix == ".parquet":
        buffer = io.BytesIO()
        df.to_parquet(buffer, index=False)
        data = buffer.getvalue()
    else:
        data = df.to_json(orient="records", lines=True).encode("utf-8")
    atomic_write_bytes(path, data)
    return path
