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
    for name in ("r.html", "r.md", "r.tex", "r.card.json"):
        assert (out.parent / name).is_file(), name
    html = out.read_text()
    present = dict(re.findall(r'<section id="([a-z]+)" data-present="(yes|no)"', html))
    assert present["metrics"] == present["alignment"] == present["human"] == present["scenarios"] == "yes"
    assert present["families"] == "yes"
    assert present["audit"] == "no" and "omitted Metric audit" in res.output
    assert "Fidelity-first regime" in html
    card = json.loads((out.parent / "r.card.json").read_text())
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


def _sha(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_report_cli_never_writes_over_its_inputs(tmp_path):
    d = _inputs(tmp_path)
    runner = CliRunner()
    before = _sha(d / "judgments.csv")
    for out in ("judgments.csv", "report.md"):
        res = runner.invoke(cli, ["report", "--judgments", str(d / "judgments.csv"), "--out", str(d / out)])
        assert res.exit_code == 2 and "ending in .html" in res.output, res.output
    assert _sha(d / "judgments.csv") == before and not (d / "report.md").exists()
    (d / "x.card.json").write_text("{}")
    res = runner.invoke(cli, ["report", "--judgments", str(d / "judgments.csv"), "--about", str(d / "x.card.json"),
                              "--out", str(d / "x.html")])
    assert res.exit_code == 2 and "would overwrite the about file" in res.output
    assert (d / "x.card.json").read_text() == "{}" and not (d / "x.html").exists()
    # a name without a suffix becomes an HTML page, its companions beside it, each printed once
    res = runner.invoke(cli, ["report", "--judgments", str(d / "judgments.csv"), "--n-boot", "20",
                              "--out", str(d / "mine")])
    assert res.exit_code == 0, res.output
    wrote = [ln.split(" ", 1)[1] for ln in res.output.splitlines() if ln.startswith("wrote ")]
    assert wrote == [str(d / n) for n in ("mine.html", "mine.md", "mine.tex", "mine.card.json")]
    assert all((d / n).is_file() for n in ("mine.html", "mine.md", "mine.tex", "mine.card.json"))
    assert (d / "mine.html").read_text().lstrip().lower().startswith("<!doctype html")


def test_report_cli_second_report_keeps_the_first_card(tmp_path):
    d = _inputs(tmp_path)
    runner = CliRunner()
    args = ["report", "--judgments", str(d / "judgments.csv"), "--n-boot", "20"]
    assert runner.invoke(cli, args + ["--title", "first", "--out", str(d / "report.html")]).exit_code == 0
    res = runner.invoke(cli, args + ["--title", "second", "--exclude-raters", "none", "--out", str(d / "mine.html")])
    assert res.exit_code == 0, res.output
    assert json.loads((d / "card.json").read_text())["title"] == "first"
    second = json.loads((d / "mine.card.json").read_text())
    assert second["title"] == "second" and second["human_study"]["exclusion"] == "none"


def test_report_cli_bad_inputs_and_outputs_are_one_line_errors(tmp_path, monkeypatch):
    d = _inputs(tmp_path)
    runner = CliRunner()
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    for opt in ("--scores", "--audit"):
        res = runner.invoke(cli, ["report", opt, str(bad), "--out", str(tmp_path / "o" / "r.html")])
        assert res.exit_code == 2 and "bad.csv" in res.output and "lacks column" in res.output, res.output
        assert "Traceback" not in res.output
    (tmp_path / "afile").write_text("")
    called = []
    monkeypatch.setattr("eyetest.report.build.build_report", lambda *a, **k: called.append(1))
    res = runner.invoke(cli, ["report", "--scores", str(d / "scores.csv"), "--out", str(tmp_path / "afile" / "r.html")])
    assert res.exit_code == 2 and "afile' is a file, not a folder" in res.output and not called
    monkeypatch.undo()

    def full(path, data, **kw):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr("eyetest.io.tables.atomic_write_bytes", full)
    res = runner.invoke(cli, ["report", "--scores", str(d / "scores.csv"), "--out", str(tmp_path / "o" / "r.html")])
    assert res.exit_code == 2 and "No space left on device" in res.output and "r.html" in res.output
    assert res.output.count("\n") == 1 and not isinstance(res.exception, OSError)


def test_report_cli_study_db_must_exist(tmp_path):
    db = tmp_path / "nonexist.sqlite"
    res = CliRunner().invoke(cli, ["report", "--study", "abc", "--study-db", str(db),
                                   "--out", str(tmp_path / "s" / "r.html")])
    assert res.exit_code == 2 and "nonexist.sqlite' does not exist" in res.output
    assert not db.exists() and "Traceback" not in res.output


def test_report_cli_directions_for_unregistered_metrics(tmp_path):
    scores = tmp_path / "s.csv"
    scores.write_text("image,method,metric,value\nx,m,mymetric,3\ny,m,mymetric,4\n")
    runner = CliRunner()
    res = runner.invoke(cli, ["report", "--scores", str(scores), "--out", str(tmp_path / "a.html")])
    assert res.exit_code == 0 and "'mymetric' left out: no known direction" in res.output
    res = runner.invoke(cli, ["report", "--scores", str(scores), "--higher-is-better", "mymetric",
                              "--out", str(tmp_path / "b.html")])
    assert res.exit_code == 0, res.output
    assert "mymetric ↑" in (tmp_path / "b.md").read_text()
    res = runner.invoke(cli, ["report", "--scores", str(scores), "--higher-is-better", "mymetric",
                              "--lower-is-better", "mymetric", "--out", str(tmp_path / "c.html")])
    assert res.exit_code == 2 and "both" in res.output


def _with_gold_and_training(d):
    """The judgments of ``_inputs`` plus gold trials (``gt`` vs ``gold-blur``, as the demo's study has) and
    a training trial showing a method ("warmup") that no real trial shows."""
    j = pd.read_csv(d / "judgments.csv")
    extra = []
    for k, img in enumerate(IMAGES):
        extra.append({"rater": f"r{k % 6}", "condition_a": condition_id(img, "gt"),
                      "condition_b": condition_id(img, "gold-blur"), "outcome": "a", "is_gold": True,
                      "is_training": False})
    extra.append({"rater": "r0", "condition_a": condition_id(IMAGES[0], "warmup"),
                  "condition_b": condition_id(IMAGES[0], "a"), "outcome": "b", "is_gold": False,
                  "is_training": True})
    j = pd.concat([j.assign(is_gold=False, is_training=False), pd.DataFrame(extra)], ignore_index=True)
    j.to_csv(d / "judgments-gold.csv", index=False)
    return d / "judgments-gold.csv", j


def test_report_compare_lists_only_methods_that_can_be_compared(tmp_path):
    """An unknown --compare method: the error lists the methods of the judged trials, not the gold
    (``gt``, ``gold-blur``) or training conditions; naming one of those says what it is."""
    d = _inputs(tmp_path)
    path, j = _with_gold_and_training(d)
    real = j[~j["is_gold"] & ~j["is_training"]]
    want = ", ".join(sorted({c.split("::")[1] for c in pd.concat([real["condition_a"], real["condition_b"]])}))
    assert want == "a, b, c"
    out = tmp_path / "o" / "r.html"
    runner = CliRunner()
    gold = "is a condition of gold or training trials only"
    for name, says in (("nosuch", "is in none of the report's inputs"), ("gt", gold), ("gold-blur", gold),
                       ("warmup", gold)):
        res = runner.invoke(cli, ["report", "--judgments", str(path), "--compare", f"a,{name}", "--out", str(out)])
        assert res.exit_code == 2, res.output
        assert f"'{name}' {says}" in res.output and f"methods: {want}\n" in res.output, res.output
        assert "Traceback" not in res.output and not out.exists()
    res = runner.invoke(cli, ["report", "--judgments", str(path), "--compare", "a,c", "--n-boot", "20",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "Scenario view: a vs c" in out.read_text()


def _normalised(folder):
    """The report's files, their creation time stamps blanked out."""
    stamp = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
    return {p.name: stamp.sub(b"TIME", p.read_bytes()) for p in sorted(folder.iterdir())}


def test_report_progress_bar_changes_no_output(tmp_path, monkeypatch):
    """On a terminal ``eyetest report`` shows a progress bar on stderr; the files and stdout are those
    of a run without it, byte for byte (creation time apart)."""
    import eyetest.cli.commands.report as report_cmd

    d = _inputs(tmp_path)
    args = ["--scores", str(d / "scores.csv"), "--judgments", str(d / "judgments.csv"), "--methods",
            str(d / "methods.csv"), "--scenarios", str(d / "scenarios.csv"), "--n-boot", "20"]
    runner = CliRunner()
    out = tmp_path / "out" / "r.html"
    plain = runner.invoke(cli, ["report", *args, "--out", str(out)])
    assert plain.exit_code == 0, plain.output
    first = _normalised(out.parent)
    assert sorted(first) == ["r.card.json", "r.html", "r.md", "r.tex"]
    assert b"TIME" in first["r.html"] and b"TIME" in first["r.card.json"]   # the stamps are what differs
    monkeypatch.setattr(report_cmd, "_progress_enabled", lambda: True)
    shown = runner.invoke(cli, ["report", *args, "--out", str(out)])
    assert shown.exit_code == 0, shown.output
    assert _normalised(out.parent) == first
    assert "building report" in shown.stderr and "Metric-human alignment" in shown.stderr
    assert "building report" not in plain.stderr
    assert shown.stdout == plain.stdout and "building report" not in shown.stdout
    assert shown.stdout.splitlines() == [f"wrote {out.parent / n}" for n in ("r.html", "r.md", "r.tex", "r.card.json")]
