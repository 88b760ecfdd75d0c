"""Per-method summary of a result table: mean and 95% CI per metric.

The interval is the Student-t interval of the mean over images
(:func:`eyetest.core.stats.mean_ci_t`); non-finite values (PSNR of an exact
copy is ``inf``) are left out of the mean and counted in ``excluded``.
"""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from eyetest.core.metrics.registry import MetricSpec
from eyetest.core.stats import mean_ci_t

SUMMARY_COLUMNS = ["method", "metric", "mean", "ci_low", "ci_high", "n", "excluded",
                   "higher_is_better"]


def summarize(table: pd.DataFrame, specs: Sequence[MetricSpec], *,
              confidence: float = 0.95) -> pd.DataFrame:
    """One row per (method, metric) with the mean, CI bounds and counts."""
    rows = []
    for spec in specs:
        sub = table[table["metric"] == spec.name]
        for method, grp in sub.groupby("method", sort=True):
            ci = mean_ci_t(grp["value"].to_numpy(float), confidence=confidence)
            rows.append((method, spec.name, ci.mean, ci.low, ci.high, ci.n, ci.excluded,
                         spec.higher_is_better))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0 or 1e-3 <= abs(x) < 1e5:
        return f"{x:.4f}" if abs(x) < 1 else f"{x:.2f}" if abs(x) < 1000 else f"{x:.1f}"
    return f"{x:.3g}"


def format_summary(summary: pd.DataFrame, specs: Sequence[MetricSpec]) -> str:
    """A plain-text table: methods as rows, ``metric ↑/↓`` columns of ``mean [low, high]``."""
    if summary.empty:
        return "(nothing scored)"
    methods = sorted(summary["method"].unique())
    cols = [s for s in specs if s.name in set(summary["metric"])]
    header = ["method"] + [f"{s.name} {s.direction}" for s in cols]
    lines = [header]
    for method in methods:
        row = [method]
        for spec in cols:
            hit = summary[(summary["method"] == method) & (summary["metric"] == spec.name)]
            if hit.empty:
                row.append("-")
                continue
            r = hit.iloc[0]
            cell = _fmt(r["mean"])
            if not math.isnan(r["ci_low"]):
                cell += f" [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
            if r["excluded"]:
                cell += f" ({int(r['excluded'])} non-finite)"
            row.append(cell)
        lines.append(row)
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    n = int(summary["n"].max()) if len(summary) else 0
    out.append(f"mean [95% t-interval] over images (up to n={n} per cell); "
               "↑ higher is better, ↓ lower is better")
    return "\n".join(out)
