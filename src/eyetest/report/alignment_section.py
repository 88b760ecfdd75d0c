"""The metric-human alignment section and the paired metric-vs-metric comparison.

Statistics from :mod:`eyetest.core.alignment` (SRCC, KRCC, PLCC, RMSE,
pairwise agreement, paired bootstrap comparisons with Holm's correction) and
:func:`eyetest.report.context.rank_correlations`, each with its own seeded
generator (``ctx.rng(salt)``).
"""

from __future__ import annotations

import pandas as pd

from eyetest.report.context import (
    Context,
    explode_scenarios,
    rank_correlations,
    scenario_tags,
)
from eyetest.report.html import (
    Section,
    figure_html,
    omitted_section,
    para,
    section_tables,
)
from eyetest.report.tables import Table, alignment_matrix, fmt_ci, frame_table, md_text


def alignment_section(ctx: Context) -> Section:
    human = ctx.human_primary()
    if human is None or ctx.inputs.scores is None or not ctx.metrics:
        return omitted_section("alignment", "Metric-human alignment",
                               "needs both metric scores and human judgments/scale", simulated=ctx.simulated)
    from eyetest.core.alignment import agreement_table, alignment_table
    from eyetest.report.figures import alignment_figure

    s = Section("alignment", "Metric-human alignment", simulated=ctx.simulated)
    sc = ctx.inputs.scores
    dirs = {m: ctx.directions[m] for m in ctx.metrics}
    al = alignment_table(sc, human, metrics=dirs, rng=ctx.rng(11), n_boot=ctx.n_boot)
    pairs = ctx.pairs()
    ag = None
    if pairs is not None:
        prim = pairs[pairs["dimension"] == ctx.primary] if "dimension" in pairs.columns else pairs
        ag = agreement_table(prim, sc, metrics=dirs, rng=ctx.rng(12), n_boot=ctx.n_boot)
    t = alignment_matrix(al, ag, caption=f"Agreement of each metric with the human scale ({ctx.primary})"
                         + (" - simulated" if ctx.simulated else ""),
                         note="SRCC, KRCC on raw values (lower-is-better metrics negated: positive = agrees "
                              "with people); PLCC, RMSE after the 5-parameter logistic fit; pairwise agreement "
                              "= share of human-decided pairs the metric orders the same way (0.5 = chance). "
                              f"95% image-bootstrap CIs ({ctx.n_boot} resamples). "
                              + ("The comparison graph falls apart into separate components (e.g. one per image "
                                 "when only methods on the same image are compared), each centred on its own: "
                                 "correlations over all conditions then also mix metric differences between "
                                 "components, while pairwise agreement uses judged pairs only."
                                 if any("component(s)" in n for n in ctx.scale_notes) else ""))
    t.label = "tab:alignment"
    if ag is not None and len(ag):
        top = ag.sort_values("agreement", ascending=False).iloc[0]
        low = ag.sort_values("agreement").iloc[0]
        who = "simulated raters" if ctx.simulated else "raters"
        ctx.findings.append(f"Pairwise agreement with the {who} ({ctx.primary}): highest {top['metric']} "
                            f"{top['agreement']:.2f} [{top['ci_low']:.2f}, {top['ci_high']:.2f}], lowest "
                            f"{low['metric']} {low['agreement']:.2f} [{low['ci_low']:.2f}, {low['ci_high']:.2f}] "
                            "(0.5 = chance).")
    html = [section_tables(s, t), figure_html(alignment_figure(al, statistic="srcc"), alt="SRCC per metric",
                                       caption="SRCC with 95% CI per metric.")]
    if len(dirs) >= 2:
        html.append(_metric_comparison(ctx, s, sc, human, dirs, prim if pairs is not None else None))
    h_all = ctx.cond_scale[["image", "method", "score", "dimension"]]
    if h_all["dimension"].nunique() > 1:
        by_dim = rank_correlations(sc, h_all, metrics=dirs, by="dimension", rng=ctx.rng(13),
                                   n_boot=max(50, ctx.n_boot // 2))
        html.append(figure_html(alignment_figure(by_dim, statistic="srcc", by="dimension"),
                                alt="SRCC per dimension", caption="SRCC per perceptual dimension: a metric can "
                                "track sharpness and contradict naturalness."))
    if ctx.inputs.scenarios and pairs is not None:
        tags = scenario_tags(ctx.inputs.scenarios)
        prim = pairs[pairs["dimension"] == ctx.primary] if "dimension" in pairs.columns else pairs
        px = explode_scenarios(prim, tags)
        by_sc = agreement_table(px, sc, metrics=dirs, by=("scenario",), rng=ctx.rng(14),
                                n_boot=max(50, ctx.n_boot // 4))
        from eyetest.report.figures import dimension_heatmap

        mat = by_sc.pivot(index="metric", columns="scenario", values="agreement").reindex(
            [m for m in ctx.metrics if m in set(by_sc["metric"])])
        mat.index.name, mat.columns.name = "metric", "scenario"
        html.append(figure_html(dimension_heatmap(mat, value_label="pairwise agreement", cmap="RdBu"),
                                alt="agreement per scenario",
                                caption="Pairwise agreement of each metric with the raters per scenario "
                                        "(0.5 = chance, below 0.5 = the metric orders pairs against people)."))
    if ctx.inputs.families and len(set(ctx.inputs.families.values())) > 1:
        hf = human.assign(family=human["method"].map(ctx.inputs.families))
        scf = sc.assign(family=sc["method"].map(ctx.inputs.families))
        by_f = rank_correlations(scf, hf.dropna(subset=["family"]), metrics=dirs, by="family",
                                 rng=ctx.rng(15), n_boot=max(50, ctx.n_boot // 2))
        if len(by_f):
            by_f = by_f.assign(cell=[fmt_ci(v, a, b, 2) for v, a, b in zip(by_f["value"], by_f["ci_low"], by_f["ci_high"])])
            wide = by_f[by_f["statistic"] == "srcc"].pivot(index="metric", columns="family", values="cell")
            wide = wide.reindex([m for m in ctx.metrics if m in wide.index]).reset_index()
            wide.columns = [str(c) for c in wide.columns]
            html.append(section_tables(s, frame_table(wide.fillna("-"), caption="SRCC within each method family "
                                               "(does the metric rank methods of one family like people?)",
                                               note="95% image-bootstrap CIs; families with fewer than 3 "
                                                    "conditions are left out.")))
    s.html = "".join(html)
    return s


_COMPARED = {"srcc": "SRCC", "plcc": "PLCC", "agreement": "pairwise agreement"}


def _compare_resamples(n_boot: int, n_pairs: int) -> int:
    """Resamples for the metric comparison: at least ``n_boot`` and enough that the smallest
    bootstrap p-value, ``2 / (B + 1)``, survives Holm's correction over ``n_pairs`` pairs at 0.05."""
    return max(int(n_boot), 50 * int(n_pairs))


def _metric_comparison(ctx: Context, s: Section, scores, human, dirs: dict, pairs) -> str:
    """Paired metric-vs-metric differences on all the data; the pairs significant after Holm."""
    from eyetest.core.alignment import compare_agreement, compare_metrics

    n_pairs = len(dirs) * (len(dirs) - 1) // 2
    n_boot = _compare_resamples(ctx.n_boot, n_pairs)
    parts = [compare_metrics(scores, human, metrics=dirs, rng=ctx.rng(16), n_boot=n_boot)]
    if pairs is not None:
        parts.append(compare_agreement(pairs, scores, metrics=dirs, rng=ctx.rng(17), n_boot=n_boot))
    parts = [p for p in parts if len(p)]
    if not parts:
        return ""
    cmp = pd.concat(parts, ignore_index=True)
    compared = len(cmp[["metric_a", "metric_b"]].drop_duplicates())
    stats = [k for k in _COMPARED if k in set(cmp["statistic"])]
    sig = cmp[cmp["p_holm"] < 0.05]
    n_sig = len(sig[["metric_a", "metric_b"]].drop_duplicates())
    plural = "s" if compared != 1 else ""
    text = (f"{compared} pair{plural} of metrics compared on {', '.join(_COMPARED[k] for k in stats)} "
            f"(paired image bootstrap, {n_boot} resamples; two-sided bootstrap p-values, Holm-adjusted over the "
            f"{compared} pair{plural} of each statistic): {len(sig)} difference(s) in {n_sig} pair(s) "
            "significant at p < 0.05.")
    if sig.empty:
        s.markdown.append(md_text(text) + "\n")
        return para(text, cls="tnote")
    columns = ["metric A vs metric B"]
    for k in stats:
        columns += [f"{_COMPARED[k]} A-B [95% CI]", f"{_COMPARED[k]} p (Holm)"]
    rows, bold = [], set()
    # most significant pairs first; each pair oriented so that its most significant difference is positive
    sig = sig.assign(size=-sig["difference"].abs()).sort_values(["p_holm", "size"], kind="mergesort")
    for i, ((a, b), part) in enumerate(sig.groupby(["metric_a", "metric_b"], sort=False)):
        flip = part["difference"].iloc[0] < 0
        row = [f"{b} vs {a}" if flip else f"{a} vs {b}"]
        for j, k in enumerate(stats):
            hit = cmp[(cmp["metric_a"] == a) & (cmp["metric_b"] == b) & (cmp["statistic"] == k)]
            if hit.empty:
                row += ["-", "-"]
                continue
            r = hit.iloc[0]
            d, lo, hi = (-r["difference"], -r["ci_high"], -r["ci_low"]) if flip else \
                (r["difference"], r["ci_low"], r["ci_high"])
            row += [fmt_ci(d, lo, hi, 2), "-" if r["p_holm"] != r["p_holm"] else f"{r['p_holm']:.3f}"]
            if r["p_holm"] < 0.05:
                bold |= {(i, 1 + 2 * j), (i, 2 + 2 * j)}
        rows.append(row)
    t = Table(f"Does metric A agree with the human scale better than metric B? ({ctx.primary}"
              + (", simulated)" if ctx.simulated else ")"), columns, rows, bold,
              note=text + " Listed: the pairs with at least one significant difference (bold). A-B = difference "
                   "of the statistic (higher = agrees better with people) on the conditions both metrics scored; "
                   f"the smallest attainable p before adjustment is {2.0 / (n_boot + 1):.2g}.")
    t.label = "tab:metric-comparison"
    return section_tables(s, t)
