"""Report tables as Markdown, LaTeX (booktabs) and HTML from one description.

A :class:`Table` holds formatted cells, so the three renderings show the
same numbers.  Builders turn analysis tables into :class:`Table` objects:

* :func:`metric_table`: methods x metrics, ``mean [ci_low, ci_high]`` per
  cell, the column header carries the metric's direction (``↑`` higher is
  better, ``↓`` lower is better) and the best method per column is bold
  (best by the mean, in the metric's direction, among the means over the
  full number of images); a mean over fewer images (non-finite values left
  out, images missing) is marked ``†`` and explained in the note;
* :func:`scale_matrix`: a human scale, one row per method (or scenario), one
  column per dimension (or method), ``score [CI]`` with the best in bold;
* :func:`alignment_matrix`: metric x statistic (SRCC, KRCC, PLCC, RMSE,
  pairwise agreement) with CIs;
* :func:`frame_table`: any DataFrame, numbers formatted.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pandas as pd

from eyetest.errors import MetricInputError

UP, DOWN = "↑", "↓"


def fmt(x, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (at least 2 decimals below 10); '-' for NaN/None."""
    if x is None:
        return "-"
    if isinstance(x, (bool,)):
        return "yes" if x else "no"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:.0f}"
    if abs(v) >= 100:
        return f"{v:.1f}"
    if abs(v) >= 10:
        return f"{v:.2f}"
    if abs(v) >= 1e-4:
        return f"{v:.{digits}f}"
    return f"{v:.2e}"


def fmt_ci(mean, low, high, digits: int = 3) -> str:
    """``mean [low, high]`` (just the mean when the interval is unknown)."""
    m = fmt(mean, digits)
    if low is None or high is None or (isinstance(low, float) and math.isnan(low)) \
            or (isinstance(high, float) and math.isnan(high)):
        return m
    return f"{m} [{fmt(low, digits)}, {fmt(high, digits)}]"


@dataclass
class Table:
    """Formatted cells plus the caption and which cells are bold."""

    caption: str
    columns: list[str]
    rows: list[list[str]]
    bold: set = field(default_factory=set)       # {(row, col)}
    note: str = ""
    label: str = ""

    def __post_init__(self):
        for k, r in enumerate(self.rows):
            if len(r) != len(self.columns):
                raise MetricInputError(f"table {self.caption!r}: row {k} has {len(r)} cells, "
                                       f"expected {len(self.columns)}")


#: characters with a meaning in (GitHub-flavoured) Markdown, backslash-escaped in text
_MD_SPECIAL = set("\\`*_[]<>#|$~&")


def md_text(s) -> str:
    """Text for Markdown: every Markdown / HTML / math character backslash-escaped, one line.

    So a method named ``<b>x</b>`` or ``$x^2$`` shows as written instead of
    being rendered as HTML or math (CommonMark escapes any ASCII punctuation).
    """
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in str(s).replace("\n", " "))


def _md_cell(s: str) -> str:
    s = str(s)
    # numbers and ``mean [lo, hi]`` cells carry no user text: keep them readable
    return s if _NUMERIC.match(s.strip()) else md_text(s)


def to_markdown(t: Table) -> str:
    """GitHub-flavoured Markdown: caption in bold above, note in italics below."""
    out = [f"**{_md_cell(t.caption)}**", ""] if t.caption else []
    out.append("| " + " | ".join(_md_cell(c) for c in t.columns) + " |")
    out.append("| " + " | ".join("---" for _ in t.columns) + " |")
    for i, r in enumerate(t.rows):
        cells = [f"**{_md_cell(c)}**" if (i, j) in t.bold and c != "-" else _md_cell(c) for j, c in enumerate(r)]
        out.append("| " + " | ".join(cells) + " |")
    if t.note:
        out += ["", f"*{_md_cell(t.note)}*"]
    return "\n".join(out) + "\n"


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
          "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
          # with LaTeX's default OT1 font encoding these print as other glyphs in text mode
          "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", "†": r"\textsuperscript{\dag}",
          UP: r"$\uparrow$", DOWN: r"$\downarrow$", "±": r"$\pm$", "≥": r"$\geq$", "≤": r"$\leq$",
          "×": r"$\times$"}


