"""The HTML report: every section, self-contained, numbers from the inputs, honest omissions."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from eyetest.errors import DatasetError
from eyetest.report.build import build_report, collect
from eyetest.report.tables import fmt

SECTIONS = ("summary", "methods", "metrics", "audit", "human", "alignment", "scenarios", "families",
            "gallery", "raters", "provenance")


def _section(html: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}" data-present="(yes|no)">(.*?)</section>', html, re.S)
    assert m, f"section {sid} missing"
    return m.group(1), m.group(2)


def assert_self_contained(html: str) -> None:
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"https?://", html), "the page refers to the network"
    assert "@import" not in html and "url(" not in html
    for src in re.findall(r'src="([^"]*)"', html):
        assert src.startswith("data:image/"), src


def test_demo_report_has_every_section_and_is_self_contained(demo_results):
    html = demo_results.report.read_text()
    for sid in SECTIONS:
        present, body = _section(html, sid)
        assert present == "yes", f"{sid}: {body[:200]}"
    assert_self_contained(html)
    # figures and gallery thumbnails are inline
    assert html.count("data:image/png;base64,") >= 8
    assert html.count("data:image/jpeg;base64,") >= 6
    # simulated judgments are labelled wherever they appear
    for sid in ("human", "alignment", "scenarios", "families", "gallery", "raters"):
        assert "simulated" in _section(html, sid)[1].lower(), sid
    assert "Perception-first regime" in html


def test_metric_table_matches_the_result_table(demo_results):
    out = demo_results.out
    scores = pd.read_csv(out / "results.csv")
    md = (out / "report.md").read_text()
    for method in ("bicubic", "ibp-overgen"):
        mean = scores[(scores["method"] == method) & (scores["metric"] == "psnr")]["value"].mean()
        row = next(ln for ln in md.splitlines() if ln.startswith(f"| {method} |") and "[" in ln)
        assert fmt(mean) in row
    assert "psnr ↑" in md and "niqe ↓" in md
    tex = (out / "report.tex").read_text()
    assert r"psnr $\uparrow$" in tex and r"\begin{tabular}" in tex


def test_head_to_head_counts_match_the_judgments(demo_results):
    out = demo_results.out
    card = json.loads((out / "card.json").read_text())
    a, b = json.loads((out / "about.json").read_text())["compare"]
    j = pd.read_csv(out / "judgments.csv")
    j = j[(j["dimension"] == "overall") & ~j["is_gold"] & ~j["rater"].isin(card["human_study"]["excluded_raters"])]
    ab = j[(j["method_a"] == a) & (j["method_b"] == b)]
    ba = j[(j["method_a"] == b) & (j["method_b"] == a)]
    a_wins = int((ab["outcome"] == "a").sum() + (ba["outcome"] == "b").sum())
    b_wins = int((ab["outcome"] == "b").sum() + (ba["outcome"] == "a").sum())
    same = int((ab["outcome"] == "tie").sum() + (ba["outcome"] == "tie").sum())
    md = (out / "report.md").read_text()
    assert f"| all | {a_wins} | {same} | {b_wins} | {a_wins + same + b_wins} |" in md


def test_rank_correlations_equal_scipy(demo_results):
    from eyetest.report.context import rank_correlations

    scores = pd.DataFrame({"image": np.repeat(["i1", "i2", "i3"], 3), "method": ["a", "b", "c"] * 3,
                           "metric": "m", "value": [3.0, 1.0, 2.0, 5.0, 4.0, 0.5, 1.0, 2.0, 3.0]})
    human = scores[["image", "method"]].assign(score=[1.0, 0.0, 2.0, 3.0, 1.0, 0.0, 0.5, 2.5, 1.5],
                                               dimension="overall")
    rc = rank_correlations(scores, human, metrics={"m": False}, by="dimension", rng=np.random.default_rng(0),
                           n_boot=50)
    rho = spearmanr(-scores["value"], human["score"]).statistic
    assert rc["value"].iloc[0] == pytest.approx(rho)
    assert rc["ci_low"].iloc[0] <= rc["ci_high"].iloc[0] and rc["n"].iloc[0] == 9


def test_scores_only_report_omits_human_sections_with_notes(demo_results):
    out = demo_results.out
    inputs = collect(scores=out / "results.csv")
    report = build_report(inputs)
    html = report.html
    for sid in ("human", "alignment", "scenarios", "gallery", "raters", "audit"):
        present, body = _section(html, sid)
        assert present == "no" and "Omitted:" in body, sid
    for sid in ("metrics", "methods", "provenance", "families"):
        assert _section(html, sid)[0] == "yes", sid
    assert "simulated" not in html.lower()
    assert_self_contained(html)
    assert report.card["human_study"] is None


def test_judgments_only_report(demo_results):
    out = demo_results.out
    report = build_report(collect(judgments=out / "judgments.csv"))
    present = {s.id: s.present for s in report.sections}
    assert present["human"] and present["raters"] and present["scenarios"]
    assert not present["metrics"] and not present["alignment"] and not present["gallery"]
    assert report.card["human_study"]["simulated"] is True


def test_collect_names_missing_files(tmp_path):
    with pytest.raises(DatasetError, match="nope.csv"):
        collect(scores=tmp_path / "nope.csv")
    with pytest.raises(DatasetError, match="nothing to report"):
        collect(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        collect(tmp_path / "missing")


def test_compare_with_unknown_method_is_an_error_listing_the_methods(demo_results):
    # a typo would otherwise cost the head-to-head view; the error lists what can be compared (the
    # demo's gold conditions gt / gold-blur are not methods)
    from eyetest.errors import SpecError

    with pytest.raises(SpecError, match=r"^compare: method 'no-such-method' is in none of the report's inputs; "
                                        r"methods: bicubic, bicubic-usm, ibp, ibp-overgen, lanczos$"):
        build_report(collect(judgments=demo_results.out / "judgments.csv"), compare=("ibp", "no-such-method"))


def test_markdown_and_latex_are_well_formed(demo_results):
    out = demo_results.out
    tex = (out / "report.tex").read_text()
    assert tex.count(r"\begin{table}") == tex.count(r"\end{table}") > 3
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == tex.count(r"\begin{table}")
    unescaped = re.sub(r"\\[{}]", "", tex)
    depth = 0
    for ch in unescaped:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0
    for block in re.split(r"\n\s*\n", (out / "report.md").read_text()):
        rows = [ln for ln in block.splitlines() if ln.startswith("|")]
        if rows:
            widths = {len(re.split(r"(?<!\\)\|", r)) for r in rows}
            assert len(widths) == 1, rows[:3]
            assert set(rows[1].replace("|", "").split()) == {"---"}


def test_ratings_give_mos_scales_and_alignment(tmp_path):
    """Single-stimulus ratings (ACR-5) are scaled by MOS; pairwise-only views say why they are missing."""
    from eyetest.core.design.simulator import RaterSimulator, make_truth
    from eyetest.core.judgments.model import condition_id

    images, methods = [f"i{k}" for k in range(6)], ["a", "b", "c"]
    rng = np.random.default_rng(5)
    truth = make_truth(images=images, methods=methods, rng=rng, method_quality={"a": 1.5, "b": 0.0, "c": -1.5})
    sim = RaterSimulator(truth, rng=rng)
    conds = [condition_id(i, m) for i in images for m in methods]
    raters = [f"r{r}" for r in range(8) for _ in conds]
    ratings = sim.rate(raters, list(range(len(raters))), conds * 8, scale="acr5")
    ratings.to_csv(tmp_path / "ratings.csv", index=False)
    q = truth.condition_quality()
    scores = pd.DataFrame([(i, m, "psnr", 30 + q[condition_id(i, m)]) for i in images for m in methods],
                          columns=["image", "method", "metric", "value"])
    scores.to_csv(tmp_path / "scores.csv", index=False)
    report = build_report(collect(scores=tmp_path / "scores.csv", judgments=tmp_path / "ratings.csv"), n_boot=30,
                          exclude_raters="none")
    present = {s.id: s for s in report.sections}
    assert present["human"].present and "MOS per method" in present["human"].html
    assert present["alignment"].present and present["raters"].present
    assert not present["scenarios"].present and not present["gallery"].present
    # MOS of method a = mean of its ratings (independent computation)
    mos_a = ratings[ratings["method"] == "a"]["value"].mean()
    assert f"{mos_a:.2f}" in present["human"].html
    # ratings are labelled as ratings scaled by MOS, not as pairwise Bradley-Terry
    hs = report.card["human_study"]
    assert (hs["scaling_model"], hs["protocol"], hs["judgments"]) == ("mos", "rating", len(ratings))
    header = report.html.split("<section", 1)[0]
    assert f"{len(ratings)} ratings" in header and "pairwise" not in header


def test_gallery_and_markdown_escape_method_names(tmp_path, small_study):
    """User strings (method names) never reach the page as markup, nor the Markdown as HTML or math."""
    names = ("<b>x</b>", "A&B <i>y</i>", "$x^2$|#1")
    d = small_study(tmp_path / "s", names=names)
    report = build_report(collect(scores=d / "scores.csv", judgments=d / "judgments.csv",
                                  methods=d / "methods.csv", scenarios=d / "scenarios.csv"), n_boot=20)
    gallery = next(s for s in report.sections if s.id == "gallery")
    assert gallery.present and " gives " in gallery.html
    for name in names[:2]:
        assert name not in report.html, name
    assert "&lt;b&gt;x&lt;/b&gt;" in gallery.html and "A&amp;B &lt;i&gt;y&lt;/i&gt;" in gallery.html
    md = report.markdown
    assert "<b>" not in md and "<i>" not in md and "$x^2$" not in md
    assert r"\<b\>x\</b\>" in md and r"\$x^2\$\|\#1" in md


def test_metric_table_marks_scores_left_out(tmp_path, demo_results):
    """One non-finite PSNR: that cell says so and is not bold, and the best complete mean is."""
    scores = pd.read_csv(demo_results.out / "results.csv")
    psnr = scores["metric"] == "psnr"
    best = scores[psnr].groupby("method")["value"].mean().idxmax()
    hit = scores.index[psnr & (scores["method"] == best)][0]
    scores.loc[hit, "value"] = np.inf
    scores.to_csv(tmp_path / "results.csv", index=False)
    md = build_report(collect(scores=tmp_path / "results.csv")).markdown
    complete = scores[psnr & np.isfinite(scores["value"])]
    means = complete.groupby("method")["value"].mean()
    full = complete.groupby("method").size()
    runner_up = means[full == full.max()].idxmax()          # independent: best over all images
    rows = {ln.split(" | ")[0].strip("| "): ln for ln in md.splitlines() if ln.startswith("| ") and "[" in ln}
    col = next(ln for ln in md.splitlines() if ln.startswith("| method |") and "psnr" in ln).split(" | ").index("psnr ↑")
    assert rows[best].split(" | ")[col].endswith("†") and "**" not in rows[best].split(" | ")[col]
    assert rows[runner_up].split(" | ")[col].startswith("**")
    assert f"{best} psnr: mean over {full[best]} of {full.max()} images (1 non-finite value left out)" in md


def test_header_and_card_count_judgments_read_and_used(demo_results):
    out = demo_results.out
    card = json.loads((out / "card.json").read_text())
    hs = card["human_study"]
    j = pd.read_csv(out / "judgments.csv")
    used = j[~j["is_gold"] & ~j["rater"].isin(hs["excluded_raters"])]
    assert hs["judgments"] == len(j) and hs["judgments_used"] == len(used)
    assert hs["raters"] == j["rater"].nunique() and hs["raters_used"] == used["rater"].nunique()
    html = demo_results.report.read_text()
    assert f"{len(used)} pairwise judgments used of {len(j)} read" in html
    if hs["excluded_raters"]:
        assert f"{used['rater'].nunique()} of {j['rater'].nunique()} ({len(hs['excluded_raters'])} excluded)" in html
    # the head-to-head table names the method its share is about; rater rates read alike
    a, _ = json.loads((out / "about.json").read_text())["compare"]
    md = (out / "report.md").read_text()
    assert f"share {a} better or same" in md and "A better or same" not in md
    raters = [ln.split(" | ") for ln in md.splitlines() if re.match(r"\| sim\d+ \(simulated\) \|", ln)]
    assert raters and all(re.fullmatch(r"\d\.\d\d", r[2]) for r in raters), raters[:3]   # gold accuracy


def test_scenarios_come_from_the_judgments_when_no_table_has_them(tmp_path, small_study):
    d = small_study(tmp_path / "s", scenario_column=True)
    j = pd.read_csv(d / "judgments.csv")
    inputs = collect(judgments=d / "judgments.csv")
    assert inputs.scenarios == {i: (t,) for i, t in j.drop_duplicates("image")[["image", "scenario"]].values}
    report = build_report(inputs, n_boot=20)
    human = next(s for s in report.sections if s.id == "human")
    assert "per scenario" in human.html
    assert "| faces |" in report.markdown and "| text |" in report.markdown
    # without any tags the report says why the per-scenario views are missing
    j.drop(columns=["scenario"]).to_csv(tmp_path / "plain.csv", index=False)
    report = build_report(collect(judgments=tmp_path / "plain.csv"), n_boot=20)
    human = next(s for s in report.sections if s.id == "human")
    assert "per scenario" not in human.html and "No scenario tags" in human.html


def test_single_image_audit_says_no_interval_and_warns(tmp_path, demo_results):
    audit = pd.read_csv(demo_results.out / "audit.csv")
    one = audit[audit["image"] == audit["image"].iloc[0]]
    one.to_csv(tmp_path / "audit.csv", index=False)      # no summary files: the report summarises it
    section = next(s for s in build_report(collect(audit=tmp_path / "audit.csv")).sections if s.id == "audit")
    assert section.present and "Only 1 image audited" in section.html
    if "Gameability flags" in section.html:
        assert "n=1: no interval" in section.html
        assert not re.search(r"(-?[\d.]+) \[\1, \1\]", section.html)     # no degenerate [x, x] interval


def test_audit_without_summaries_uses_manifest_directions_and_the_seed(tmp_path, demo_results):
    audit = pd.read_csv(demo_results.out / "audit.csv")
    audit["metric"] = audit["metric"].replace({"niqe": "my-niqe"})   # not registered
    audit.to_csv(tmp_path / "audit.csv", index=False)
    section = next(s for s in build_report(collect(audit=tmp_path / "audit.csv")).sections if s.id == "audit")
    assert not section.present and "'my-niqe'" in section.note and "--lower-is-better" in section.note
    # a direction given explicitly, or by the audit manifest beside the table, lets it through
    report = build_report(collect(audit=tmp_path / "audit.csv"), directions={"my-niqe": False})
    assert next(s for s in report.sections if s.id == "audit").present
    (tmp_path / "audit.manifest.json").write_text(json.dumps({"metrics": {"my-niqe": {"higher_is_better": False}}}))
    runs = [next(s for s in build_report(collect(audit=tmp_path / "audit.csv"), seed=seed).sections
                 if s.id == "audit").html for seed in (0, 0, 1)]
    assert "my-niqe" in runs[0]
    assert runs[0] == runs[1] and runs[0] != runs[2]           # the bootstrap follows --seed


def test_alignment_compares_metrics_pairwise(tmp_path, small_study):
    """psnr agrees with the raters and niqe contradicts them: the paired comparison says so; a metric
    compared with an exact copy of itself gives no significant difference and only the count sentence."""
    d = small_study(tmp_path / "s")
    report = build_report(collect(scores=d / "scores.csv", judgments=d / "judgments.csv"), n_boot=20)
    md = report.markdown
    assert "better than metric B" in md and "tab:metric-comparison" in report.latex
    assert "1 pair of metrics compared on SRCC, PLCC, pairwise agreement" in md
    row = next(ln for ln in md.splitlines() if ln.startswith("| psnr vs niqe |"))
    cells = [c.strip(" *") for c in row.strip().strip("|").split("|")]
    srcc_diff, low = float(cells[1].split()[0]), float(cells[1].split("[")[1].split(",")[0])
    assert srcc_diff > 1.5 and low > 0 and float(cells[2]) < 0.05          # SRCC: about +1 - (-1)
    assert float(cells[5].split()[0]) > 0.5 and float(cells[6]) < 0.05    # pairwise agreement
    scores = pd.read_csv(d / "scores.csv")
    psnr = scores[scores["metric"] == "psnr"]
    pd.concat([psnr, psnr.assign(metric="ssim")]).to_csv(tmp_path / "twin.csv", index=False)
    md = build_report(collect(scores=tmp_path / "twin.csv", judgments=d / "judgments.csv"), n_boot=20).markdown
    assert "better than metric B" not in md
    assert "1 pair of metrics compared" in md and ": 0 difference(s) in 0 pair(s) significant" in md
