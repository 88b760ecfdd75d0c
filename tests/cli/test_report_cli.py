"""``eyetest report`` on handmade inputs: files written, sections, errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
from click.testing import CliRunner

from eyetest.cli.main import cli
from eyetest.core.design.simulator import RaterSimulator, make_truth
from eyetest.core.judgments.model import condition_id

IMAGES = [f"img{i}" for i in range(5)]
METHODS = ["a", "b", "c"]


def _inputs(tmp_path):
    rng = np.random.default_rng(3)
    truth = make_truth(images=IMAGES, methods=METHODS, rng=rng, method_quality={"a": 1.0, "b": 0.0, "c": -1.0},
                       scenarios={i: ("faces" if k < 3 else "text") for k, i in enumerate(IMAGES)})
    sim = RaterSimulator(truth, rng=rng)
    ca, cb, raters = [], [], []
    for r in range(6):
        for img in IMAGES:
            for x, y in (("a", "b"), ("b", "c"), ("a", "c")):
                ca.append(condition_id(img, x)), cb.append(condition_id(img, y)), raters.append(f"r{r}")
    j = sim.judge_pairs(raters, list(range(len(ca))), ca, cb)
    j.to_csv(tmp_path / "judgments.csv", index=False)
    q = truth.condition_quality()
    rows = []
    for img in IMAGES:
        for m in METHODS:
            base = q[condition_id(img, m)]
            rows.append((img, m, "psnr", 30 + 2 * base, "", ""))
            rows.append((img, m, "niqe", 5 - base + rng.normal(0, 0.1), "", ""))
    pd.DataFrame(rows, columns=["image", "method", "metric", "value", "scenario", "family"]).to_csv(
        tmp_path / "scores.csv", index=False)
    (tmp_path / "methods.csv").write_text("method,family\na,diffusion\nb,gan\nc,psnr-oriented\n")
    (tmp_path / "scenarios.csv").write_text("image,scenario\n" + "".join(
        f"{i},{'faces' if k < 3 else 'text'}\n" for k, i in enumerate(IMAGES)))
    return tmp_path


def test_report_cli_explicit_files(tmp_path):
    d = _inputs(tmp_path)
    out = tmp_path / "out" / "r.html"
    res = CliRunner().invoke(cli, ["report", "--scores", str(d / "scores.csv"), "--judgments",
                                   str(d / "judgments.csv"), "--methods", str(d / "methods.csv"),
                                   "--scenarios", str(d / "scenarios.csv"), "--regime", "fidelity-first",
                                   "--compare", "a,c", "--n-boot", "20", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for name in ("r.html", "r.md", "r.tex", "card.json"):
        assert (out.parent / name).is_file(), name
    html = out.read_text()
    present = dict(re.findall(r'<section id="([a-z]+)" data-present="(yes|no)"', html))
    assert present["metrics"] == present["alignment"] == present["human"] == present["scenarios"] == "yes"
    assert present["families"] == "yes"
    assert present["audit"] == "no" and "omitted Metric audit" in res.output
    assert "Fidelity-first regime" in html
    card = json.loads((out.parent / "card.json").read_text())
    assert card["regime"]["declared"] == "fidelity-first"
    assert card["human_study"]["simulated"] is False   # no source column: not labelled simulated
    md = (out.parent / "r.md").read_text()
    # the SUPIR-vs-HAT style counts: a vs c votes, pooled over images
    j = pd.read_csv(d / "judgments.csv")
    j = j[~j["rater"].isin(card["human_study"]["excluded_raters"])]   # the recorded, applied exclusion
    ac = j[(j["method_a"] == "a") & (j["method_b"] == "c")]
    a_w, c_w, ties = (int((ac["outcome"] == o).sum()) for o in ("a", "b", "tie"))
    assert f"| all | {a_w} | {ties} | {c_w} | {len(ac)} |" in md


def test_report_cli_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["report", "--scores", str(tmp_path / "missing.csv")])
    assert res.exit_code == 2 and "missing.csv" in res.output
    res = runner.invoke(cli, ["report"])
    assert res.exit_code == 2 and "RESULTS_DIR" in res.output
    d = _inputs(tmp_path)
    res = runner.invoke(cli, ["report", "--scores", str(d / "scores.csv"), "--compare", "a"])
    assert res.exit_code == 2 and "A,B" in res.output


def test_report_cli_adoption_table(tmp_path):
    """`eyetest adoption` output becomes a report section with the same counts."""
    papers = tmp_path / "papers.csv"
    papers.write_text("paper,year,psnr,lpips,musiq\n"
                      "A,2017,yes,n-a,n-a\nB,2019,yes,yes,n-a\nC,2021,yes,no,no\nD,2023,yes,yes,yes\n")
    runner = CliRunner()
    res = runner.invoke(cli, ["adoption", str(papers), "--out", str(tmp_path / "adoption.csv")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["report", "--adoption", str(tmp_path / "adoption.csv"),
                              "--out", str(tmp_path / "r" / "report.html")])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "r" / "report.md").read_text()
    # psnr 4/4, lpips 2/3 (A: n-a), musiq 1/2 -- counted by hand from the table above
    assert re.search(r"\| psnr \| 4 \| 4 \| 100% \|", md)
    assert re.search(r"\| lpips \| 2 \| 3 \| 67% \|", md)
    assert re.search(r"\| musiq \| 1 \| 2 \| 50% \|", md)
    html = (tmp_path / "r" / "report.html").read_text()
    assert '<section id="adoption" data-present="yes">' in html
    assert '<section id="metrics" data-present="no">' in html
