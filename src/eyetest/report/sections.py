"""The report's sections: each builder returns a :class:`~eyetest.report.html.Section`.

All statistics come from :mod:`eyetest.core` (judgment scaling, rater
screening, alignment, views, family trends, audit); this module only picks
inputs, calls them with seeded generators and lays out figures and tables.
A section whose inputs are missing is returned with a one-line note instead
of content.
"""

from __future__ import annotations

import html as _html
from pathlib import Path

import numpy as np
import pandas as pd

from eyetest.report.context import Context, explode_scenarios, rank_correlations, scenario_tags
from eyetest.report.html import Section, crop_uri, figure_html, para, table_html
from eyetest.report.tables import (
    Table,
    alignment_matrix,
    fmt,
    fmt_ci,
    frame_table,
    md_text,
    metric_table,
    scale_matrix,
    to_latex,
    to_markdown,
)


def _absent(id_, title, note, simulated=False) -> Section:
    return Section(id_, title, note=note, simulated=simulated)


def _tables(section: Section, *tables) -> str:
    out = []
    for t in tables:
        section.markdown.append(to_markdown(t))
        section.latex.append(to_latex(t))
        out.append(table_html(t))
    return "".join(out)


# --- sections ---------------------------------------------------------------------------

def summary_section(ctx: Context) -> Section:
    s = Section("summary", "Summary and regime")
    body = [f'<div class="callout">{_html.escape(ctx.regime_text())}</div>']
    if ctx.simulated:
        body.append('<div class="callout sim"><b>Simulated judgments.</b> Every human-study number in this '
                    "report comes from eyetest's rater simulator, not from people. It shows how the analysis "
                    "works; it is not evidence about human preference.</div>")
    inp = ctx.inputs
    have = [name for name, ok in (("metric scores", inp.scores is not None), ("metric audit", inp.audit is not None),
                                  ("rating judgments" if ctx.ratings else "pairwise judgments",
                                   inp.judgments is not None),
                                  ("human scale", inp.scale is not None)) if ok]
    body.append(para("Inputs: " + ", ".join(have) + "."))
    if ctx.findings:
        items = "".join(f"<li>{_html.escape(f)}</li>" for f in ctx.findings)
        body.append(f"<h3>Key results</h3><ul>{items}</ul>")
        s.markdown.append("**Key results**\n\n" + "\n".join(f"- {md_text(f)}" for f in ctx.findings) + "\n")
    s.html = "".join(body)
    return s


def methods_section(ctx: Context) -> Section:
    if not ctx.methods:
        return _absent("methods", "Methods", "no method names (no scores or judgments given)")
    s = Section("methods", "Methods")
    scen = ctx.inputs.scenarios
    rows = pd.DataFrame({"method": ctx.methods,
                         "family": [ctx.inputs.families.get(m, "") for m in ctx.methods],
                         "description": [ctx.descriptions.get(m, "") for m in ctx.methods]})
    rows = rows[[c for c in rows.columns if c == "method" or rows[c].astype(str).str.len().any()]]
    t = frame_table(rows, caption="Methods compared")
    html = _tables(s, t)
    if scen:
        counts = scenario_tags(scen)["scenario"].value_counts().sort_index()
        text = "Scenarios (images per tag; an image may carry several): " + ", ".join(
            f"{k} ({v})" for k, v in counts.items()) + "."
        html += para(text)
        s.markdown.append(md_text(text) + "\n")
    s.html = html
    return s


def metrics_section(ctx: Context) -> Section:
    from eyetest.core.stats import mean_ci_t

    sc = ctx.inputs.scores
    if sc is None or not ctx.metrics:
        why = ctx.direction_note() if sc is not None else ""
        return _absent("metrics", "Metric results", why or "no metric scores (give a results folder or --scores)")
    s = Section("metrics", "Metric results")
    rows = []
    for (method, metric), g in sc[sc["metric"].isin(ctx.metrics)].groupby(["method", "metric"], sort=True):
        ci = mean_ci_t(g["value"].to_numpy(float), confidence=0.95)
        rows.append({"method": str(method), "metric": metric, "mean": ci.mean, "ci_low": ci.low,
                     "ci_high": ci.high, "n": ci.n, "excluded": ci.excluded})
    summary = pd.DataFrame(rows)
    t = metric_table(summary, higher_is_better=ctx.directions, metrics=ctx.metrics,
                     caption="Metric battery per method: mean [95% t-interval] over images",
                     note="↑ higher is better, ↓ lower is better; bold = best mean per metric. "
                          "A best score is not a best method: see the audit and the alignment with people.")
    t.label = "tab:metrics"
    html = _tables(s, t)
    if ctx.undirected:
        html += para(ctx.direction_note() + ".")
        s.markdown.append(md_text(ctx.direction_note()) + ".\n")
    best = {}
    for m in ctx.metrics:
        part = summary[(summary["metric"] == m) & np.isfinite(summary["mean"].astype(float))]
        part = part[part["n"] == part["n"].max()]   # as in the table: means over all images compete
        if len(part):
            best[m] = str(part.loc[part["mean"].idxmax() if ctx.directions[m] else part["mean"].idxmin(), "method"])
    if best:
        ctx.findings.append("Best mean per metric: " + ", ".join(f"{m} → {b}" for m, b in best.items()) + ".")
    s.html = html
    return s


