"""What the report reads and where it writes: checked inputs, safe output names, the study database."""

from __future__ import annotations

import hashlib
import html
import json
import os
import re

import numpy as np
import pandas as pd
import pytest

from eyetest.errors import DatasetError, TableError
from eyetest.report.build import (
    build_report,
    check_outputs,
    collect,
    read_about,
    report_paths,
    study_judgments,
    write_report,
)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- about.json -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, key", [
    ("[1, 2]", None), ('{"regime": "fidelity first"}', "regime"), ('{"compare": ["a"]}', "compare"),
    ('{"compare": "a,b,c"}', "compare"), ('{"compare": 3}', "compare"), ('{"methods": ["x"]}', "methods"),
    ('{"title": 3}', "title"), ('{"regime_note": ["x"]}', "regime_note")])
def test_about_json_is_checked_naming_the_key(tmp_path, text, key):
    path = tmp_path / "about.json"
    path.write_text(text)
    with pytest.raises(DatasetError, match="expected a JSON object" if key is None else f"key '{key}'") as info:
        read_about(path)
    assert str(path) in str(info.value)


def test_about_compare_as_text_is_the_pair_and_feeds_the_head_to_head(tmp_path, small_study):
    d = small_study(tmp_path / "s")
    (d / "about.json").write_text(json.dumps({"compare": " a , c", "regime": "fidelity-first"}))
    assert read_about(d / "about.json")["compare"] == ["a", "c"]
    report = build_report(collect(judgments=d / "judgments.csv", about=d / "about.json"), n_boot=20)
    scen = next(s for s in report.sections if s.id == "scenarios")
    assert scen.present and scen.title == "Scenario view: a vs c"
    assert report.card["regime"]["declared"] == "fidelity-first"


# --- score and audit tables -------------------------------------------------------------------

