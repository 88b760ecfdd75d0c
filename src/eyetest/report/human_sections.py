"""The human-study sections: scales per dimension and scenario, the head-to-head view, family trends.

The scales come from :class:`~eyetest.report.context.Context` (Bradley-Terry or
MOS, after the rater screening); the views from :mod:`eyetest.core.alignment`.
"""

from __future__ import annotations

import pandas as pd

from eyetest.report.context import Context, explode_scenarios, scenario_tags
from eyetest.report.html import (
    Section,
    figure_html,
    omitted_section,
    para,
    section_tables,
)
from eyetest.report.tables import fmt_ci, frame_table, md_text, scale_matrix

NO_SCENARIOS = ("No scenario tags (scenarios.csv in the dataset, --scenarios, or a scenario column in the "
                "scores or judgments): per-scenario tables are left out.")


def human_section(ctx: Context) -> Section:
    if ctx.cond_scale is None:
        return omitted_section("human", "Human study: scales",
                               f"the judgments could not be scaled: {ctx.human_error}"
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
                         caption=(f"MOS per method and dimension (95% {ctx.pooled_interval})" if ctx.ratings else
                                  "Bradley-Terry scale per method and dimension (logit units, 95% CI)")
                                 + (" - simulated" if ctx.simulated else ""),
                         note=("Ratings of all images pooled per method (gold, attention, repeat and training "
                               "ratings and excluded raters left out)" if ctx.ratings else "Judgments of all images pooled per method (gold "
                               "trials and excluded raters left out)") + "; bold = best per dimension.")
        t.label = "tab:human-dimensions"
        lab = "simulated raters" if ctx.simulated else "raters"
        tops = [f"{d}: {g.sort_values('score', ascending=False)['method'].iloc[0]}"
                for d, g in ms.groupby("dimension", sort=True)]
        ctx.findings.append(f"Preferred by the {lab} per dimension: " + ", ".join(tops) + ".")
        html.append(section_tables(s, t))
        from eyetest.core.alignment import method_dimension_matrix
        from eyetest.report.figures import dimension_heatmap

        m = method_dimension_matrix(ms)
        if m.shape[1] > 1:
            html.append(figure_html(dimension_heatmap(m, value_label=unit), alt="method x dimension heat map",
                                    caption=f"Method x dimension ({unit}" + (", simulated)" if ctx.simulated else ")")))
    if ctx.scenario_scale is not None:
        t = scale_matrix(ctx.scenario_scale.rename(columns={"condition": "method"}), rows="scenario",
                         columns="method", best="row",
                         caption=f"{'MOS' if ctx.ratings else 'Bradley-Terry scale'} per scenario ({ctx.primary}, 95% "
                                 + (f"{ctx.pooled_interval})" if ctx.ratings else "CI)")
                                 + (" - simulated" if ctx.simulated else ""),
                         note="bold = preferred method of the scenario; an image may carry several scenarios.")
        html.append(section_tables(s, t))
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
        html.append(section_tables(s, frame_table(ctx.cond_scale.head(200), caption="Given human scale")))
    s.html = "".join(html)
    return s



def scenario_section(ctx: Context) -> Section:
    if ctx.judgments is None or "method_a" not in ctx.judgments.columns:
        return omitted_section("scenarios", "Scenario view: head to head",
                               "needs pairwise judgments with method names", simulated=ctx.simulated)
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
    html.append(section_tables(s, t))
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
        return omitted_section("families", "Family trends",
                               "needs metric scores and at least two method families (methods.csv)")
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
    html.append(section_tables(s, t))
    s.html = "".join(html)
    return s
