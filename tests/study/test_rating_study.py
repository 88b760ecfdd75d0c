"""A rating (ACR) study end to end: planning, API payloads, export, reading the export back, MOS."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from scipy import stats

from eyetest.core.design.simulator import RaterModel, RaterSimulator, make_truth
from eyetest.core.judgments.ranking import rank
from eyetest.errors import JudgmentDataError
from eyetest.io.judgments import read_judgments
from eyetest.store import schema
from eyetest.store.engine import make_engine
from eyetest.store.migrate import upgrade
from eyetest.study import export
from eyetest.study.importer import create_study
from eyetest.study.sample import write_sample_dataset, write_sample_spec
from eyetest.study.service import StudyService
from eyetest.study.spec import load_spec

QUALITY = "repeat_fraction = 0.25\nrepeat_min_gap = 2"


def _run_sessions(engine, study, *, raters: int, scale: str):
    """Simulated raters answer every trial through the service; returns the payloads shown, per session."""
    svc = StudyService(engine)
    spec = svc.study_spec(study)
    truth = make_truth(images=spec["images"], methods=spec["plan"]["methods"], rng=np.random.default_rng(1))
    sim = RaterSimulator(truth, model=RaterModel(), rng=np.random.default_rng(2))
    shown = {}
    for k in range(raters):
        token = svc.start_session(study, f"p{k}")[0]["session"]
        shown[token] = []
        while (trial := svc.next_trial(token)) is not None:
            with engine.connect() as conn:
                cond = conn.execute(sa.select(schema.trials.c.condition_a)
                                    .where(schema.trials.c.id == trial["trial"])).scalar_one()
            value = sim.rate([token], [len(shown[token])], [cond], scale=scale)["value"].iloc[0]
            value = float(value) if scale == "continuous100" else int(value)
            shown[token].append(trial)
            svc.record_judgment(token, trial=trial["trial"], client_id=uuid.uuid4().hex, elapsed_ms=1500,
                                answers={d["name"]: value for d in spec["plan"]["dimensions"]})
    return shown


def test_rating_study_end_to_end(db_url, tmp_path):
    engine = make_engine(db_url)
    upgrade(engine)
    ds = write_sample_dataset(tmp_path / "ds", images=4)
    spec = write_sample_spec(tmp_path / "r.toml", ds, protocol="rating", quality=QUALITY, context="none",
                             study='scale = "acr5"\njudgments_per_session = 8', dimensions=("overall", "sharpness"))
    study = create_study(engine, load_spec(spec))
    shown = _run_sessions(engine, study, raters=9, scale="acr5")
    with engine.connect() as conn:
        records = list(export.iter_records(conn, study))
    engine.dispose()

    # the rater's screen: a repeat trial is built like every other one (nothing in it says "repeat")
    by_id = {r["trial"]: r for r in records}
    payloads = [p for ps in shown.values() for p in ps]
    assert {frozenset(p) for p in payloads} == {frozenset(payloads[0])}
    repeats = [p for p in payloads if by_id[p["trial"]]["is_repeat"]]
    assert repeats and all(len(p["stimuli"]) == 1 and "repeat" not in json.dumps(p).lower() for p in payloads)
    assert all(p["questions"][0]["prompt"] == "How would you rate the overall quality of this image?"
               for p in payloads)
    # 8 trials a session: 6 regular, 2 repeats (0.25 of 8), each after >= 2 regular trials
    assert all(len(ps) == 8 for ps in shown.values())
    assert all(r["scale"] == "acr5" for r in records)

    # each stimulus rated equally often (within one); a rater sees a stimulus twice only as a repeat
    regular = [r for r in records if not r["is_repeat"]]
    counts = pd.Series([r["condition_a"] for r in regular]).value_counts()
    assert len(counts) == 12 and counts.max() - counts.min() <= 1
    seen = pd.Series([(r["session"], r["condition_a"]) for r in regular])
    assert not seen.duplicated().any()
    for rec in (r for r in records if r["is_repeat"]):
        orig = by_id[rec["repeat_of"]]
        assert (orig["session"], orig["condition_a"], orig["is_repeat"]) == (rec["session"], rec["condition_a"], False)

    # the export, as eyetest rank / eyetest report read it (CSV and JSON Lines give the same table)
    csv_path, jsonl_path = tmp_path / "export.csv", tmp_path / "export.jsonl"
    csv_path.write_text("".join(export.to_csv(records, ["overall", "sharpness"])))
    jsonl_path.write_bytes(b"".join(export.to_jsonl(records)))
    table, fmt = read_judgments(csv_path, return_format=True)
    assert fmt == "study"
    cols = ["rater", "condition", "value", "scale", "dimension", "trial", "is_repeat"]
    pd.testing.assert_frame_equal(table[cols], read_judgments(jsonl_path)[cols])
    assert len(table) == 2 * len(records) and table["is_repeat"].sum() == 2 * 2 * 9

    # MOS per dimension: one rating per rater and stimulus (repeats left out), Student-t CI as scipy
    scale, notes = rank(table, model="mos", by="dimension")
    assert any("18 repeat rating(s) (36 ratings) not scaled" in n for n in notes)   # 2 dimensions per trial
    first = table[~table["is_repeat"] & (table["dimension"] == "overall")]
    got = scale[scale["dimension"] == "overall"].set_index("condition")
    for cond, g in first.groupby("condition"):
        v = g["value"].to_numpy(float)
        assert got.loc[cond, "score"] == pytest.approx(v.mean()) and got.loc[cond, "n"] == len(v)
        if len(v) > 1 and v.std() > 0:
            lo, hi = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
            assert (got.loc[cond, "ci_low"], got.loc[cond, "ci_high"]) == pytest.approx((lo, hi))

    # the report reads the same table straight from the database
    if "://" not in db_url:
        from eyetest.report.build import study_judgments

        direct = study_judgments(db_url, study)
        pd.testing.assert_frame_equal(direct[cols].reset_index(drop=True), table[cols].reset_index(drop=True),
                                      check_dtype=False)


def test_quality_notes_say_what_sessions_really_get(tmp_path):
    """A gap that leaves no room for the repeats is told at creation; a small fraction is no longer rounded away.

    With ``repeat_fraction = 0.04`` and 10 regular trials a session should carry 0.04 x 10 / 0.96 = 0.417
    repeats: ``round()`` per session gave none in every session (and a note saying so); the systematic
    rounding gives 0 or 1 per session and the study's 24 sessions together within one of 24 x 0.417 = 10.
    """
    engine = make_engine(str(tmp_path / "q.sqlite"))
    upgrade(engine)
    ds = write_sample_dataset(tmp_path / "ds", images=4)
    svc = StudyService(engine)
    cases = [("repeat_fraction = 0.3\nrepeat_min_gap = 5", 6, 1,
              "leaves room for 0 repeat trial(s) in sessions of 4 regular trials, fewer than the 1.71 per session"),
             ("repeat_fraction = 0.2\nrepeat_min_gap = 2", 10, 1, None),
             ("repeat_fraction = 0.04", 10, 24, None)]
    for k, (quality, jps, sessions, expected) in enumerate(cases):
        notes: list = []
        spec = write_sample_spec(tmp_path / f"q{k}.toml", ds, protocol="rating", quality=quality,
                                 study=f"judgments_per_session = {jps}")
        study = create_study(engine, load_spec(spec), notes=notes)
        repeats = []
        for p in range(sessions):
            token = svc.start_session(study, f"p{p}")[0]["session"]
            with engine.connect() as conn:
                kinds = [x["quality"] for x in conn.execute(sa.select(schema.trials.c.payload).where(
                    schema.trials.c.session_token == token)).scalars()]
            repeats.append(kinds.count("repeat"))
        if expected is not None:
            assert len(notes) == 1 and expected in notes[0] and repeats == [0], notes
        elif sessions == 1:
            assert notes == [] and repeats == [2]
        else:
            x = 0.04 * 10 / 0.96
            assert notes == [] and set(repeats) == {0, 1} and abs(sum(repeats) - sessions * x) < 1
    engine.dispose()


def test_pairwise_export_reads_back_with_its_formula_guard_undone(tmp_path):
    """CSV quotes a cell starting with '-' (session tokens can); reading the export removes the quote again."""
    engine = make_engine(str(tmp_path / "p.sqlite"))
    upgrade(engine)
    ds = write_sample_dataset(tmp_path / "ds", images=2)
    study = create_study(engine, load_spec(write_sample_spec(
        tmp_path / "p.toml", ds, quality="gold_fraction = 0.2\nrepeat_fraction = 0.2\nrepeat_min_gap = 1",
        study='design = "full"\njudgments_per_session = 5')))
    svc = StudyService(engine)
    token = svc.start_session(study, "p")[0]["session"]
    while (trial := svc.next_trial(token)) is not None:
        svc.record_judgment(token, trial=trial["trial"], answers={"overall": "B"}, client_id=uuid.uuid4().hex)
    with engine.connect() as conn:
        records = [dict(r, session="-" + r["session"]) for r in export.iter_records(conn, study)]
    engine.dispose()
    path = tmp_path / "e.csv"
    path.write_text("".join(export.to_csv(records, ["overall"])))
    assert "'-" in path.read_text()
    table = read_judgments(path)
    expected = export.pairwise_table(records, scenarios={}).drop(columns="scenario")
    cols = ["rater", "condition_a", "condition_b", "outcome", "is_gold", "is_repeat", "is_training", "gold_outcome"]
    pd.testing.assert_frame_equal(table[cols], expected[cols])
    assert table["rater"].str.startswith("-").all() and table["is_training"].any() and table["is_gold"].any()
    assert records[0]["scale"] is None


def test_export_read_back_refuses_what_it_cannot_scale(tmp_path):
    base = {"client_id": "c1", "session": "s", "trial": 1, "kind": "rating", "scale": "acr5", "is_gold": False,
            "is_repeat": False, "is_attention": False, "is_training": False, "expected": None, "image": "i",
            "condition_a": "i::m", "condition_b": None, "method_a": "m", "method_b": None, "elapsed_ms": 9,
            "answer_overall": 4}
    cases = [({"kind": "triplet"}, {}, "kind 'triplet'"),
             ({"scale": None}, {"scale": None}, "needs one scale in its 'scale' column"),    # an older export
             ({"scale": "dcr5"}, {}, "needs one scale in its 'scale' column"),
             ({"answer_overall": "good"}, {}, "answer_overall 'good'")]
    for change, first, message in cases:
        path = tmp_path / "x.csv"
        pd.DataFrame([{**base, **first}, {**base, "client_id": "c2", **change}]).to_csv(path, index=False)
        with pytest.raises(JudgmentDataError, match=message) as err:
            read_judgments(path)
        assert str(path) in str(err.value)
    mixed = pd.DataFrame([base, {**base, "client_id": "c2", "kind": "pairwise", "condition_b": "i::n"}])
    mixed.to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(JudgmentDataError, match="all 'pairwise' or all 'rating'"):
        read_judgments(tmp_path / "m.csv")