def test_score_and_audit_tables_are_checked_on_read(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(TableError, match="score table lacks column.*image, method, metric, value") as info:
        collect(scores=bad)
    assert info.value.path == str(bad)
    with pytest.raises(TableError, match="audit table lacks column") as info:
        collect(audit=bad)
    assert info.value.path == str(bad)
    text = tmp_path / "text.csv"
    text.write_text("image,method,metric,value\nx,m,psnr,30.5\ny,m,psnr,abc\n")
    with pytest.raises(TableError, match="'abc' in data row 2 is not a number") as info:
        collect(scores=text)
    assert info.value.column == "value" and info.value.path == str(text)
    ok = tmp_path / "ok.csv"
    ok.write_text("image,method,metric,value\nx,m,psnr,30.5\ny,m,psnr,inf\n")
    assert collect(scores=ok).scores["value"].tolist() == [30.5, float("inf")]


def test_unregistered_metric_needs_a_direction(tmp_path):
    scores = tmp_path / "s.csv"
    scores.write_text("image,method,metric,value\nx,m,mymetric,3\ny,m,mymetric,4\nx,m,psnr,30\ny,m,psnr,31\n")
    report = build_report(collect(scores=scores))
    metrics = next(s for s in report.sections if s.id == "metrics")
    assert metrics.present and "'mymetric' left out: no known direction" in html.unescape(metrics.html)
    report = build_report(collect(scores=scores), directions={"mymetric": False})
    assert "mymetric ↓" in report.markdown and "no known direction" not in report.markdown
    only = tmp_path / "only.csv"
    only.write_text("image,method,metric,value\nx,m,mymetric,3\n")
    metrics = next(s for s in build_report(collect(scores=only)).sections if s.id == "metrics")
    assert not metrics.present and "'mymetric'" in metrics.note and "no metric scores" not in metrics.note
    with pytest.raises(DatasetError, match="'psnr'.*higher is better"):
        build_report(collect(scores=scores), directions={"psnr": False})


# --- output names -----------------------------------------------------------------------------

def test_report_paths_need_html_and_give_each_report_its_card(tmp_path):
    p = report_paths(tmp_path / "report.html")
    assert (p.markdown.name, p.latex.name, p.card.name) == ("report.md", "report.tex", "card.json")
    p = report_paths(tmp_path / "mine.html")
    assert (p.markdown.name, p.latex.name, p.card.name) == ("mine.md", "mine.tex", "mine.card.json")
    assert report_paths(tmp_path / "mine").html.name == "mine.html"
    for bad in ("report.md", "judgments.csv", "card.json", "x.tex"):
        with pytest.raises(DatasetError, match="ending in .html"):
            report_paths(tmp_path / bad)


def test_outputs_never_replace_an_input(tmp_path, small_study):
    d = small_study(tmp_path / "s")
    (d / "mine.card.json").write_text("{}")          # an about.json that happens to have the card's name
    inputs = collect(judgments=d / "judgments.csv", about=d / "mine.card.json")
    before = _sha(d / "mine.card.json")
    with pytest.raises(DatasetError, match="would overwrite the about file"):
        check_outputs(report_paths(d / "mine.html"), inputs.files)
    report = build_report(inputs, n_boot=20)
    with pytest.raises(DatasetError, match="would overwrite the about file"):
        write_report(report, d / "mine.html")
    assert _sha(d / "mine.card.json") == before and not (d / "mine.html").exists()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(DatasetError, match="afile' is a file, not a folder"):
        check_outputs(report_paths(tmp_path / "afile" / "sub" / "r.html"))
    (tmp_path / "r.md").mkdir()
    with pytest.raises(DatasetError, match="is a folder"):
        check_outputs(report_paths(tmp_path / "r.html"))


def test_two_reports_in_one_folder_keep_their_own_cards(tmp_path, small_study):
    d = small_study(tmp_path / "s")
    inputs = collect(judgments=d / "judgments.csv")
    write_report(build_report(inputs, n_boot=20, title="first"), d / "report.html")
    write_report(build_report(inputs, n_boot=20, title="second", exclude_raters="none"), d / "mine.html")
    first, second = (json.loads((d / n).read_text()) for n in ("card.json", "mine.card.json"))
    assert (first["title"], first["human_study"]["exclusion"]) == ("first", "auto")
    assert (second["title"], second["human_study"]["exclusion"]) == ("second", "none")



def test_progress_reports_every_stage_in_order_and_changes_nothing(tmp_path, small_study, capsys):
    """``build_report(progress=...)`` is told each stage as it starts (``done`` counting up to ``total``):
    the shared analyses, one stage per section, the rendering; it prints nothing and the report is
    the one built without it (creation time apart)."""
    import re

    d = small_study(tmp_path / "s")
    inputs = collect(scores=d / "scores.csv", judgments=d / "judgments.csv", methods=d / "methods.csv",
                     scenarios=d / "scenarios.csv")
    plain = build_report(inputs, n_boot=20, seed=5)
    calls = []
    shown = build_report(inputs, n_boot=20, seed=5, progress=lambda *a: calls.append(a))
    assert capsys.readouterr() == ("", "")
    total = len(shown.sections) + 2
    assert [(done, n) for _, done, n in calls] == [(k, total) for k in range(total)]
    stages = [stage for stage, _, _ in calls]
    assert stages[0] == "scales and audit summary" and stages[-1] == "rendering"
    assert stages[-2] == "Summary and regime"                     # built last: it lists the others' results
    assert len(set(stages)) == total
    # each section's stage is the title it gets when omitted (the built title may say more)
    assert "Metric-human alignment" in stages and "Disagreement gallery" in stages
    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
    assert stamp.sub("T", shown.html) == stamp.sub("T", plain.html)
    assert (shown.markdown, shown.latex) == (plain.markdown, plain.latex)
    assert {**shown.card, "created_utc": None} == {**plain.card, "created_utc": None}


# --- dataset folder ------------------------------------------------------------------------------

def test_dataset_is_found_relative_to_the_manifest_and_the_card_records_the_one_used(tmp_path, demo_results):
    import shutil

    res = tmp_path / "project" / "res"
    res.mkdir(parents=True)
    shutil.copy(demo_results.out / "results.csv", res)
    manifest = json.loads((demo_results.out / "results.csv.manifest.json").read_text())
    manifest["dataset"] = "../data"                   # relative to the manifest, not to the working folder
    (res / "results.csv.manifest.json").write_text(json.dumps(manifest))
    os.symlink(demo_results.out / "dataset", tmp_path / "project" / "data")
    inputs = collect(scores=res / "results.csv")
    assert inputs.dataset is not None and (inputs.dataset / "gt").is_dir()
    card = build_report(inputs).card
    assert card["dataset"]["path"] == str(inputs.dataset) and card["dataset"]["recorded_path"] == "../data"
    other = tmp_path / "other"
    shutil.copytree(demo_results.out / "dataset", other)
    card = build_report(collect(scores=res / "results.csv", dataset=other)).card
    assert card["dataset"]["path"] == str(other)     # the folder the thumbnails came from
    manifest["dataset"] = "nowhere/dataset"
    (res / "results.csv.manifest.json").write_text(json.dumps(manifest))
    card = build_report(collect(scores=res / "results.csv")).card
    assert card["dataset"]["path"] is None and card["dataset"]["recorded_path"] == "nowhere/dataset"


# --- study database ---------------------------------------------------------------------------

def test_study_database_is_read_only_and_names_missing_things(tmp_path, demo_results):
    from eyetest.run.demo_bench import BENCH_IMAGES
    from eyetest.run.pipeline import create_demo_study

    missing = tmp_path / "nonexist.sqlite"
    with pytest.raises(DatasetError, match="nonexist.sqlite' does not exist"):
        study_judgments(missing, "abc")
    assert not missing.exists()                        # never created
    work = tmp_path / "w"
    work.mkdir()
    os.symlink(demo_results.out / "dataset", work / "dataset")
    images = [i for i in BENCH_IMAGES if i.name in ("astronaut", "brick", "page", "colorwheel")]
    db = work / "study.sqlite"
    study = create_demo_study(work, db, images=images)
    before = _sha(db)
    with pytest.raises(DatasetError, match=f"no study 'nosuch' in .*studies: {study}"):
        study_judgments(db, "nosuch")
    with pytest.raises(DatasetError, match="has no judgments yet"):
        study_judgments(db, study)
    assert _sha(db) == before
    notdb = tmp_path / "notdb.sqlite"
    notdb.write_text("hello")
    with pytest.raises(DatasetError, match="notdb.sqlite"):
        study_judgments(notdb, "x")
    import sqlite3

    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("create table x(a)").connection.close()
    with pytest.raises(DatasetError, match="not an eyetest study database"):
        study_judgments(other, "x")


def _answered_rating_study(db, folder, *, per_session: int, quality: str, sessions: int = 4) -> str:
    """A sample ACR study in ``db`` whose ``sessions`` sessions answered every trial (1..5 in turn)."""
    import uuid

    from eyetest.store.engine import make_engine
    from eyetest.study.sample import create_sample_study
    from eyetest.study.service import StudyService

    study = create_sample_study(str(db), folder, protocol="rating", context="none",
                                study=f'scale = "acr5"\njudgments_per_session = {per_session}', quality=quality)
    engine = make_engine(str(db))
    svc = StudyService(engine)
    for k in range(sessions):
        token = svc.start_session(study, f"p{k}")[0]["session"]
        n = 0
        while (trial := svc.next_trial(token)) is not None:
            svc.record_judgment(token, trial=trial["trial"], answers={"overall": 1 + (n + k) % 5},
                                client_id=uuid.uuid4().hex)
            n += 1
    engine.dispose()
    return study


def test_report_of_a_rating_study_from_its_database(tmp_path):
    """``eyetest report --study`` on a rating (ACR) study: MOS tables and BT.500 screening, no pairwise sections."""
    db = tmp_path / "r.sqlite"
    study = _answered_rating_study(db, tmp_path / "s", per_session=9, quality="repeat_fraction = 0.2\nrepeat_min_gap = 2")
    table = study_judgments(db, study)
    assert {"condition", "value", "scale", "is_repeat"} <= set(table.columns) and (table["scale"] == "acr5").all()
    report = build_report(collect(study=(db, study)))
    paths = write_report(report, tmp_path / "out" / "report.html")
    md = paths.markdown.read_text()
    assert "MOS per method and dimension (95% rater-bootstrap percentile interval)" in md and "bt500" in md
    card = json.loads(paths.card.read_text())["human_study"]
    assert card["protocol"] == "rating" and card["scaling_model"] == "mos"
    assert any("repeat rating(s) not scaled" in n for n in card["notes"])
    assert "*Omitted: needs pairwise judgments with method names*" in md     # head to head: pairwise only


def test_score_table_pandas_read_is_the_same_as_the_report(tmp_path):
    """The checked score table keeps the rows and values of the file (independent read with pandas)."""
    p = tmp_path / "s.csv"
    p.write_text("image,method,metric,value,scenario\nx,m,psnr,30.25,a\ny,m,psnr,nan,b\n")
    got = collect(scores=p).scores
    want = pd.read_csv(p)
    assert got["image"].tolist() == want["image"].tolist()
    assert got["value"].astype(str).tolist() == want["value"].astype(str).tolist()


def test_report_of_a_rating_study_leaves_gold_ratings_out(tmp_path):
    """Gold and attention ratings (reference, degraded copy, blank) are quality control: not in any MOS table."""
    db = tmp_path / "r.sqlite"
    study = _answered_rating_study(db, tmp_path / "s", per_session=8,
                                   quality="gold_fraction = 0.25\nrepeat_fraction = 0.2\nrepeat_min_gap = 2")
    table = study_judgments(db, study)
    assert table["is_gold"].any() and table["is_repeat"].any()
    regular = table[~(table["is_gold"] | table["is_repeat"] | table.get("is_training", False))]
    report = build_report(collect(study=(db, study)), exclude_raters="none")
    paths = write_report(report, tmp_path / "out" / "report.html")
    md, page = paths.markdown.read_text(), paths.html.read_text()
    assert f"{len(regular)} ratings used of {len(table)} read (gold/repeat ratings left out)" in page
    assert "gold, attention, repeat and training ratings and excluded raters left out" in md
    for text in (md, page):
        assert "__reference" not in text and "__degraded" not in text and "__blank" not in text
    # the rater table shows each rater's gold ratings and accuracy (the screening's gold rule)
    header = next(line for line in md.splitlines() if line.startswith("| rater |"))
    assert "gold ratings" in header and "gold accuracy" in header and "gold by chance" in header


def test_compare_pair_of_about_json_must_name_two_methods_of_the_inputs(tmp_path):
    """A head-to-head of a method no input has would be a section of zero votes: refused, naming about.json."""
    from eyetest.errors import SpecError

    rng = np.random.default_rng(0)
    rows = [{"rater": f"r{k % 5}", "condition_a": f"i{k % 3}::{a}", "condition_b": f"i{k % 3}::{b}",
             "outcome": str(rng.choice(["a", "b", "tie"])), "is_gold": False, "image": f"i{k % 3}",
             "method_a": a, "method_b": b}
            for k, (a, b) in enumerate([("x", "y"), ("y", "z"), ("x", "z")] * 20)]
    rows += [{"rater": "r0", "condition_a": "i0::gt", "condition_b": "i0::gold-blur", "outcome": "a", "is_gold": True,
              "image": "i0", "method_a": "gt", "method_b": "gold-blur"}]
    judgments = tmp_path / "j.csv"
    pd.DataFrame(rows).to_csv(judgments, index=False)
    for pair, says in ((["x", "nosuch"], "'nosuch' is in none of the report's inputs; methods: x, y, z"),
                       ("x,gt", "'gt' is a condition of gold or training trials only")):
        about = tmp_path / "about.json"
        about.write_text(json.dumps({"compare": pair}))
        inputs = collect(judgments=judgments, about=about)
        with pytest.raises(SpecError, match=re.escape(says)) as err:
            build_report(inputs, n_boot=10)
        assert str(about) in str(err.value) and "'compare'" in str(err.value)
        # the same pair given as an argument is refused naming `compare`
        with pytest.raises(SpecError, match=r"^compare: "):
            build_report(collect(judgments=judgments), compare=pair if isinstance(pair, list) else pair.split(","),
                         n_boot=10)
    about.write_text(json.dumps({"compare": "x,z"}))
    report = build_report(collect(judgments=judgments, about=about), n_boot=10)
    assert any(s.title == "Scenario view: x vs z" for s in report.sections)


def test_pooled_mos_interval_keeps_each_raters_ratings_together(tmp_path):
    """MOS per method pooled over images: raters with a strong personal bias rate every image, so the
    interval must be about that of the raters' means (t over 12 rater means), not a t-interval over all
    120 ratings as if they were independent (about sqrt(10) narrower)."""
    from scipy import stats

    from eyetest.report.context import Context

    rng = np.random.default_rng(4)
    raters, images, methods = 12, 10, {"good": 4.0, "poor": 2.0}
    bias = rng.normal(0, 0.8, raters)
    rows = [{"rater": f"r{r}", "condition": f"i{i}::{m}", "value": float(np.clip(np.round(q + bias[r]
             + rng.normal(0, 0.3)), 1, 5)), "scale": "acr5", "dimension": "overall"}
            for r in range(raters) for i in range(images) for m, q in methods.items()]
    path = tmp_path / "ratings.csv"
    table = pd.DataFrame(rows)
    table.to_csv(path, index=False)
    ctx = Context.from_inputs(collect(judgments=path), seed=0, compare=None, regime=None, n_boot=400,
                              exclude_raters="none")
    got = ctx.method_scale.set_index("condition")
    for method in methods:
        values = table[table["condition"].str.endswith("::" + method)]
        per_rater = values.groupby("rater")["value"].mean()
        lo, hi = stats.t.interval(0.95, len(per_rater) - 1, loc=per_rater.mean(), scale=stats.sem(per_rater))
        naive = 2 * stats.t.ppf(0.975, len(values) - 1) * stats.sem(values["value"])
        width = got.loc[method, "ci_high"] - got.loc[method, "ci_low"]
        assert got.loc[method, "score"] == pytest.approx(values["value"].mean())
        assert width == pytest.approx(hi - lo, rel=0.3), (width, hi - lo)
        assert width > 2 * naive


def test_report_of_a_study_screens_speed_with_the_studys_own_minimum_time(tmp_path):
    """A study that asks for >= 400 ms per trial: raters answering in 600 ms are not 'too fast' in its
    report (the default 1200 ms applies only where the judgments do not say)."""
    import uuid

    from eyetest.core.judgments.screening import ScreeningRules, screen_raters
    from eyetest.report.context import Context
    from eyetest.store.engine import make_engine
    from eyetest.study.sample import create_sample_study
    from eyetest.study.service import StudyService

    db = tmp_path / "r.sqlite"
    study = create_sample_study(str(db), tmp_path / "s", protocol="rating", context="none",
                                study='scale = "acr5"\njudgments_per_session = 6', quality="min_ms_per_trial = 400")
    engine = make_engine(str(db))
    svc = StudyService(engine)
    for k in range(3):
        token = svc.start_session(study, f"p{k}")[0]["session"]
        while (trial := svc.next_trial(token)) is not None:
            svc.record_judgment(token, trial=trial["trial"], answers={"overall": 1 + k}, client_id=uuid.uuid4().hex,
                                elapsed_ms=600)
    engine.dispose()
    inputs = collect(study=(db, study))
    assert inputs.min_ms_per_trial == 400
    ctx = Context.from_inputs(inputs, seed=0, compare=None, regime=None, n_boot=50, exclude_raters="auto")
    assert (ctx.screen.table["rating_too_fast_rate"] == 0).all()
    # the same ratings under the default rule are all too fast: the study's own minimum made the difference
    default = screen_raters(ratings=inputs.judgments, rules=ScreeningRules())
    assert (default.table["rating_too_fast_rate"] == 1).all()


def test_report_rater_table_says_which_sessions_expired(tmp_path):
    """A study whose rater left a session (eyetest.study.expiry): the report's rater table says so."""
    import uuid
    from datetime import datetime, timedelta, timezone

    import sqlalchemy as sa

    from eyetest.report.context import Context
    from eyetest.report.sections import rater_section
    from eyetest.store import schema
    from eyetest.store.engine import make_engine
    from eyetest.study.sample import create_sample_study
    from eyetest.study.service import StudyService

    db = tmp_path / "p.sqlite"
    study = create_sample_study(str(db), tmp_path / "s", study='design = "full"\njudgments_per_session = 6')
    engine = make_engine(str(db))
    svc = StudyService(engine)
    tokens = {}
    for name, count in (("stayed", None), ("left", 3)):
        tokens[name] = token = svc.start_session(study, name)[0]["session"]
        done = 0
        while (count is None or done < count) and (trial := svc.next_trial(token)) is not None:
            svc.record_judgment(token, trial=trial["trial"], answers={"overall": "A"}, client_id=uuid.uuid4().hex)
            done += 1
    s, j = schema.sessions.c, schema.judgments.c
    earlier = datetime.now(timezone.utc) - timedelta(hours=2)
    with engine.begin() as conn:                  # "left" started and answered two hours ago
        conn.execute(sa.update(schema.sessions).where(s.token == tokens["left"]).values(created_at=earlier))
        conn.execute(sa.update(schema.judgments).where(j.session_token == tokens["left"]).values(created_at=earlier))
    svc.start_session(study, "late")               # expires "left"
    engine.dispose()
    ctx = Context.from_inputs(collect(study=(db, study)), seed=0, compare=None, regime=None, n_boot=20,
                              exclude_raters="none")
    html = rater_section(ctx).html
    assert "session" in html and "expired" in html and "finished" in html