#: fewer audited images than this and the report warns that the shares are coarse
FEW_AUDIT_IMAGES = 5


def audit_section(ctx: Context) -> Section:
    inp = ctx.inputs
    if inp.audit is not None and ctx.audit_error:
        return _absent("audit", "Metric audit", ctx.audit_error)
    g = ctx.audit_gameability
    if inp.audit is None or g is None or g.empty:
        return _absent("audit", "Metric audit", "no audit results (run eyetest audit, or give --audit)")
    from eyetest.report.audit_plots import plot_gameability

    s = Section("audit", "Metric audit: can a trick move the metric?")
    fig = plot_gameability(g)
    html = para("Each metric is computed on untouched references and under manipulations that do not "
                "restore anything (tricks, degradations). A metric is flagged gameable when a "
                "fidelity-reducing manipulation improves its score on more than half of the images.")
    n_img = ctx.audit_images
    if 0 < n_img < FEW_AUDIT_IMAGES:
        warn = (f"Only {n_img} image{'s' if n_img != 1 else ''} audited: the share of images improved moves in "
                f"steps of {100 / n_img:.0f}%, so a flag is indicative only"
                + (", and a mean change has no interval." if n_img == 1 else "; read it with the interval."))
        html += para(warn, cls="tnote")
        s.markdown.append(md_text(warn) + "\n")
    html += figure_html(fig, alt="gameability heat map", caption="Share of images whose score improves "
                        "under each manipulation (at the strength where the share is largest); outlined = gameable.")
    flagged = g[g["gameable"].astype(bool)].copy()
    if len(flagged):
        per = flagged.groupby("metric")["manipulation"].apply(lambda x: ", ".join(sorted(x)))
        few = f" (from {n_img} image{'s' if n_img != 1 else ''} only)" if 0 < n_img < FEW_AUDIT_IMAGES else ""
        ctx.findings.append("Audit: gameable metrics" + few + ": "
                            + "; ".join(f"{m} (by {v})" for m, v in per.items()) + ".")
        flagged["mean change [95% CI]"] = [fmt(a) + " (n=1: no interval)" if n_img == 1 else fmt_ci(a, b, c)
                                           for a, b, c in
                                           zip(flagged["mean_delta_at"], flagged["ci_low_at"], flagged["ci_high_at"])]
        t = frame_table(flagged, caption="Gameability flags", percent=("max_share_improved",),
                        columns=["metric", "manipulation", "kind", "max_share_improved", "at_strength",
                                 "mean change [95% CI]"],
                        rename={"max_share_improved": "images improved", "at_strength": "strength"})
        html += _tables(s, t)
    else:
        html += para("No metric was flagged gameable.")
        ctx.findings.append("Audit: no metric was flagged gameable.")
    cf = ctx.audit_context_flags
    if cf is not None and len(cf):
        col = "prefers_sharpened" if "prefers_sharpened" in cf.columns else "gameable"
        cfx = cf.groupby("metric", sort=True).agg(share=("max_share_improved", "max"), flag=(col, "any")).reset_index()
        t = frame_table(cfx, caption="Intended blur (depth of field, motion): does the metric prefer a "
                                     "sharpened version?", percent=("share",),
                        rename={"share": "images preferring sharpened", "flag": "flag"})
        html += _tables(s, t)
    s.html = html
    return s


NO_SCENARIOS = ("No scenario tags (scenarios.csv in the dataset, --scenarios, or a scenario column in the "
                "scores or judgments): per-scenario tables are left out.")


