"""Report figures: each function takes a table from :mod:`eyetest.core.alignment`
and returns a :class:`matplotlib.figure.Figure`.

Figures are built with the object API on an Agg canvas (no pyplot, no global
state, no display needed), so they are safe in servers and tests.  Use
:func:`png_bytes` to embed one in HTML or :func:`save_figure` to write a file.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from eyetest.errors import MetricInputError

# colour-blind-safe (Okabe & Ito 2008)
A_COLOR, SAME_COLOR, B_COLOR = "#0072B2", "#BBBBBB", "#E69F00"
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
FAMILY_COLORS = {"psnr-oriented": "#56B4E9", "gan": "#E69F00", "diffusion": "#CC79A7", "other": "#999999"}


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _need(table: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise MetricInputError(f"{what} needs column(s) {', '.join(missing)}")
    if table.empty:
        raise MetricInputError(f"{what}: the table is empty")


def _err(values, low, high) -> np.ndarray:
    """Asymmetric error-bar array; NaN CIs become zero-length bars."""
    v, lo, hi = (np.asarray(a, dtype=float) for a in (values, low, high))
    return np.vstack([np.nan_to_num(v - lo, nan=0.0).clip(0), np.nan_to_num(hi - v, nan=0.0).clip(0)])


def head_to_head_figure(table: pd.DataFrame, *, by: str = "scenario", title: str | None = None) -> Figure:
    """Stacked "A better / same / B better" bars per group, with counts and CIs.

    ``table`` is :func:`eyetest.core.alignment.views.head_to_head` output.
    One horizontal bar per row (the ``"all"`` row on top); segments are
    annotated with share and vote count; error bars show the CI of the A
    share (at the right end of the A segment) and of the B share (at the
    left end of the B segment).  The SUPIR-vs-HAT figure of the position paper.
    """
    _need(table, [by, "method_a", "method_b", "a_better", "same", "b_better", "n", "share_a_better",
                  "share_same", "share_b_better"], "head-to-head figure")
    rows = table.iloc[::-1].reset_index(drop=True)  # first table row at the top
    method_a, method_b = str(rows["method_a"].iloc[0]), str(rows["method_b"].iloc[0])
    fig = _figure(9.0, 1.2 + 0.42 * len(rows))
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    a, s, b = (rows[c].to_numpy(float) for c in ("share_a_better", "share_same", "share_b_better"))
    segments = ((a, np.zeros_like(a), A_COLOR, f"{method_a} better", "a_better"),
                (s, a, SAME_COLOR, "same", "same"),
                (b, a + s, B_COLOR, f"{method_b} better", "b_better"))
    for width, left, color, label, count_col in segments:
        bars = ax.barh(y, width, left=left, color=color, label=label, height=0.7, edgecolor="white")
        for rect, w, l, count in zip(bars, width, left, rows[count_col]):
            if w >= 0.07:
                ax.text(l + w / 2, rect.get_y() + rect.get_height() / 2, f"{w:.0%}\n({int(count)})",
                        ha="center", va="center", fontsize=7, color="black" if color == SAME_COLOR else "white")
    if {"a_better_low", "a_better_high", "b_better_low", "b_better_high"} <= set(rows.columns):
        # A's interval along the top of the bar, B's along the bottom, clear of the labels
        ax.errorbar(a, y + 0.24, xerr=_err(a, rows["a_better_low"], rows["a_better_high"]), fmt="none",
                    ecolor="black", capsize=2, lw=0.8)
        edge = 1.0 - b
        ax.errorbar(edge, y - 0.24, xerr=_err(edge, 1.0 - rows["b_better_high"].to_numpy(float),
                                       1.0 - rows["b_better_low"].to_numpy(float)),
                    fmt="none", ecolor="black", capsize=2, lw=0.8)
    ax.set_yticks(y, [f"{g} (n={int(n)})" for g, n in zip(rows[by], rows["n"])])
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlabel("share of votes")
    ax.set_title(title or f"{method_a} vs {method_b} per {by}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    return fig


def leaderboard_figure(board: pd.DataFrame, *, by: str = "scenario", value_label: str = "score",
                       higher_is_better: bool = True, columns: int = 4) -> Figure:
    """Small multiples: one ranked bar chart (with CIs) per group.

    ``board`` is :func:`eyetest.core.alignment.views.leaderboard` output.
    Each panel is titled with the group (scenario) name; the best method is
    at the top.
    """
    _need(board, [by, "method", "mean", "ci_low", "ci_high"], "leaderboard figure")
    groups = list(dict.fromkeys(board[by]))
    methods = sorted(map(str, board["method"].unique()))
    colors = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(methods)}
    cols = min(columns, len(groups))
    nrows = math.ceil(len(groups) / cols)
    fig = _figure(3.0 * cols, 0.6 + nrows * (0.5 + 0.28 * len(methods)))
    arrow = "↑" if higher_is_better else "↓"
    for i, group in enumerate(groups):
        ax = fig.add_subplot(nrows, cols, i + 1)
        part = board[board[by] == group].sort_values("mean", ascending=not higher_is_better)
        part = part.iloc[::-1]
        y = np.arange(len(part))
        ax.barh(y, part["mean"], color=[colors[str(m)] for m in part["method"]], height=0.7,
                xerr=_err(part["mean"], part["ci_low"], part["ci_high"]), capsize=2,
                error_kw={"lw": 0.8})
        ax.set_yticks(y, [str(m) for m in part["method"]], fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(str(group), fontsize=9)
        ax.set_xlabel(f"{value_label} {arrow}", fontsize=7)
    return fig


def dimension_heatmap(matrix: pd.DataFrame, *, value_label: str = "score", cmap: str = "viridis") -> Figure:
    """Method x dimension heat map with the value written in every cell.

    ``matrix`` is :func:`eyetest.core.alignment.views.method_dimension_matrix`
    output (methods as rows, dimensions as columns).
    """
    if matrix.empty:
        raise MetricInputError("dimension heat map: the matrix is empty")
    values = matrix.to_numpy(dtype=float)
    fig = _figure(1.6 + 1.0 * values.shape[1], 1.2 + 0.45 * values.shape[0])
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, aspect="auto")
    finite = values[np.isfinite(values)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if v < mid else "black")
    ax.set_xticks(range(values.shape[1]), [str(c) for c in matrix.columns], rotation=30, ha="right")
    ax.set_yticks(range(values.shape[0]), [str(r) for r in matrix.index])
    fig.colorbar(image, ax=ax, label=value_label, shrink=0.8)
    ax.set_title(f"{matrix.index.name or 'method'} x {matrix.columns.name or 'dimension'}")
    return fig


def alignment_figure(table: pd.DataFrame, *, statistic: str = "srcc", by: str | None = None,
                     value: str | None = None) -> Figure:
    """Bar chart of a metric-human alignment statistic per metric, with CIs.

    ``table`` is :func:`~eyetest.core.alignment.groups.alignment_table` output
    (rows of ``statistic`` are used) or
    :func:`~eyetest.core.alignment.groups.agreement_table` output (``value``
    defaults to ``agreement`` there).  With ``by`` (e.g. ``"scenario"``) the
    bars of each metric are grouped by that column.
    """
    if "statistic" in table.columns:
        table = table[table["statistic"] == statistic]
        value = value or "value"
    else:
        value = value or "agreement"
        statistic = value
    _need(table, ["metric", value, "ci_low", "ci_high"] + ([by] if by else []), "alignment figure")
    metrics = list(dict.fromkeys(table["metric"]))
    groups = list(dict.fromkeys(table[by])) if by else [None]
    width = 0.8 / len(groups)
    fig = _figure(max(5.0, 1.0 + 0.35 * len(metrics) * len(groups)) + (1.6 if by else 0.0), 3.6)
    ax = fig.add_subplot()
    x = np.arange(len(metrics))
    for k, group in enumerate(groups):
        part = table if group is None else table[table[by] == group]
        part = part.set_index("metric").reindex(metrics)
        ax.bar(x - 0.4 + width * (k + 0.5), part[value].fillna(0), width,
               yerr=_err(part[value], part["ci_low"], part["ci_high"]), capsize=2, error_kw={"lw": 0.8},
               color=PALETTE[k % len(PALETTE)], label=None if group is None else str(group))
    ax.axhline(0.5 if statistic == "agreement" else 0.0, color="black", lw=0.6)
    ax.set_xticks(x, metrics, rotation=30 if len(metrics) > 4 else 0, ha="right" if len(metrics) > 4 else "center")
    ax.set_ylabel(statistic.upper() if statistic != "agreement" else "pairwise agreement")
    ax.set_title(f"metric-human alignment: {statistic}" + (f" per {by}" if by else ""))
    if by:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title=by,
                  title_fontsize=7)
    return fig


def family_win_rate_figure(trends: pd.DataFrame) -> Figure:
    """One 100 % stacked bar per source (metric or ``human``) split by family win rate.

    ``trends`` is :func:`eyetest.core.alignment.family.family_trends` output;
    segments carry the win rate in per cent.
    """
    _need(trends, ["source", "family", "win_rate"], "family win-rate figure")
    sources = list(dict.fromkeys(trends["source"]))
    families = sorted(map(str, trends["family"].unique()))
    fig = _figure(8.0, 1.2 + 0.4 * len(sources))
    ax = fig.add_subplot()
    y = np.arange(len(sources))[::-1]
    left = np.zeros(len(sources))
    for k, fam in enumerate(families):
        rates = (trends[trends["family"].astype(str) == fam].set_index("source")["win_rate"]
                 .reindex(sources).fillna(0.0).to_numpy(float))
        color = FAMILY_COLORS.get(fam, PALETTE[k % len(PALETTE)])
        ax.barh(y, rates, left=left, color=color, label=fam, height=0.7, edgecolor="white")
        for yy, l, r in zip(y, left, rates):
            if r >= 0.08:
                ax.text(l + r / 2, yy, f"{r:.0%}", ha="center", va="center", fontsize=8)
        left += rates
    ax.set_yticks(y, sources)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlabel("share of images won by the family's best method")
    ax.set_title("family win rate per metric and for people")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    return fig


def adoption_figure(table: pd.DataFrame) -> Figure:
    """Horizontal bars of each metric's adoption rate, annotated ``reporting/eligible``.

    ``table`` is :func:`eyetest.core.alignment.adoption.adoption_table` output.
    """
    _need(table, ["metric", "reporting", "eligible", "adoption_rate"], "adoption figure")
    t = table.sort_values("adoption_rate", ascending=True, na_position="first", kind="mergesort")
    fig = _figure(6.5, 1.0 + 0.35 * len(t))
    ax = fig.add_subplot()
    y = np.arange(len(t))
    rates = t["adoption_rate"].astype(float).fillna(0.0).to_numpy()
    ax.barh(y, rates, color=A_COLOR, height=0.7)
    for yy, r, rep, eli in zip(y, rates, t["reporting"], t["eligible"]):
        label = f"{r:.0%} ({int(rep)}/{int(eli)})" if eli else "not available to any paper"
        if r > 0.75:
            ax.text(r - 0.01, yy, label, va="center", ha="right", fontsize=8, color="white")
        else:
            ax.text(r + 0.01, yy, label, va="center", ha="left", fontsize=8)
    ax.set_yticks(y, [str(m) for m in t["metric"]])
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlabel("adoption rate = papers reporting / papers published after the metric")
    ax.set_title("metric adoption in the literature")
    return fig


def png_bytes(fig: Figure, *, dpi: int = 120) -> bytes:
    """The figure rendered as PNG bytes (for inline ``data:`` URIs)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_figure(fig: Figure, path, *, dpi: int = 120) -> Path:
    """Write the figure atomically; the format follows the extension (png, svg, pdf)."""
    from eyetest.io.tables import atomic_write_bytes

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    if fmt not in fig.canvas.get_supported_filetypes():
        raise MetricInputError(f"cannot save a figure as {path.name!r}: use .png, .svg or .pdf")
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=dpi)
    atomic_write_bytes(path, buffer.getvalue())
    return path
