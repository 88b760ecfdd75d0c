"""The admin leaderboard's notes: trials counted once (not per dimension), repeated notes compact."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from eyetest.core.judgments.ranking import rank
from eyetest.store import schema
from eyetest.store.migrate import open_store
from eyetest.study import results
from eyetest.study.export import iter_records
from eyetest.study.sample import create_sample_study
from eyetest.study.service import StudyService

DIMENSIONS = ("overall", "sharpness", "naturalness")
ORDER = {"alpha": 0, "beta": 1, "gamma": 2}


@pytest.fixture(autouse=True)
def _no_result_cache(monkeypatch):
    monkeypatch.setattr(results, "_cache", {})


def _run(tmp_path, *, protocol="pairwise", sessions=3, **spec):
    """A study answered by consistent raters (alpha > beta > gamma on every dimension, no ties)."""
    url = str(tmp_path / "s.sqlite")
    study = create_sample_study(url, tmp_path, dataset_kwargs={"mixed_formats": False}, protocol=protocol,
                                dimensions=DIMENSIONS, **spec)
    engine = open_store(url)
    service = StudyService(engine)
    t = schema.trials.c
    for p in range(sessions):
        token = service.start_session(study, f"p{p}")[0]["session"]
        with engine.connect() as conn:
            conds = {r.id: (r.condition_a, r.condition_b) for r in conn.execute(
                sa.select(t.id, t.condition_a, t.condition_b).where(t.session_token == token))}
        while (trial := service.next_trial(token)) is not None:
            if protocol == "pairwise":
                a, b = (c.split("::")[1] for c in conds[trial["trial"]])
                answer = "A" if ORDER.get(a, -1) < ORDER.get(b, -1) else "B"   # gold: the reference wins
            else:
                answer = 5 - ORDER[conds[trial["trial"]][0].split("::")[1]]
            service.record_judgment(token, trial=trial["trial"], answers={d: answer for d in DIMENSIONS},
                                    client_id=uuid.uuid4().hex)
    return engine, service, study


def _answered(engine, study, *flags):
    """Answered trials with all ``flags`` set (and training excluded unless asked for), from the database."""
    t = schema.trials.c
    query = sa.select(sa.func.count()).where(t.study_id == study, t.answered.is_(True))
    for flag in flags:
        query = query.where(getattr(t, flag).is_(True))
    if "is_training" not in flags:
        query = query.where(t.is_training.is_(False))
    with engine.connect() as conn:
        return conn.execute(query).scalar()


def test_training_and_gold_notes_count_trials_once(tmp_path):
    engine, service, study = _run(tmp_path, quality="gold_fraction = 0.15\nrepeat_fraction = 0.0")
    try:
        n_training, n_gold = _answered(engine, study, "is_training"), _answered(engine, study, "is_gold")
        assert n_training == 6 and n_gold > 0            # 3 sessions x 2 training trials, 3 dimensions each
        board = results.leaderboard(service, study)
        notes = board["notes"]
        assert f"{n_training} training trial(s) not scaled" in notes
        assert f"{n_gold} gold trial(s) not scaled" in notes
        assert sum("training" in n for n in notes) == 1 and sum("gold trial" in n for n in notes) == 1
        assert not any(f"{3 * n_training} training" in n for n in notes)
        # setting them aside first scales exactly what the ranking scales from the full table
        spec = service.study_spec(study)
        with service.reader.connect() as conn:
            records = list(iter_records(conn, study))
        assert board["judgments"] == len(records)
        flat, _ = results._tables(spec, records)
        expect, _ = rank(flat.assign(slice=flat["dimension"] + "|" + flat["scenario"]), model="davidson",
                         by="dimension", per_method=True)
        got = {(r["dimension"], r["condition"]): r["score"] for r in board["overall"]}
        assert len(got) == len(expect) == 3 * len(DIMENSIONS)
        for row in expect.to_dict("records"):
            assert got[(row["dimension"], row["condition"])] == pytest.approx(row["score"], abs=1e-12)
    finally:
        engine.dispose()


def test_a_note_made_for_many_slices_is_one_line(tmp_path):
    # every rater agrees on alpha > beta > gamma: in every slice some method never loses, so the fit
    # notes the infinite MLE for each of 3 dimensions and each of 3 x 3 (dimension, scenario) slices
    engine, service, study = _run(tmp_path, quality="gold_fraction = 0.0\nrepeat_fraction = 0.0")
    try:
        notes = results.leaderboard(service, study)["notes"]
    finally:
        engine.dispose()
    infinite = [n for n in notes if "never lose" in n]
    assert len(infinite) == 2, notes
    (overall,) = [n for n in infinite if n.startswith("overall: ")]
    (scen,) = [n for n in infinite if n.startswith("by_scenario: ")]
    assert "(in 3 slices: " in overall
    assert all(d in overall for d in DIMENSIONS)
    assert "(in 9 slices: " in scen and scen.endswith("and 4 more)")
    assert "slice=" not in " ".join(notes)


def test_repeat_ratings_are_counted_once_per_trial(tmp_path):
    engine, service, study = _run(tmp_path, protocol="rating", context="gt",
                                  study='scale = "acr5"\njudgments_per_session = 8',
                                  quality="repeat_fraction = 0.25\nrepeat_min_gap = 2")
    try:
        n_repeat = _answered(engine, study, "is_repeat")
        assert n_repeat > 0
        notes = results.leaderboard(service, study)["notes"]
    finally:
        engine.dispose()
    repeat = [n for n in notes if "repeat rating" in n]
    expected = (f"{n_repeat} repeat rating(s) not scaled (quality control: the MOS uses each rater's first "
                "rating of a stimulus)")
    assert repeat == [expected]


def test_compact_groups_by_slice_and_keeps_whole_table_notes():
    notes = ["slice=a|x: fit fell back", "slice=a|y: fit fell back", "slice=a|y: only ties",
             "3 row(s) repeat another row", "slice=a|x|z: fit fell back"]
    out = results._compact("by_scenario", "slice", ["a|x", "a|y", "a|x|z"], notes)
    assert out == ["by_scenario: fit fell back (in 3 slices: a / x, a / y, a / x / z)",
                   "by_scenario: a / y: only ties", "by_scenario: 3 row(s) repeat another row"]
    many = [f"dimension=d{k}: same" for k in range(8)]
    (line,) = results._compact("overall", "dimension", [f"d{k}" for k in range(8)], many)
    assert line == "overall: same (in 8 slices: d0, d1, d2, d3, d4 and 3 more)"
    assert results._compact("x", "dimension", [], []) == []