def human_section(ctx: Context) -> Section:
    if ctx.cond_scale is None:
        return _absent("human", "Human study: scales", f"the judgments could not be scaled: {ctx.human_error}"
                       if ctx.human_error else "no judgments or human scale (give --judgments)")
    s = Section("human", "Human study: scales per dimension and scenario", simulated=ctx.simulated)
    unit = "MOS" if ctx.ratings else "BT score (logit)"
    html = []
    if ctx.simulated:
        html.append(para("All judgments below are SIMULATED (eyetest's rater simulator).", cls="tnote"))
    if ctx.method_scale is not None:
        ms = ctx.method_scale.rename(columns={"condition": "method"})
        order = (ms[ms["dimension"] == ctx.primary].sort_values("score", ascending=False)["method"].tolist()
                 or None)
        t = scale_matrix(ms, rows="method", columns="dimension", row_order=order,
                         caption=("MOS per method and dimension (95% t-interval)" if ctx.ratings else
                                  "Bradley-Terry scale per method and dimension (logit units, 95% CI)")
                                 + (" - simulated" if ctx.simulated else ""),
                         note=("Ratings of all images pooled per method (repeat ratings and excluded raters "
                               "left out)" if ctx.ratings else "Judgments of all images pooled per method (gold "
                               "trials and excluded raters left out)") + "; bold = best per dimension.")
        t.label = "tab:human-dimensions"
        lab = "simulated raters" if ctx.simulated else "raters"
        tops = [f"{d}: {g.sort_values('score', ascending=False)['method'].iloc[0]}"
                for d, g in ms.groupby("dimension", sort=True)]
        ctx.findings.append(f"Preferred by the {lab} per dimension: " + ", ".join(tops) + ".")
        html.append(_tables(s, t))
        from eyetest.core.alignment import method_dimension_matrix
        from eyetest.report.figures import dimension_heatmap

        m = method_dimension_matrix(ms)
        if m.shape[1] > 1:
            html.append(figure_html(dimension_heatmap(m, value_label=unit), alt="method x dimension heat map",
                                    caption=f"Method x dimension ({unit}" + (", simulated)" if ctx.simulated else ")")))
    if ctx.scenario_scale is not None:
        t = scale_matrix(ctx.scenario_scale.rename(columns={"condition": "method"}), rows="scenario",
                         columns="method", best="row",
                         caption=f"{'MOS' if ctx.ratings else 'Bradley-Terry scale'} per scenario ({ctx.primary}, 95% CI)"
                                 + (" - simulated" if ctx.simulated else ""),
                         note="bold = preferred method of the scenario; an image may carry several scenarios.")
        html.append(_tables(s, t))
        from eyetest.core.alignment import leaderboard
        from eyetest.report.figures import leaderboard_figure

        board = leaderboard(ctx.scenario_scale.rename(columns={"condition": "method", "score": "value"}),
                            value="value", by=("scenario",), unit="scenario")
        board = board[board["scenario"] != "all"]
        html.append(figure_html(leaderboard_figure(board, value_label=unit),
                                alt="human scale per scenario",
                                caption="Per-scenario leaderboards of the human scale with 95% CIs"
                                        + (" (simulated)" if ctx.simulated else "") + "."))
    elif ctx.method_scale is not None and not ctx.inputs.scenarios:
        html.append(para(NO_SCENARIOS, cls="tnote"))
        s.markdown.append(md_text(NO_SCENARIOS) + "\n")
    if ctx.method_scale is None and ctx.inputs.scale is not None:
        html.append(_tables(s, frame_table(ctx.cond_scale.head(200), caption="Given human scale")))
    s.html = "".join(html)
    return s


