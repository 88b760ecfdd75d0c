"""Literature metric-adoption table.

Input: one row per paper with its publication ``year`` and, per metric, a
cell state ``"yes"`` (the paper reports the metric), ``"no"`` (it could have
but does not), ``"n-a"`` (the metric did not exist yet for that paper) or
``None`` (blank).  A blank cell is derived from the year the metric was
proposed: the metric is available **only to papers published strictly after
that year** (a paper from the proposal year itself is ``n-a``), and a blank
cell never counts as reporting, so a blank becomes ``"no"`` when
``paper year > metric year`` and ``"n-a"`` otherwise.  Explicit cells always
win over the derived rule (a paper may use a metric from its preprint).

Adoption rate (as in the position paper's adoption table)::

    adoption_rate = reporting / eligible

with ``reporting`` the papers whose cell is ``yes`` and ``eligible`` those whose
cell is ``yes`` or ``no``.  NaN when no paper is eligible.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from eyetest.errors import TableError

STATES = ("yes", "no", "n-a")


def resolve_cells(
    papers: pd.DataFrame, *, metrics: Sequence[str], metric_years: Mapping[str, int] | None = None
) -> pd.DataFrame:
    """Papers table with every blank metric cell replaced by ``"no"`` / ``"n-a"``.

    Raises
    ------
    TableError
        A cell state outside ``yes/no/n-a/None``, or a blank cell for a metric
        without a year in ``metric_years`` (names the paper and metric).
    """
    years = dict(metric_years or {})
    out = papers.copy()
    for metric in metrics:
        if metric not in out.columns:
            raise TableError("metric column missing from the papers table", column=metric)
        cells = []
        for paper, year, cell in zip(out["paper"], out["year"], out[metric]):
            if cell is None or (isinstance(cell, float) and np.isnan(cell)):
                if metric not in years:
                    raise TableError(
                        "blank cell and no year for this metric in the metric-years table "
                        "(give yes/no/n-a or add the metric to METRICS.csv)",
                        row=paper, column=metric, value="",
                    )
                cell = "no" if int(year) > int(years[metric]) else "n-a"
            elif cell not in STATES:
                raise TableError(f"cell state must be one of {', '.join(STATES)} or blank, got {cell!r}",
                                 row=paper, column=metric, value=cell)
            cells.append(cell)
        out[metric] = pd.Series(cells, index=out.index, dtype=object)
    return out


def adoption_table(
    papers: pd.DataFrame, *, metrics: Sequence[str], metric_years: Mapping[str, int] | None = None
) -> pd.DataFrame:
    """Adoption of each metric in the literature (see module docstring).

    Parameters
    ----------
    papers : ``paper, year`` and one column per metric holding ``"yes"``,
        ``"no"``, ``"n-a"`` or ``None`` (blank).
    metrics : the metric columns, in output order.
    metric_years : metric -> the year it was proposed (needed for blanks).

    Returns
    -------
    DataFrame
        ``metric, reporting, eligible, adoption_rate, first_year,
        available_after`` where ``first_year`` is the earliest year of a
        paper reporting the metric and ``available_after`` the metric's year
        from ``metric_years`` (both ``<NA>`` when unknown).
    """
    resolved = resolve_cells(papers, metrics=metrics, metric_years=metric_years)
    years = dict(metric_years or {})
    rows = []
    for metric in metrics:
        cells = resolved[metric]
        reporting = int((cells == "yes").sum())
        eligible = int(cells.isin(["yes", "no"]).sum())
        reported_years = resolved.loc[cells == "yes", "year"]
        rows.append({
            "metric": metric,
            "reporting": reporting,
            "eligible": eligible,
            "adoption_rate": reporting / eligible if eligible else np.nan,
            "first_year": int(reported_years.min()) if reporting else pd.NA,
            "available_after": int(years[metric]) if metric in years else pd.NA,
        })
    out = pd.DataFrame(rows)
    for c in ("first_year", "available_after"):
        out[c] = out[c].astype("Int64")
    return out
