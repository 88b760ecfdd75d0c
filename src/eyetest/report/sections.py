"""The report's sections: each builder returns a :class:`~eyetest.report.html.Section`.

All statistics come from :mod:`eyetest.core` (judgment scaling, rater
screening, alignment, views, family trends, audit); this module only picks
inputs, calls them with seeded generators and lays out figures and tables.
A section whose inputs are missing is returned with a one-line note instead
of content.

This module holds the sections on the inputs themselves (summary, methods,
metric results, audit, raters, adoption, provenance) and is where every
section builder is imported from; the human-study sections live in
:mod:`eyetest.report.human_sections`, the alignment section in
:mod:`eyetest.report.alignment_section` and the disagreement gallery in
:mod:`eyetest.report.gallery_section`.
"""

from __future__ import annotations

import html as _html
from pathlib import Path

import numpy as np
import pandas as pd

from eyetest.report.alignment_section import alignment_section
from eyetest.report.context import Context, scenario_tags
from eyetest.report.gallery_section import gallery_section
from eyetest.report.html import (
    Section,
    figure_html,
    omitted_section,
    para,
    section_tables,
)
from eyetest.report.human_sections import (
    NO_SCENARIOS,
    family_section,
    human_section,
    scenario_section,
)
from eyetest.report.tables import fmt, fmt_ci, frame_table, md_text, metric_table


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
        return omitted_section("methods", "Methods", "no method names (no scores or judgments given)")
    s = Section("methods", "Methods")
    scen = ctx.inputs.scenarios
    rows = pd.DataFrame({"method": ctx.methods,
                         "family": [ctx.inputs.families.get(m, "") for m in ctx.methods],
                         "description": [ctx.descriptions.get(m, "") for m in ctx.methods]})
    rows = rows[[c for c in rows.columns if c == "method" or rows[c].astype(str).str.len().any()]]
    t = frame_table(rows, caption="Methods compared")
    html = section_tables(s, t)
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
        return omitted_section("metrics", "Metric results",
                               why or "no metric scores (give a results folder or --scores)")
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
    html = section_tables(s, t)
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
        return omitted_section("audit", "Metric audit", ctx.audit_error)
    g = ctx.audit_gameability
    if inp.audit is None or g is None or g.empty:
        return omitted_section("audit", "Metric audit", "no audit results (run eyetest audit, or give --audit)")
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
        html += section_tables(s, t)
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
        html += section_tables(s, t)
    s.html = html
    return s


def rater_section(ctx: Context) -> Section:
    if ctx.screen is None:
        return omitted_section("raters", "Rater quality", "no pairwise judgments", simulated=ctx.simulated)
    s = Section("raters", "Rater quality", simulated=ctx.simulated)
    t = ctx.screen.table.copy()
    raw = ctx.inputs.judgments
    if raw is not None and "session_status" in raw.columns and raw["session_status"].notna().any():
        # a study's judgments: whether each rater finished the session or left it (expired)
        status = raw.drop_duplicates("rater").set_index("rater")["session_status"]
        t.insert(1, "session", t["rater"].map(status))
    if ctx.simulated:
        t["rater"] = t["rater"].astype(str) + " (simulated)"
    cols = [c for c in ("rater", "session", "n_gold", "gold_accuracy", "consistency", "circular_rate", "too_fast_rate",
                        "modal_rate", "sprt_decision", "dist_L", "rating_n_gold", "rating_gold_accuracy",
                        "rating_gold_chance", "rating_too_fast_rate", "rating_modal_rate",
                        "rating_repeat_mad", "rating_repeat_mad_chance", "bt500_P", "bt500_Q", "excluded",
                        "reasons") if c in t.columns]
    tab = frame_table(t, columns=cols, digits=2, decimals=2, percent=[c for c in ("too_fast_rate",) if c in cols],
                      rename={"n_gold": "gold trials", "gold_accuracy": "gold accuracy",
                              "consistency": "self-consistency", "circular_rate": "circular triads",
                              "too_fast_rate": "too fast", "modal_rate": "modal answer",
                              "sprt_decision": "SPRT", "dist_L": "LOO dist_L",
                              "rating_n_gold": "gold ratings", "rating_gold_accuracy": "gold accuracy",
                              "rating_gold_chance": "gold by chance",
                              "rating_repeat_mad": "repeat |diff|", "rating_repeat_mad_chance": "|diff| by chance"},
                      caption="Rater screening (pwcmp / ITU-style checks)",
                      note=("exclusion applied before scaling: " + (", ".join(map(str, ctx.excluded)) or "none")
                            if ctx.exclude_mode == "auto" else "exclusions recommended only, not applied"))
    html = ""
    if ctx.simulated:
        html += para("These raters are simulated; the simulator includes random clickers on purpose so the "
                     "screening has something to find.", cls="tnote")
    s.html = html + section_tables(s, tab)
    return s


def adoption_section(ctx: Context) -> Section:
    t = ctx.inputs.adoption
    if t is None:
        return omitted_section("adoption", "Metric adoption in the literature",
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
    s.html = figure_html(adoption_figure(t), alt="metric adoption", caption="Adoption rate per metric.") + section_tables(s, tab)
    return s


def provenance_section(ctx: Context, timings: dict) -> Section:
    s = Section("provenance", "Provenance")
    sm = ctx.inputs.score_manifest or {}
    html = []
    if sm.get("versions"):
        v = pd.DataFrame({"software": list(sm["versions"]), "version": [str(x) for x in sm["versions"].values()]})
        html.append(section_tables(s, frame_table(v, caption="Software versions (from the score manifest)")))
    if sm.get("metrics"):
        rows = [{"metric": k, "preset": v.get("preset"), "version": v.get("version"),
                 "resources (sha256)": ", ".join(f"{n}:{h[:12]}" for n, h in (v.get("resources") or {}).items())}
                for k, v in sm["metrics"].items()]
        html.append(section_tables(s, frame_table(pd.DataFrame(rows), caption="Metric settings")))
    files = ctx.file_hashes()
    if files:
        rows = pd.DataFrame([{"input": k, "file": Path(v["path"]).name, "sha256": v["sha256"][:16] + "..."}
                             for k, v in files.items()])
        html.append(section_tables(s, frame_table(rows, caption="Tables read by this report (full hashes in card.json)")))
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
        html.append(section_tables(s, frame_table(t, caption="Timings", digits=2)))
    if not html:
        return omitted_section("provenance", "Provenance",
                               "no manifest found (scores written by eyetest score carry one)")
    s.html = "".join(html)
    return s


__all__ = ["FEW_AUDIT_IMAGES", "NO_SCENARIOS", "Context", "Section", "adoption_section", "alignment_section",
           "audit_section", "family_section", "gallery_section", "human_section", "methods_section",
           "metrics_section", "provenance_section", "rater_section", "scenario_section", "summary_section"]