def alignment_section(ctx: Context) -> Section:
    human = ctx.human_primary()
    if human is None or ctx.inputs.scores is None or not ctx.metrics:
        return _absent("alignment", "Metric-human alignment", "needs both metric scores and human judgments/scale",
                       simulated=ctx.simulated)
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
    html = [_tables(s, t), figure_html(alignment_figure(al, statistic="srcc"), alt="SRCC per metric",
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
            html.append(_tables(s, frame_table(wide.fillna("-"), caption="SRCC within each method family "
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
    return _tables(s, t)


def scenario_section(ctx: Context) -> Section:
    if ctx.judgments is None or "method_a" not in ctx.judgments.columns:
        return _absent("scenarios", "Scenario view: head to head", "needs pairwise judgments with method names",
                       simulated=ctx.simulated)
    from eyetest.core.alignment import head_to_head
    from eyetest.report.figures import head_to_head_figure

    j = ctx.judgments[ctx.judgments["dimension"] == ctx.primary]
    a, b = ctx.compare if ctx.compare else _top_two(ctx)
    s = Section("scenarios", f"Scenario view: {a} vs {b}", simulated=ctx.simulated)
    overall = head_to_head(j, method_a=a, method_b=b, by=())
    if ctx.inputs.scenarios:
        per = head_to_head(explode_scenarios(j, scenario_tags(ctx.inputs.scenarios)), method_a=a, method_b=b, by=("scenario",))
        per = per[per["scenario"] != "all"]
        table = pd.concat([overall.assign(scenario="all"), per], ignore_index=True)
    else:
        table = overall.assign(scenario="all")
    fig = head_to_head_figure(table, title=f"{a} vs {b} per scenario ({ctx.primary}"
                              + (", SIMULATED raters)" if ctx.simulated else ")"))
    html = [figure_html(fig, alt=f"{a} vs {b} per scenario",
                        caption=f"Share of votes {a} better / same / {b} better per scenario, with vote counts "
                                "and 95% Wilson intervals; 'all' counts each vote once.")]
    share = f"share {a} better or same [95% CI]"
    table[share] = [fmt_ci(v, lo, hi, 2) for v, lo, hi in
                    zip(table["share_a_or_same"], table["a_or_same_low"], table["a_or_same_high"])]
    t = frame_table(table, columns=["scenario", "a_better", "same", "b_better", "n", share],
                    rename={"a_better": f"{a} better", "b_better": f"{b} better"},
                    caption=f"{a} vs {b}: votes per scenario" + (" (simulated)" if ctx.simulated else ""),
                    note="" if ctx.inputs.scenarios else NO_SCENARIOS)
    html.append(_tables(s, t))
    s.html = "".join(html)
    return s


def _top_two(ctx: Context):
    ms = ctx.method_scale
    if ms is None:
        return tuple(ctx.methods[:2])
    best = ms[ms["dimension"] == ctx.primary].sort_values("score", ascending=False)["condition"].tolist()
    return best[0], best[1]


def family_section(ctx: Context) -> Section:
    fam = ctx.inputs.families
    if ctx.inputs.scores is None or not fam or len(set(fam.values())) < 2:
        return _absent("families", "Family trends", "needs metric scores and at least two method families (methods.csv)")
    from eyetest.core.alignment import family_trends
    from eyetest.report.figures import family_win_rate_figure

    s = Section("families", "Family trends", simulated=ctx.simulated)
    sc = ctx.inputs.scores[ctx.inputs.scores["method"].isin(list(fam))]
    human = ctx.human_primary()
    trends = family_trends(sc, metrics={m: ctx.directions[m] for m in ctx.metrics},
                           human=None if human is None else human[human["method"].isin(list(fam))], families=fam)
    if ctx.simulated:
        trends["source"] = trends["source"].replace({"human": "human (simulated)"})
    html = [figure_html(family_win_rate_figure(trends), alt="family win rates",
                        caption="Per image, the family whose best method scores best wins; share of images won.")]
    wide = trends.pivot(index="source", columns="family", values="win_rate")
    wide = wide.reindex(list(dict.fromkeys(trends["source"]))).reset_index()
    wide.columns = [str(c) for c in wide.columns]
    wide["images"] = trends.groupby("source", sort=False)["n_images"].first().reindex(wide["source"]).to_numpy()
    t = frame_table(wide, percent=[c for c in wide.columns if c not in ("source", "images")],
                    caption="Family win rate per metric and for the raters",
                    note="share of contested images where the family's best method scores best (ties split)")
    html.append(_tables(s, t))
    s.html = "".join(html)
    return s


def _find_image(root: Path | None, sub: str, image: str) -> Path | None:
    if root is None:
        return None
    folder = root / sub
    if not folder.is_dir():
        return None
    hits = sorted(p for p in folder.glob(f"{image}.*") if p.is_file())
    return hits[0] if hits else None


def _detail_box(path: Path | None, *, size: int = 64) -> tuple | None:
    """The ``size`` x ``size`` window of the reference with the most gradient energy (stride 8)."""
    from PIL import Image

    if path is None:
        return None
    try:
        with Image.open(path) as im:
            g = np.asarray(im.convert("L"), dtype=np.float64)
    except OSError:
        return None
    if min(g.shape) <= size:
        return None
    e = np.zeros_like(g)
    e[:, 1:] += np.abs(np.diff(g, axis=1))
    e[1:, :] += np.abs(np.diff(g, axis=0))
    c = np.pad(e.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    best, box = -1.0, None
    for y in range(0, g.shape[0] - size + 1, 8):
        for x in range(0, g.shape[1] - size + 1, 8):
            v = c[y + size, x + size] - c[y, x + size] - c[y + size, x] + c[y, x]
            if v > best:
                best, box = v, (x, y, x + size, y + size)
    return box


def gallery_section(ctx: Context, *, k: int = 2) -> Section:
    pairs = ctx.pairs()
    if pairs is None or ctx.inputs.scores is None or not ctx.metrics:
        return _absent("gallery", "Disagreement gallery", "needs metric scores and pairwise judgments",
                       simulated=ctx.simulated)
    from eyetest.core.alignment import disagreement_gallery

    prim = pairs[pairs["dimension"] == ctx.primary] if "dimension" in pairs.columns else pairs
    gal = disagreement_gallery(prim, ctx.inputs.scores, metrics={m: ctx.directions[m] for m in ctx.metrics}, k=k)
    s = Section("gallery", "Disagreement gallery", simulated=ctx.simulated)
    if gal.empty:
        s.html = para("No pair where a metric and the raters disagree.")
        return s
    root = ctx.inputs.dataset
    cards = []
    for r in gal.itertuples(index=False):
        d = r._asdict()
        img = str(d.get("image", ""))
        ma, mb = str(d.get("method_a", "")), str(d.get("method_b", ""))
        human_pref = ma if d["wins_a"] > d["wins_b"] else mb
        thumbs = []
        box = _detail_box(_find_image(root, "gt", img))
        for label, sub in (("reference", "gt"), (ma, f"methods/{ma}"), (mb, f"methods/{mb}")):
            p = _find_image(root, sub, img)
            uri = crop_uri(p, box=box) if p is not None else None
            if uri is None:
                continue
            cls = ' class="win"' if label == human_pref else ""
            thumbs.append(f'<div><img{cls} alt="{_html.escape(label)}" src="{uri}">{_html.escape(label)}</div>')
        metric = d["metric"]
        arrow = "↑" if ctx.directions[metric] else "↓"
        e = _html.escape
        text = (f"<b>{e(metric)} {arrow}</b> on <b>{e(img)}</b>: raters preferred "
                f"<b>{e(human_pref)}</b> ({int(d['wins_a'])}:{int(d['wins_b'])}, {int(d['ties'])} ties"
                f"{', simulated' if ctx.simulated else ''}); {e(metric)} gives {e(ma)} {fmt(d['metric_a'])}, "
                f"{e(mb)} {fmt(d['metric_b'])}.")
        cards.append(f'<div class="case"><div class="imgs">{"".join(thumbs)}</div><p>{text}</p></div>')
    if root is not None:
        note = ""
    elif ctx.inputs.dataset_recorded:
        note = (f" (no dataset folder found: the score manifest's {ctx.inputs.dataset_recorded!r} does not exist "
                "from here; pass --dataset; thumbnails left out)")
    else:
        note = " (no dataset folder found: thumbnails left out)"
    s.html = (para(f"The {k} strongest disagreements per metric ({ctx.primary}); 64 px crops where the reference has the most "
                   "detail, enlarged; outlined = preferred by the raters" + note + ".")
              + f'<div class="gallery">{"".join(cards)}</div>')
    return s


def rater_section(ctx: Context) -> Section:
    if ctx.screen is None:
        return _absent("raters", "Rater quality", "no pairwise judgments", simulated=ctx.simulated)
    s = Section("raters", "Rater quality", simulated=ctx.simulated)
    t = ctx.screen.table.copy()
    if ctx.simulated:
        t["rater"] = t["rater"].astype(str) + " (simulated)"
    cols = [c for c in ("rater", "n_gold", "gold_accuracy", "consistency", "circular_rate", "too_fast_rate",
                        "modal_rate", "sprt_decision", "dist_L", "rating_too_fast_rate", "rating_modal_rate",
                        "rating_repeat_mad", "rating_repeat_mad_chance", "bt500_P", "bt500_Q", "excluded",
                        "reasons") if c in t.columns]
    tab = frame_table(t, columns=cols, digits=2, decimals=2, percent=[c for c in ("too_fast_rate",) if c in cols],
                      rename={"n_gold": "gold trials", "gold_accuracy": "gold accuracy",
                              "consistency": "self-consistency", "circular_rate": "circular triads",
                              "too_fast_rate": "too fast", "modal_rate": "modal answer",
                              "sprt_decision": "SPRT", "dist_L": "LOO dist_L",
                              "rating_repeat_mad": "repeat |diff|", "rating_repeat_mad_chance": "|diff| by chance"},
                      caption="Rater screening (pwcmp / ITU-style checks)",
                      note=("exclusion applied before scaling: " + (", ".join(map(str, ctx.excluded)) or "none")
                            if ctx.exclude_mode == "auto" else "exclusions recommended only, not applied"))
    html = ""
    if ctx.simulated:
        html += para("These raters are simulated; the simulator includes random clickers on purpose so the "
                     "screening has something to find.", cls="tnote")
    s.html = html + _tables(s, tab)
    return s


def adoption_section(ctx: Context) -> Section:
    t = ctx.inputs.adoption
    if t is None:
        return _absent("adoption", "Metric adoption in the literature",
                       "no adoption table (eyetest adoption PAPERS.csv --out adoption.csv)")
    from eyetest.report.figures import adoption_figure

    s = Section("adoption", "Metric adoption in the literature")
    cols = [c for c in ("metric", "reporting", "eligible", "adoption_rate", "available_after", "first_year")
            if c in t.columns]
    tab = frame_table(t, columns=cols, percent=("adoption_rate",), digits=0,
                      rename={"adoption_rate": "adoption rate", "available_after": "proposed",
                              "first_year": "first reported"},
                      caption="Metric adoption: papers reporting the metric / papers published after it",
                      note="eligible = papers for which the metric was available (yes or no cells)")
    s.html = figure_html(adoption_figure(t), alt="metric adoption", caption="Adoption rate per metric.") + _tables(s, tab)
    return s


def provenance_section(ctx: Context, timings: dict) -> Section:
    s = Section("provenance", "Provenance")
    sm = ctx.inputs.score_manifest or {}
    html = []
    if sm.get("versions"):
        v = pd.DataFrame({"software": list(sm["versions"]), "version": [str(x) for x in sm["versions"].values()]})
        html.append(_tables(s, frame_table(v, caption="Software versions (from the score manifest)")))
    if sm.get("metrics"):
        rows = [{"metric": k, "preset": v.get("preset"), "version": v.get("version"),
                 "resources (sha256)": ", ".join(f"{n}:{h[:12]}" for n, h in (v.get("resources") or {}).items())}
                for k, v in sm["metrics"].items()]
        html.append(_tables(s, frame_table(pd.DataFrame(rows), caption="Metric settings")))
    files = ctx.file_hashes()
    if files:
        rows = pd.DataFrame([{"input": k, "file": Path(v["path"]).name, "sha256": v["sha256"][:16] + "..."}
                             for k, v in files.items()])
        html.append(_tables(s, frame_table(rows, caption="Tables read by this report (full hashes in card.json)")))
    inputs = sm.get("inputs") or {}
    if inputs:
        items = "".join(f"<tr><td>{_html.escape(p)}</td><td class=\"mono\">{h}</td></tr>" for p, h in inputs.items())
        html.append(f"<details><summary>{len(inputs)} scored image files with SHA256</summary>"
                    f'<div class="tablewrap"><table class="data">{items}</table></div></details>')
    tim = dict(timings or {})
    if sm.get("timings_s"):
        tim.update({f"score: {k}": v for k, v in sm["timings_s"].items() if isinstance(v, (int, float))})
    if tim:
        t = pd.DataFrame({"step": list(tim), "seconds": [float(x) for x in tim.values()]})
        html.append(_tables(s, frame_table(t, caption="Timings", digits=2)))
    if not html:
        return _absent("provenance", "Provenance", "no manifest found (scores written by eyetest score carry one)")
    s.html = "".join(html)
    return s


__all__ = ["Context", "Section", "adoption_section", "alignment_section", "audit_section", "family_section", "gallery_section",
           "human_section", "methods_section", "metrics_section", "provenance_section", "rater_section",
           "scenario_section", "summary_section"]

