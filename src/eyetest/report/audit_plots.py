"""Figures of a metric audit (matplotlib :class:`~matplotlib.figure.Figure` objects).

Figures are built with :class:`matplotlib.figure.Figure` directly (no
``pyplot`` state, no GUI backend), so they work in workers and servers; save
them with ``fig.savefig(path)`` (PNG through Agg).

* :func:`plot_score_vs_strength`: one panel per (metric, manipulation): the
  change of score against strength for every image (thin lines), their mean
  with its bootstrap interval (band), 0 = the untouched image.  Full-reference
  metrics, whose untouched score is the ideal (PSNR ``inf``), show the score
  itself instead.
* :func:`plot_gameability`: heat map of the share of images a manipulation
  improves, metric x manipulation, gameable cells outlined.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

_COLORS = {"trick": "#b2182b", "degradation": "#2166ac", "enhancement": "#5e3c99",
           "identity": "#555555"}


def _order(values, wanted):
    present = list(dict.fromkeys(values))
    if wanted is None:
        return present
    return [w for w in wanted if w in present]


def plot_score_vs_strength(
    table: pd.DataFrame,
    *,
    summary: pd.DataFrame | None = None,
    metrics: Sequence[str] | None = None,
    manipulations: Sequence[str] | None = None,
    higher_is_better: Mapping[str, bool] | None = None,
    units: Mapping[str, str] | None = None,
    context: str = "standard",
    panel_size: tuple[float, float] = (2.6, 2.1),
    max_columns: int = 7,
) -> Figure:
    """Score change vs strength, a grid of metrics (rows) x manipulations (columns).

    Parameters
    ----------
    table : the audit table (``image, context, metric, manipulation, strength,
        value, baseline, delta``).
    summary : :func:`eyetest.core.audit.summarize` of the same rows; when given
        its bootstrap interval of the mean delta is drawn as a band.
    metrics, manipulations : which and in what order (default: as in the table).
    higher_is_better : metric -> direction, for the arrow in the axis label.
    units : manipulation -> strength unit (x-axis label).
    context : which rows (``"standard"`` or ``"intended-blur"``).
    max_columns : more manipulations than this wrap onto further blocks of
        rows (one block of metric rows per group of columns).
    """
    t = table[table["context"] == context] if "context" in table.columns else table
    ms = _order(t["metric"], metrics)
    ps = _order(t["manipulation"], manipulations)
    nr = max(1, len(ms))
    nc = max(1, min(len(ps), max(1, int(max_columns))))
    blocks = max(1, -(-len(ps) // nc))
    fig = Figure(figsize=(panel_size[0] * nc + 0.6, panel_size[1] * nr * blocks + 0.8),
                 layout="constrained")
    grid = fig.subplots(nr * blocks, nc, squeeze=False)
    if t.empty:
        grid[0, 0].text(0.5, 0.5, "no rows", ha="center", va="center")
        grid[0, 0].set_axis_off()
        return fig
    for k in range(len(ps), blocks * nc):  # empty slots of the last block
        for i in range(nr):
            grid[(blocks - 1) * nr + i, k % nc].set_axis_off()
    for i, m in enumerate(ms):
        tm = t[t["metric"] == m]
        raw = not np.all(np.isfinite(tm["baseline"].to_numpy(np.float64)))
        arrow = ""
        if higher_is_better and m in higher_is_better:
            arrow = " ↑" if higher_is_better[m] else " ↓"
        for j, p in enumerate(ps):
            ax = grid[(j // nc) * nr + i, j % nc]
            g = tm[tm["manipulation"] == p]
            ycol = "value" if raw else "delta"
            for _, gi in g.groupby("image", sort=True):
                gi = gi.sort_values("strength")
                xs = np.r_[0.0, gi["strength"].to_numpy()]
                first = np.nan if raw else 0.0
                ys = np.r_[first, gi[ycol].to_numpy(np.float64)]
                ax.plot(xs, ys, color="0.6", lw=0.7, alpha=0.6)
            if not g.empty:
                mean = g.replace([np.inf, -np.inf], np.nan).groupby("strength")[ycol].mean()
                xs = np.r_[0.0, mean.index.to_numpy()] if not raw else mean.index.to_numpy()
                ys = np.r_[0.0, mean.to_numpy()] if not raw else mean.to_numpy()
                kind = g["kind"].iloc[0] if "kind" in g.columns else "trick"
                color = _COLORS.get(kind, "k")
                ax.plot(xs, ys, color=color, lw=2, marker="o", ms=3)
                if summary is not None and not raw:
                    s = summary[(summary["metric"] == m) & (summary["manipulation"] == p)]
                    s = s.sort_values("strength")
                    if not s.empty:
                        ax.fill_between(np.r_[0.0, s["strength"]], np.r_[0.0, s["ci_low"]],
                                        np.r_[0.0, s["ci_high"]], color=color, alpha=0.18, lw=0)
            if not raw:
                ax.axhline(0.0, color="k", lw=0.6, ls="--")
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.25, lw=0.5)
            if i == 0:
                ax.set_title(p, fontsize=9)
            if i == nr - 1:
                ax.set_xlabel(f"strength ({units[p]})" if units and p in units else "strength",
                              fontsize=7)
            if j % nc == 0:
                ax.set_ylabel((f"{m}{arrow}" if raw else f"Δ {m}{arrow}"), fontsize=8)
    fig.suptitle("Score vs manipulation strength"
                 + (" (intended-blur images)" if context != "standard" else "")
                 + ": grey = images, colour = mean with 95% bootstrap CI", fontsize=9)
    return fig


def plot_gameability(
    flags: pd.DataFrame,
    *,
    metrics: Sequence[str] | None = None,
    manipulations: Sequence[str] | None = None,
    value: str = "max_share_improved",
    flag: str = "gameable",
    title: str | None = None,
    threshold: float = 0.5,
) -> Figure:
    """Heat map: share of images improved (max over strengths), metric x manipulation.

    ``flags`` is :func:`eyetest.core.audit.gameability` output (or the
    context-blur variant, with ``flag="prefers_sharpened"``).  Cells are
    annotated with the percentage; flagged cells are outlined in black.
    Manipulations that are not fidelity-reducing (enhancements, identity)
    are labelled in grey: they are reported but never flagged.  ``metrics``
    and ``manipulations`` choose and order the rows and columns.
    """
    metrics = _order(flags["metric"], metrics)
    manips = _order(flags["manipulation"], manipulations)
    flags = flags[flags["metric"].isin(metrics) & flags["manipulation"].isin(manips)]
    grid = np.full((len(metrics), len(manips)), np.nan)
    mark = np.zeros_like(grid, dtype=bool)
    for r in flags.itertuples(index=False):
        i, j = metrics.index(r.metric), manips.index(r.manipulation)
        grid[i, j] = getattr(r, value)
        mark[i, j] = bool(getattr(r, flag))
    fig = Figure(figsize=(2.0 + 0.8 * max(6, len(manips)), 1.6 + 0.45 * max(2, len(metrics))),
                 layout="constrained")
    ax = fig.subplots()
    if grid.size == 0:
        ax.text(0.5, 0.5, "no rows", ha="center", va="center")
        ax.set_axis_off()
        return fig
    im = ax.imshow(np.ma.masked_invalid(grid), cmap="RdBu_r", vmin=0.0, vmax=1.0, aspect="auto")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            if np.isnan(grid[i, j]):
                continue
            txt = f"{100 * grid[i, j]:.0f}%"
            ax.text(j, i, txt, ha="center", va="center", fontsize=8,
                    color="white" if abs(grid[i, j] - 0.5) > 0.3 else "black",
                    fontweight="bold" if mark[i, j] else "normal")
            if mark[i, j]:
                ax.add_patch(Rectangle((j - 0.48, i - 0.48), 0.96, 0.96, fill=False, lw=2,
                                       ec="black"))
    ax.set_xticks(range(len(manips)))
    ax.set_xticklabels(manips, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(metrics)))
    ax.set_yticklabels(metrics, fontsize=8)
    if "fidelity_reducing" in flags.columns:
        fr = flags.drop_duplicates("manipulation").set_index("manipulation")["fidelity_reducing"]
        for lab in ax.get_xticklabels():
            if not bool(fr.get(lab.get_text(), True)):
                lab.set_color("0.55")
                lab.set_fontstyle("italic")
    cb = fig.colorbar(im, ax=ax, shrink=0.9)
    cb.set_label("share of images improved", fontsize=8)
    cb.ax.axhline(threshold, color="k", lw=1)
    ax.set_title(title or "Gameability: share of images whose score improves\n"
                 "(at the strength where it is largest; outlined = flagged gameable)", fontsize=9)
    return fig
