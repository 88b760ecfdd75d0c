"""Read the literature tables of the metric-adoption analysis and write its result.

``PAPERS.csv``: a header ``paper,year,<metric>,<metric>,...`` and one row per
paper.  Metric cells (case and surrounding spaces ignored):

=======  ===========================================================
yes      ``yes``, ``y``, ``true``, ``1``, ``✓``, ``✔``, ``✅``
no       ``no``, ``n``, ``false``, ``0``, ``✗``, ``✘``, ``❌``, ``×``
n-a      ``n-a``, ``n/a``, ``na``, ``/``, ``-``, ``–``, ``—``
blank    empty: derived from ``METRICS.csv`` (see :mod:`eyetest.core.alignment.adoption`)
=======  ===========================================================

``METRICS.csv``: ``metric,year``, the year each metric was proposed.

Every problem raises :class:`eyetest.errors.TableError` naming the file, the
row (paper or line) and the column.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from eyetest.core.alignment.adoption import adoption_table
from eyetest.errors import TableError

_TOKENS = {
    "yes": ("yes", "y", "true", "1", "✓", "✔", "✅"),
    "no": ("no", "n", "false", "0", "✗", "✘", "❌", "×"),
    "n-a": ("n-a", "n/a", "na", "/", "-", "–", "—"),
}
CELL_STATES = {token: state for state, tokens in _TOKENS.items() for token in tokens}

YEAR_RANGE = (1900, 2100)


def parse_cell(text: str) -> str | None:
    """``"yes"``, ``"no"``, ``"n-a"`` or ``None`` (blank); ``KeyError`` if unknown."""
    token = text.strip().lower()
    if token == "":
        return None
    return CELL_STATES[token]


def _read_rows(path: Path) -> list[list[str]]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TableError("file not found", path=path) from None
    except UnicodeDecodeError as exc:
        raise TableError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path) from None
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if not rows:
        raise TableError("empty file (expected a header row)", path=path)
    return rows


def _year(text: str, *, path, row, column) -> int:
    try:
        year = int(text.strip())
    except ValueError:
        raise TableError(f"year must be a whole number, got {text!r}", path=path, row=row, column=column,
                         value=text) from None
    if not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
        raise TableError(f"year {year} outside {YEAR_RANGE[0]}-{YEAR_RANGE[1]}", path=path, row=row,
                         column=column, value=text)
    return year


def read_papers(path) -> tuple[pd.DataFrame, list[str]]:
    """Read ``PAPERS.csv`` into ``paper, year, <metric>...`` with cell states.

    Returns the table (metric cells ``"yes"``/``"no"``/``"n-a"``/``None``) and
    the metric names in file order.
    """
    rows = _read_rows(path)
    header = [h.strip() for h in rows[0]]
    lower = [h.lower() for h in header]
    if lower[:2] != ["paper", "year"]:
        raise TableError(f"header must start with 'paper,year', got {','.join(header[:2])!r}", path=path, row=1)
    metrics = header[2:]
    if not metrics:
        raise TableError("no metric columns after 'paper,year'", path=path, row=1)
    for i, name in enumerate(metrics):
        if not name:
            raise TableError(f"metric column {i + 3} has an empty name", path=path, row=1)
        if name in metrics[:i]:
            raise TableError("metric column appears twice", path=path, row=1, column=name)
    records, seen = [], set()
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise TableError(f"has {len(row)} cells, the header has {len(header)}", path=path, row=line)
        paper = row[0].strip()
        if not paper:
            raise TableError("paper name is empty", path=path, row=line, column="paper")
        if paper in seen:
            raise TableError("paper appears twice", path=path, row=paper, column="paper")
        seen.add(paper)
        record = {"paper": paper, "year": _year(row[1], path=path, row=paper, column="year")}
        for name, cell in zip(metrics, row[2:]):
            try:
                record[name] = parse_cell(cell)
            except KeyError:
                raise TableError(
                    f"cell {cell!r} is not one of yes/no/n-a (also y, n, ✓, ✗, '/') or blank",
                    path=path, row=paper, column=name, value=cell,
                ) from None
        records.append(record)
    if not records:
        raise TableError("no paper rows after the header", path=path)
    frame = pd.DataFrame(records, columns=["paper", "year", *metrics])
    for name in metrics:
        frame[name] = frame[name].astype(object)
    return frame, metrics


def read_metric_years(path) -> dict[str, int]:
    """Read ``METRICS.csv`` (``metric,year``) into ``{metric: year}``."""
    rows = _read_rows(path)
    header = [h.strip().lower() for h in rows[0]]
    if header[:2] != ["metric", "year"]:
        raise TableError(f"header must be 'metric,year', got {','.join(rows[0])!r}", path=path, row=1)
    years: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) < 2:
            raise TableError("needs a metric and a year", path=path, row=line)
        name = row[0].strip()
        if not name:
            raise TableError("metric name is empty", path=path, row=line, column="metric")
        if name in years:
            raise TableError("metric appears twice", path=path, row=line, column="metric", value=name)
        years[name] = _year(row[1], path=path, row=line, column="year")
    return years


def compute_adoption(papers_path, metric_years_path=None) -> pd.DataFrame:
    """Read both files and compute the adoption table (errors name the file)."""
    papers, metrics = read_papers(papers_path)
    years = read_metric_years(metric_years_path) if metric_years_path is not None else None
    try:
        return adoption_table(papers, metrics=metrics, metric_years=years)
    except TableError as exc:
        raise exc.with_path(papers_path) from None