def latex_escape(s: str) -> str:
    """Escape LaTeX special characters; arrows become ``$\\uparrow$``/``$\\downarrow$``."""
    return "".join(_LATEX.get(ch, ch) for ch in str(s))


#: text columns with a cell longer than this are typeset as wrapping ``p{}`` columns
LATEX_WRAP = 40


def _latex_align(t: Table) -> str:
    out = []
    for j, n in enumerate(numeric_columns(t)):
        if n and j:
            out.append("r")
        elif any(len(r[j]) > LATEX_WRAP for r in t.rows):
            out.append(r"p{0.3\linewidth}")
        else:
            out.append("l")
    return "".join(out)


def to_latex(t: Table) -> str:
    """A ``table`` float with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``).

    Long free-text columns (a cell over :data:`LATEX_WRAP` characters) wrap in
    a ``p{0.3\\linewidth}`` column instead of running off the page.
    """
    align = _latex_align(t)
    lines = [r"\begin{table}[ht]", r"\centering", r"\small"]
    if t.caption:
        lines.append(r"\caption{" + latex_escape(t.caption) + "}")
    if t.label:
        lines.append(r"\label{" + t.label + "}")
    lines += [r"\begin{tabular}{" + align + "}", r"\toprule",
              " & ".join(latex_escape(c) for c in t.columns) + r" \\", r"\midrule"]
    for i, r in enumerate(t.rows):
        cells = [r"\textbf{" + latex_escape(c) + "}" if (i, j) in t.bold and c != "-" else latex_escape(c)
                 for j, c in enumerate(r)]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if t.note:
        lines.append(r"\par\smallskip{\footnotesize " + latex_escape(t.note) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


_NUMERIC = re.compile(r"^(-|[-+]?(\d[\d.,e+-]*|inf)%?( \[[^\]]*\])?( ?†)?|\d+-\d+)$")


def numeric_columns(t: Table) -> list[bool]:
    """Whether every cell of a column looks like a number, a ``mean [lo, hi]`` cell or a rank range."""
    return [all(_NUMERIC.match(r[j].strip()) for r in t.rows) if t.rows else False
            for j in range(len(t.columns))]


def to_html(t: Table, *, css_class: str = "data") -> str:
    """An HTML ``<table>`` with ``<caption>``; numeric columns right-aligned, text left-aligned."""
    e = html.escape
    num = numeric_columns(t)
    out = [f'<table class="{css_class}">']
    if t.caption:
        out.append(f"<caption>{e(t.caption)}</caption>")
    out.append("<thead><tr>" + "".join(f'<th class="{"num" if n else "txt"}">{e(c)}</th>'
                                       for c, n in zip(t.columns, num)) + "</tr></thead><tbody>")
    for i, r in enumerate(t.rows):
        cells = []
        for j, c in enumerate(r):
            cls = "num" if num[j] else ("txt wrap" if len(c) > 50 else "txt")
            inner = f"<b>{e(c)}</b>" if (i, j) in t.bold and c != "-" else e(c)
            cells.append(f'<td class="{cls}">{inner}</td>')
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    if t.note:
        out.append(f'<p class="tnote">{e(t.note)}</p>')
    return "".join(out)


def metric_table(summary: pd.DataFrame, *, higher_is_better: Mapping[str, bool],
                 metrics: Sequence[str] | None = None, caption: str = "", digits: int = 3,
                 note: str | None = None) -> Table:
    """Methods x metrics with direction arrows, ``mean [95% CI]`` and the best in bold.

    ``summary``: ``method, metric, mean, ci_low, ci_high`` (e.g.
    :func:`eyetest.run.summary.summarize`), optionally ``n`` (values in the
    mean) and ``excluded`` (non-finite values left out of it).  ``higher_is_better``
    gives every metric's direction (a metric without one is an error, because the
    arrow and the bold cell depend on it).

    With ``n``: a cell whose mean is over fewer values than the metric's
    largest ``n``, or that left values out, is marked ``†`` and listed in the
    note; only means over the largest ``n`` compete for bold, so a mean over
    fewer images is never shown as the best without saying so.
    """
    need = {"method", "metric", "mean", "ci_low", "ci_high"}
    if not need <= set(summary.columns):
        raise MetricInputError(f"metric table needs columns {sorted(need)}")
    metrics = list(metrics) if metrics else list(dict.fromkeys(summary["metric"]))
    unknown = [m for m in metrics if m not in higher_is_better]
    if unknown:
        raise MetricInputError(f"no direction (higher_is_better) for metric(s) {', '.join(unknown)}")
    methods = sorted(map(str, summary["method"].unique()))
    cols = ["method"] + [f"{m} {UP if higher_is_better[m] else DOWN}" for m in metrics]
    rows, bold, marked = [], set(), []
    cell = {(str(r.method), r.metric): r for r in summary.itertuples(index=False)}
    has_n = "n" in summary.columns
    full = {}
    if has_n:
        for m in metrics:
            ns = [int(cell[(meth, m)].n) for meth in methods if (meth, m) in cell]
            full[m] = max(ns) if ns else 0
    short = set()
    for i, method in enumerate(methods):
        row = [method]
        for j, m in enumerate(metrics, start=1):
            r = cell.get((method, m))
            if r is None:
                row.append("-")
                continue
            text = fmt_ci(r.mean, r.ci_low, r.ci_high, digits)
            if has_n:
                n, left = int(r.n), int(getattr(r, "excluded", 0) or 0)
                if n < full[m] or left:
                    text += " †"
                    why = f" ({left} non-finite value{'s' if left != 1 else ''} left out)" if left else ""
                    marked.append(f"{method} {m}: mean over {n} of {full[m]} images{why}"
                                  if n < full[m] else f"{method} {m}{why}")
                if n < full[m]:
                    short.add((i, j))
            row.append(text)
        rows.append(row)
    for j, m in enumerate(metrics, start=1):
        means = {i: float(cell[(meth, m)].mean) for i, meth in enumerate(methods)
                 if (meth, m) in cell and (i, j) not in short and math.isfinite(float(cell[(meth, m)].mean))}
        if means:
            best = max(means.values()) if higher_is_better[m] else min(means.values())
            bold |= {(i, j) for i, v in means.items() if v == best}
    default_note = (f"mean [95% CI] over images; {UP} higher is better, {DOWN} lower is better; "
                    "bold = best mean per metric")
    note = default_note if note is None else note
    if marked:
        note += (" † " + "; ".join(marked) + ". A mean over fewer images than the other methods is not "
                 "compared for bold.")
    return Table(caption, cols, rows, bold, note)


def scale_matrix(scale: pd.DataFrame, *, rows: str, columns: str, caption: str = "", note: str = "",
                 digits: int = 2, row_order: Sequence[str] | None = None, best: str = "column") -> Table:
    """A wide scale table: one row per ``rows`` value, one column per ``columns`` value.

    Cells are ``score [ci_low, ci_high]``; the best score of each column is
    bold (``best="row"``: of each row).  ``scale`` has ``rows, columns, score, ci_low, ci_high`` (e.g.
    :func:`~eyetest.core.judgments.ranking.rank` output with
    ``condition`` = method and ``dimension`` or ``scenario`` as the group).
    """
    need = [rows, columns, "score", "ci_low", "ci_high"]
    missing = [c for c in need if c not in scale.columns]
    if missing:
        raise MetricInputError(f"scale matrix needs column(s) {', '.join(missing)}")
    col_values = sorted(map(str, scale[columns].unique()))
    row_values = list(row_order) if row_order else sorted(map(str, scale[rows].unique()))
    cell = {(str(r[rows]), str(r[columns])): r for _, r in scale.iterrows()}
    out_rows, bold = [], set()
    for i, rv in enumerate(row_values):
        out_rows.append([rv] + [fmt_ci(cell[(rv, cv)]["score"], cell[(rv, cv)]["ci_low"], cell[(rv, cv)]["ci_high"],
                                       digits) if (rv, cv) in cell else "-" for cv in col_values])
    if best == "column":
        groups = [[(i, j, rv, cv) for i, rv in enumerate(row_values)] for j, cv in enumerate(col_values, start=1)]
    else:
        groups = [[(i, j, rv, cv) for j, cv in enumerate(col_values, start=1)] for i, rv in enumerate(row_values)]
    for g in groups:
        vals = {(i, j): float(cell[(rv, cv)]["score"]) for i, j, rv, cv in g if (rv, cv) in cell}
        if vals:
            top = max(vals.values())
            bold |= {k for k, v in vals.items() if v == top}
    return Table(caption, [rows] + col_values, out_rows, bold, note)


def alignment_matrix(alignment: pd.DataFrame | None, agreement: pd.DataFrame | None, *,
                     caption: str = "", note: str = "", digits: int = 2) -> Table:
    """Metric x {SRCC, KRCC, PLCC, RMSE, agreement} with CIs; best |value| per column bold."""
    stats = ["srcc", "krcc", "plcc", "rmse"] if alignment is not None and len(alignment) else []
    metrics: list = []
    for t in (alignment, agreement):
        if t is not None and len(t):
            metrics = list(dict.fromkeys(metrics + list(t["metric"])))
    cols = ["metric"] + [s.upper() for s in stats] + (["pairwise agreement"] if agreement is not None
                                                       and len(agreement) else [])
    rows, values = [], {}
    for i, m in enumerate(metrics):
        row = [m]
        for j, s in enumerate(stats, start=1):
            hit = alignment[(alignment["metric"] == m) & (alignment["statistic"] == s)]
            if hit.empty:
                row.append("-")
                continue
            r = hit.iloc[0]
            row.append(fmt_ci(r["value"], r["ci_low"], r["ci_high"], digits))
            values.setdefault(j, {})[i] = float(r["value"]) if s != "rmse" else -float(r["value"])
        if len(cols) > len(stats) + 1:
            hit = agreement[agreement["metric"] == m]
            if hit.empty:
                row.append("-")
            else:
                r = hit.iloc[0]
                row.append(fmt_ci(r["agreement"], r["ci_low"], r["ci_high"], digits))
                values.setdefault(len(cols) - 1, {})[i] = float(r["agreement"])
        rows.append(row)
    bold = set()
    for j, vals in values.items():
        finite = {i: v for i, v in vals.items() if math.isfinite(v)}
        if finite:
            best = max(finite.values())
            bold |= {(i, j) for i, v in finite.items() if v == best}
    return Table(caption, cols, rows, bold, note)


def frame_table(df: pd.DataFrame, *, caption: str = "", note: str = "", digits: int = 3,
                columns: Sequence[str] | None = None, rename: Mapping[str, str] | None = None,
                percent: Sequence[str] = (), decimals: int | None = None) -> Table:
    """Any DataFrame as a :class:`Table`; ``percent`` columns shown as ``12%``.

    ``decimals``: finite floats with exactly this many decimals (``0.00``,
    ``1.00``, ``10.44``) instead of :func:`fmt`'s significant digits, so a
    column of rates reads alike.
    """
    cols = list(columns) if columns else list(df.columns)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise MetricInputError(f"table {caption!r}: no column(s) {', '.join(missing)}")
    rows = []
    for r in df[cols].itertuples(index=False):
        row = []
        for c, v in zip(cols, r):
            if c in percent and v == v and v is not None:
                row.append(f"{100 * float(v):.0f}%")
            elif isinstance(v, (float, int)) and not isinstance(v, bool):
                if isinstance(v, float) and decimals is not None and math.isfinite(v):
                    row.append(f"{v:.{decimals}f}")
                else:
                    row.append(fmt(v, digits) if isinstance(v, float) else str(v))
            else:
                row.append(fmt(v) if isinstance(v, bool) else ("" if v is None or v != v else str(v)))
        rows.append(row)
    names = [(rename or {}).get(c, c) for c in cols]
    return Table(caption, names, rows, set(), note)
