"""A server restart (scheduler cache rebuilt from the database) does not change a study's schedule.

The study planner rebuilds its pair scheduler from the database after a restart
(``eyetest.study.planning.sync``: every planned trial booked, then every judgment observed).  For
every design the trials planned after the restart must be those an uninterrupted server plans from
the same spec and the same judgments.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import sqlalchemy as sa

from eyetest.store import schema
from eyetest.store.engine import make_engine
from eyetest.store.migrate import upgrade
from eyetest.study.importer import create_study
from eyetest.study.sample import write_sample_dataset, write_sample_spec
from eyetest.study.service import StudyService
from eyetest.study.spec import load_spec

METHODS = tuple(f"m{k}" for k in range(6))                      # 15 pairs
TRUTH = dict(zip(METHODS, np.random.default_rng(5).normal(size=len(METHODS))))


def _regular(study):
    t = schema.trials.c
    return schema.regular_trials(sa.select(t.id, t.session_token, t.condition_a, t.condition_b)
                                 .where(t.study_id == study)).order_by(t.id)


def _judge(service, engine, study, token):
    """Answer every trial of a session; regular trials by the truth (ties for close pairs)."""
    with engine.connect() as conn:
        cond = {r.id: (r.condition_a, r.condition_b) for r in conn.execute(_regular(study))}
    while (trial := service.next_trial(token)) is not None:
        pair = cond.get(trial["trial"])
        answer = "A"
        if pair is not None:
            d = TRUTH[pair[0].split("::")[1]] - TRUTH[pair[1].split("::")[1]]
            answer = "tie" if abs(d) < 0.2 else ("A" if d > 0 else "B")
        service.record_judgment(token, trial=trial["trial"], answers={"overall": answer},
                                client_id=uuid.uuid4().hex)


def _run_study(url, folder, design, restarts):
    """Six sessions, each answered after the next one started; cache resets before ``restarts``."""
    engine = make_engine(url)
    upgrade(engine)
    ds = write_sample_dataset(folder / "ds", images=1, methods=METHODS, mixed_formats=False)
    spec = load_spec(write_sample_spec(
        folder / "s.toml", ds, methods=METHODS, study=f'design = "{design}"\njudgments_per_session = 8',
        quality="gold_fraction = 0.0\nrepeat_fraction = 0.0\nattention_fraction = 0.0"))
    study = create_study(engine, spec)
    service = StudyService(engine)
    tokens = []
    for k in range(6):
        if k in restarts:
            service.state(study).reset()              # what a process restart does to the cache
        tokens.append(service.start_session(study, f"p{k}")[0]["session"])
        if k >= 1:
            _judge(service, engine, study, tokens[k - 1])
    with engine.connect() as conn:
        rows = conn.execute(_regular(study)).all()
    engine.dispose()
    by_token = {tok: k for k, tok in enumerate(tokens)}
    return [(by_token[r.session_token], r.condition_a, r.condition_b) for r in rows]


@pytest.mark.parametrize("design", ["random", "swiss", "active"])
def test_restart_keeps_the_schedule_of_every_design(db_url, tmp_path, design):
    if db_url.startswith("postgresql"):
        other = db_url                                   # a fresh database per test: two studies in it
    else:
        other = str(tmp_path / "other.sqlite")
    live = _run_study(db_url, tmp_path / "live", design, restarts=())
    restarted = _run_study(other, tmp_path / "restarted", design, restarts=(2, 4, 5))
    assert len(live) == 6 * 8
    assert restarted == live
