"""The judgment export (``eyetest.study.export``) and the admin rater table, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import uuid

from eyetest.store.engine import make_engine
from eyetest.store.migrate import upgrade
from eyetest.study import export
from eyetest.study.importer import create_study
from eyetest.study.results import _reasons
from eyetest.study.sample import write_sample_dataset, write_sample_spec
from eyetest.study.service import StudyService
from eyetest.study.spec import load_spec


def _judge_all(svc, token, answer="A"):
    while (trial := svc.next_trial(token)) is not None:
        svc.record_judgment(token, trial=trial["trial"], answers={"overall": answer}, client_id=uuid.uuid4().hex)


def _records(engine, study):
    with engine.connect() as conn:
        return list(export.iter_records(conn, study))


def test_repeat_of_is_the_trial_id_of_the_original(db_url, tmp_path):
    """``repeat_of`` joins to ``trial`` (not to the position), in every session."""
    engine = make_engine(db_url)
    upgrade(engine)
    ds = write_sample_dataset(tmp_path / "ds", images=3)
    for protocol, quality in (("pairwise", "repeat_fraction = 0.2\nrepeat_min_gap = 1"),
                              ("rating", "repeat_fraction = 0.3\nrepeat_min_gap = 1")):
        spec = write_sample_spec(tmp_path / f"{protocol}.toml", ds, protocol=protocol, quality=quality,
                                 study=f'design = "{"full" if protocol == "pairwise" else "balanced"}"\n'
                                       "judgments_per_session = 9")
        study = create_study(engine, load_spec(spec))
        svc = StudyService(engine)
        for k in range(3):
            _judge_all(svc, svc.start_session(study, f"{protocol}-{k}")[0]["session"],
                       "A" if protocol == "pairwise" else 4)
        records = _records(engine, study)
        by_trial = {r["trial"]: r for r in records}
        repeats = [r for r in records if r["is_repeat"]]
        assert len(repeats) >= 3
        assert all(r["repeat_of"] is None for r in records if not r["is_repeat"])
        for rec in repeats:
            orig = by_trial[rec["repeat_of"]]
            assert orig["session"] == rec["session"] and orig["position"] < rec["position"]
            assert not orig["is_repeat"]
            if protocol == "pairwise":                       # repeats swap left and right
                assert (rec["condition_a"], rec["condition_b"]) == (orig["condition_b"], orig["condition_a"])
            else:
                assert rec["condition_a"] == orig["condition_a"]
        text = "".join(export.to_csv(records, ["overall"]))
        rows = {row["trial"]: row for row in csv.DictReader(io.StringIO(text))}
        assert all(rows[str(r["trial"])]["repeat_of"] == str(r["repeat_of"]) for r in repeats)
    engine.dispose()


def test_csv_cells_never_start_a_formula(tmp_path):
    """A link-mode participant id comes from the URL: CSV neutralises formulas, JSON Lines keep it."""
    engine = make_engine(str(tmp_path / "f.sqlite"))
    upgrade(engine)
    ds = write_sample_dataset(tmp_path / "ds", images=2)
    study = create_study(engine, load_spec(write_sample_spec(tmp_path / "s.toml", ds,
                                                             study="judgments_per_session = 2")))
    svc = StudyService(engine)
    evil = ['=HYPERLINK("http://evil","x")', "+1+2", "-3+4", "@SUM(A1)"]
    for p in evil:
        token = svc.start_session(study, p)[0]["session"]
        trial = svc.next_trial(token)
        svc.record_judgment(token, trial=trial["trial"], answers={"overall": "A"}, client_id=uuid.uuid4().hex)
    records = _records(engine, study)
    rows = list(csv.DictReader(io.StringIO("".join(export.to_csv(records, ["overall"])))))
    assert [r["participant"] for r in rows] == ["'" + p for p in evil]
    assert [r["participant"] for r in records] == evil
    assert export._cell("\t=1") == "'\t=1" and export._cell(-3) == -3 and export._cell("a=1") == "a=1"
    assert all(r["answer_overall"] == "A" and r["elapsed_ms"] == "" for r in rows)     # other cells as before
    engine.dispose()


def test_rater_reasons_are_a_list_of_reasons():
    assert _reasons("") == [] and _reasons(None) == [] and _reasons(float("nan")) == []
    assert _reasons("too fast; straight-lining: answer 'A' in 95% of 40 trials") == [
        "too fast", "straight-lining: answer 'A' in 95% of 40 trials"]
    assert _reasons(["a", "b"]) == ["a", "b"]
