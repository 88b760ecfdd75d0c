"""Markdown / LaTeX / HTML tables against the numbers they were built from."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eyetest.errors import MetricInputError
from eyetest.report.tables import (
    Table,
    alignment_matrix,
    fmt,
    fmt_ci,
    frame_table,
    latex_escape,
    metric_table,
    numeric_columns,
    scale_matrix,
    to_html,
    to_latex,
    to_markdown,
)


def _summary():
    rows = [("bicubic", "psnr", 26.5, 25.0, 28.0), ("bicubic", "niqe", 9.5, 8.0, 11.0),
            ("ibp", "psnr", 27.25, 26.0, 28.5), ("ibp", "niqe", 7.125, 6.5, 7.75),
            ("usm", "psnr", 26.0, 24.0, 28.0), ("usm", "niqe", 6.0, 5.0, 7.0)]
    return pd.DataFrame(rows, columns=["method", "metric", "mean", "ci_low", "ci_high"])


def _md_rows(md: str) -> list[list[str]]:
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines[2:]]


def test_metric_table_cells_arrows_and_best():
    t = metric_table(_summary(), higher_is_better={"psnr": True, "niqe": False}, metrics=["psnr", "niqe"])
    assert t.columns == ["method", "psnr ↑", "niqe ↓"]
    md = _md_rows(to_markdown(t))
    # every cell is the input's mean [low, high], rounded, in the input's method order
    assert md[0] == ["bicubic", "26.50 [25.00, 28.00]", "9.500 [8.000, 11.00]"]
    assert md[1][0] == "ibp" and md[1][1] == "**27.25 [26.00, 28.50]**"     # best PSNR: highest
    assert md[2][2] == "**6.000 [5.000, 7.000]**"                           # best NIQE: lowest
    parsed = float(md[1][1].strip("*").split(" ")[0])
    assert parsed == pytest.approx(27.25)


def test_metric_table_latex_has_arrows_bold_and_escapes():
    s = _summary().replace({"usm": "bicubic_usm"})
    tex = to_latex(metric_table(s, higher_is_better={"psnr": True, "niqe": False}, caption="50% & more"))
    assert r"psnr $\uparrow$" in tex and r"niqe $\downarrow$" in tex
    assert r"\textbf{27.25 [26.00, 28.50]}" in tex
    assert r"bicubic\_usm" in tex and r"50\% \& more" in tex
    assert r"\begin{tabular}{lrr}" in tex and r"\toprule" in tex and r"\bottomrule" in tex
    # one LaTeX row per method, each with as many cells as columns
    body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().splitlines()
    assert len(body) == 3 and all(r.count(" & ") == 2 for r in body)


def test_metric_table_needs_directions():
    with pytest.raises(MetricInputError, match="niqe"):
        metric_table(_summary(), higher_is_better={"psnr": True})


@given(st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=2, max_size=6))
@settings(max_examples=40, deadline=None)
def test_bold_cell_is_the_best_mean(values):
    df = pd.DataFrame({"method": [f"m{i}" for i in range(len(values))], "metric": "x", "mean": values,
                       "ci_low": np.nan, "ci_high": np.nan})
    for higher in (True, False):
        t = metric_table(df, higher_is_better={"x": higher})
        best = max(values) if higher else min(values)
        bold_rows = {i for i, j in t.bold}
        assert bold_rows == {i for i, v in enumerate(values) if v == best}


def test_fmt_and_ci():
    assert fmt(float("nan")) == "-" and fmt(None) == "-"
    assert fmt(float("inf")) == "inf"
    assert fmt(1234.4) == "1234" and fmt(123.44) == "123.4" and fmt(12.345) == "12.35"
    assert fmt(0.12345) == "0.123" and fmt(-0.00235, 2) == "-0.00" and fmt(2e-6) == "2.00e-06"
    assert fmt_ci(1.0, float("nan"), 2.0) == "1.000"
    assert fmt_ci(0.5, 0.25, 0.75, 2) == "0.50 [0.25, 0.75]"


def test_latex_escape_round_trip_of_specials():
    assert latex_escape("a_b%c$d#e{f}g&h~i^j\\k") == (
        r"a\_b\%c\$d\#e\{f\}g\&h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k")


def test_scale_matrix_wide_and_best_per_column_or_row():
    scale = pd.DataFrame({"condition": ["a", "b", "a", "b"], "dimension": ["overall", "overall", "sharp", "sharp"],
                          "score": [0.5, -0.5, -1.0, 1.0], "ci_low": [0.1, -0.9, -1.5, 0.4],
                          "ci_high": [0.9, -0.1, -0.5, 1.6]})
    t = scale_matrix(scale, rows="condition", columns="dimension")
    assert t.columns == ["condition", "overall", "sharp"]
    assert t.rows == [["a", "0.50 [0.10, 0.90]", "-1.00 [-1.50, -0.50]"],
                      ["b", "-0.50 [-0.90, -0.10]", "1.00 [0.40, 1.60]"]]
    assert t.bold == {(0, 1), (1, 2)}
    t = scale_matrix(scale, rows="dimension", columns="condition", best="row")
    assert t.bold == {(0, 1), (1, 2)}


def test_alignment_matrix_one_row_per_metric_and_best_bold():
    al = pd.DataFrame([(m, s, v, v - 0.1, v + 0.1) for m, base in (("psnr", 0.2), ("niqe", -0.4))
                       for s, v in (("srcc", base), ("krcc", base / 2), ("plcc", base), ("rmse", 1 - base))],
                      columns=["metric", "statistic", "value", "ci_low", "ci_high"])
    ag = pd.DataFrame({"metric": ["psnr", "niqe"], "agreement": [0.8, 0.3], "ci_low": [0.7, 0.2],
                       "ci_high": [0.9, 0.4]})
    t = alignment_matrix(al, ag)
    assert [r[0] for r in t.rows] == ["psnr", "niqe"]
    assert t.columns == ["metric", "SRCC", "KRCC", "PLCC", "RMSE", "pairwise agreement"]
    assert t.rows[0][1] == "0.20 [0.10, 0.30]" and t.rows[1][5] == "0.30 [0.20, 0.40]"
    # RMSE: lower is better -> psnr's 0.8 beats niqe's 1.4
    assert (0, 4) in t.bold and (1, 4) not in t.bold and (0, 5) in t.bold


def test_html_alignment_classes_and_escaping():
    t = frame_table(pd.DataFrame({"name": ["<b>x</b>", "y"], "v": [1.5, 2.25], "share": [0.5, 0.25]}),
                    percent=("share",))
    assert numeric_columns(t) == [False, True, True]
    h = to_html(t)
    assert "&lt;b&gt;x&lt;/b&gt;" in h and "<b>x</b>" not in h
    assert '<td class="num">50%</td>' in h and '<td class="txt">y</td>' in h
    assert len(re.findall("<tr>", h)) == 3


def test_table_row_length_checked():
    with pytest.raises(MetricInputError, match="row 0"):
        Table("t", ["a", "b"], [["1"]])


def test_markdown_escapes_pipes():
    md = to_markdown(Table("cap", ["a"], [["x|y"]], note="n"))
    assert "x\\|y" in md and md.startswith("**cap**") and "*n*" in md


def test_metric_table_marks_means_over_fewer_images_and_keeps_them_from_bold():
    """A mean over fewer images (non-finite values left out) is marked, explained, and never the bold best."""
    df = pd.DataFrame({"method": ["a", "b", "c"], "metric": "psnr", "mean": [30.0, 28.0, 27.0],
                       "ci_low": [29.0, 27.0, 26.0], "ci_high": [31.0, 29.0, 28.0], "n": [14, 15, 15],
                       "excluded": [1, 0, 0]})
    t = metric_table(df, higher_is_better={"psnr": True})
    assert t.rows[0][1] == "30.00 [29.00, 31.00] †" and "†" not in t.rows[1][1]
    assert t.bold == {(1, 1)}                       # b: the best mean over all 15 images
    assert "a psnr: mean over 14 of 15 images (1 non-finite value left out)" in t.note
    assert numeric_columns(t) == [False, True]      # the mark keeps the column numeric (right-aligned)
    assert r"\textsuperscript{\dag}" in to_latex(t)
    # values left out by every method: each cell is marked, the comparison is fair, so bold stays
    same = df.assign(n=15, excluded=2)
    t = metric_table(same, higher_is_better={"psnr": True})
    assert all(r[1].endswith("†") for r in t.rows) and t.bold == {(0, 1)}
    # without an n column nothing is marked (as before)
    assert "†" not in to_markdown(metric_table(_summary(), higher_is_better={"psnr": True, "niqe": False}))


def test_latex_escapes_angle_brackets_and_bars_and_wraps_long_text():
    assert latex_escape("a<b>|c") == r"a\textless{}b\textgreater{}\textbar{}c"
    t = Table("t", ["rater", "n", "reasons"], [["r1", "1", "gold accuracy 0.00 < 0.70 on 5 gold trials; too fast"],
                                               ["r2", "2", ""]])
    tex = to_latex(t)
    assert r"\begin{tabular}{lrp{0.3\linewidth}}" in tex
    assert "<" not in tex and r"0.00 \textless{} 0.70" in tex


def test_markdown_escapes_user_text_but_not_numbers():
    from eyetest.report.tables import md_text

    assert md_text("<b>x</b> $x^2$ #1 a_b") == r"\<b\>x\</b\> \$x^2\$ \#1 a\_b"
    md = to_markdown(Table("cap", ["method", "psnr"], [["<script>x</script>", "26.85 [23.52, 30.18]"],
                                                       ["A&B", "-"]]))
    assert r"\<script\>x\</script\>" in md and "<script>" not in md and r"A\&B" in md
    assert "| 26.85 [23.52, 30.18] |" in md           # numeric cells stay readable


def test_frame_table_fixed_decimals():
    t = frame_table(pd.DataFrame({"r": ["x", "y"], "acc": [0.0, 1.0], "d": [10.4412, 0.2]}), decimals=2)
    assert t.rows == [["x", "0.00", "10.44"], ["y", "1.00", "0.20"]]
