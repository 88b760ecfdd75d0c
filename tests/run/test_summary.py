"""Per-method summaries: values from mean_ci_t, arrows, non-finite handling."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats

from eyetest.core.metrics.registry import MetricSpec
from eyetest.run.summary import format_summary, summarize

UP = MetricSpec("up", "FR", True, (0, 1), lambda *a, **k: 0.0, {"matlab": {}})
DOWN = MetricSpec("down", "NR", False, (0, 1), lambda *a, **k: 0.0, {"matlab": {}})


def _table():
    rows = [("i1", "m1", "up", 1.0), ("i2", "m1", "up", 2.0), ("i3", "m1", "up", 4.0),
            ("i1", "m2", "up", math.inf), ("i2", "m2", "up", 3.0), ("i3", "m2", "up", 5.0),
            ("i1", "m1", "down", 7.0)]
    return pd.DataFrame(rows, columns=["image", "method", "metric", "value"])


def test_summary_values_match_scipy():
    s = summarize(_table(), [UP, DOWN])
    r = s[(s.method == "m1") & (s.metric == "up")].iloc[0]
    lo, hi = stats.t.interval(0.95, 2, loc=7 / 3, scale=stats.sem([1.0, 2.0, 4.0]))
    assert r["mean"] == pytest.approx(7 / 3) and r.ci_low == pytest.approx(lo)
    assert r.ci_high == pytest.approx(hi) and r.n == 3 and r.higher_is_better
    m2 = s[(s.method == "m2") & (s.metric == "up")].iloc[0]
    assert m2["mean"] == 4.0 and m2.n == 2 and m2.excluded == 1
    d = s[s.metric == "down"].iloc[0]
    assert d["mean"] == 7.0 and math.isnan(d.ci_low) and not d.higher_is_better


def test_format_has_arrows_and_cells():
    text = format_summary(summarize(_table(), [UP, DOWN]), [UP, DOWN])
    header = text.splitlines()[0]
    assert "up ↑" in header and "down ↓" in header
    assert "(1 non-finite)" in text and "95%" in text
    m2_line = next(line for line in text.splitlines() if line.startswith("m2"))
    assert m2_line.split()[-1] == "-"  # m2 has no 'down' score
