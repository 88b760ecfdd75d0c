"""A planning write whose commit fails and is retried leaves no trace in the scheduler cache.

``StudyService.write`` retries a transaction when the commit itself fails (a
dropped PostgreSQL connection, SQLite busy at commit).  The attempt that
failed had already proposed its session's pairs to the study's cached
scheduler; those bookings must not survive the rollback.  Checked against a
cache freshly rebuilt from the database (what another process holds) and
against the trials an uninterrupted server plans for the same spec.
"""

from __future__ import annotations

import copy
import sqlite3
import uuid

import numpy as np
import pytest
import sqlalchemy as sa

from eyetest.store import schema
from eyetest.store.engine import make_engine
from eyetest.store.migrate import upgrade
from eyetest.study.importer import create_study
from eyetest.study.planning import sync
from eyetest.study.sample import write_sample_dataset, write_sample_spec
from eyetest.study.service import Conflict, StudyService
from eyetest.study.spec import load_spec

METHODS = tuple(f"m{k}" for k in range(6))
TRUTH = dict(zip(METHODS, np.random.default_rng(5).normal(size=len(METHODS))))


def _regular(study):
    t = schema.trials.c
    return schema.regular_trials(sa.select(t.id, t.session_token, t.condition_a, t.condition_b)
                                 .where(t.study_id == study)).order_by(t.id)


def _make(url, folder, design):
    engine = make_engine(url)
    upgrade(engine)
    ds = write_sample_dataset(folder / "ds", images=1, methods=METHODS, mixed_formats=False)
    spec = load_spec(write_sample_spec(
        folder / "s.toml", ds, methods=METHODS, study=f'design = "{design}"\njudgments_per_session = 8',
        quality="gold_fraction = 0.0\nrepeat_fraction = 0.0\nattention_fraction = 0.0"))
    return engine, create_study(engine, spec)


def _judge(service, engine, study, token):
    with engine.connect() as conn:
        cond = {r.id: (r.condition_a, r.condition_b) for r in conn.execute(_regular(study))}
    while (trial := service.next_trial(token)) is not None:
        answer = "A"                                       # training trials: the reference is on the left
        if trial["trial"] in cond:
            a, b = cond[trial["trial"]]
            d = TRUTH[a.split("::")[1]] - TRUTH[b.split("::")[1]]
            answer = "tie" if abs(d) < 0.2 else ("A" if d > 0 else "B")
        service.record_judgment(token, trial=trial["trial"], answers={"overall": answer},
                                client_id=uuid.uuid4().hex)


class FailingCommit:
    """The engine's next ``n`` commits fail as a busy SQLite / a dropped PostgreSQL connection would."""

    def __init__(self, engine, monkeypatch):
        self.engine, self.left, self.failed = engine, 0, 0
        real = engine.dialect.do_commit

        def do_commit(dbapi_connection):
            if self.left:
                self.left -= 1
                self.failed += 1
                raise self._error()                  # nothing committed: the transaction is rolled back
            return real(dbapi_connection)

        monkeypatch.setattr(engine.dialect, "do_commit", do_commit)

    def _error(self):
        if self.engine.dialect.name == "sqlite":
            return sqlite3.OperationalError("database is locked")
        import psycopg

        return psycopg.OperationalError("server closed the connection unexpectedly")


#: what every scheduler counts (PairScheduler): replayed exactly by booking and observing the history
COUNTS = ("pending", "observed", "left", "shown", "points", "games", "n_observed", "n_booked", "_seen")


def _same_scheduler(live, fresh) -> None:
    """The two schedulers hold the same counts and go on to propose the same pairs.

    Derived caches (``active``'s posterior is refitted lazily, when it next
    proposes) may differ in between, so the design-specific state is compared
    by what it does next: proposals to new raters from copies of both.
    """
    for name in COUNTS:
        x, y = getattr(live, name), getattr(fresh, name)
        if isinstance(x, np.ndarray):
            assert np.array_equal(x, y), name
        else:
            assert x == y, name
    live, fresh = copy.deepcopy(live), copy.deepcopy(fresh)
    for probe in ("probe-1", "probe-2"):
        assert live.propose(8, rater=probe) == fresh.propose(8, rater=probe)
    assert live.propose_batch(["q1", "q2", "q3"]) == fresh.propose_batch(["q1", "q2", "q3"])


def _start(service, study, participant, via):
    if via == "start_session":
        return service.start_session(study, participant)
    (result,) = service.record_batch([{"op": "session", "study": study, "participant": participant, "meta": {}}])
    if isinstance(result, BaseException):
        raise result
    return result


def _run(url, folder, design, via, *, fail_at=(), monkeypatch=None):
    """Six sessions, each answered after the next one started; the planning commit of ``fail_at`` fails once."""
    engine, study = _make(url, folder, design)
    service = StudyService(engine)
    faults = FailingCommit(engine, monkeypatch) if fail_at else None
    tokens = []
    try:
        for k in range(6):
            if k in fail_at:
                faults.left = 1
            session, created = _start(service, study, f"p{k}", via)
            assert created
            tokens.append(session["session"])
            if k in fail_at:
                assert faults.failed == fail_at.index(k) + 1 and faults.left == 0   # the commit did fail once
                live = service.state(study)
                fresh = StudyService(engine).state(study)
                with engine.connect() as conn:
                    sync(conn, live)
                    sync(conn, fresh)
                    planned = conn.execute(_regular(study)).all()
                # the cache that lived through the failed commit is the one a fresh process builds
                _same_scheduler(live.scheduler, fresh.scheduler)
                # pending: the pairs of the two sessions not answered yet, nothing from the failed attempt
                assert live.scheduler.pending.sum() == sum(r.session_token in tokens[-2:] for r in planned)
            if k >= 1:
                _judge(service, engine, study, tokens[k - 1])
        with engine.connect() as conn:
            rows = conn.execute(_regular(study)).all()
            sessions = conn.execute(sa.select(sa.func.count()).select_from(schema.sessions)
                                    .where(schema.sessions.c.study_id == study)).scalar()
    finally:
        engine.dispose()
    assert sessions == 6                                   # the retried start stored one session, not two
    by_token = {tok: k for k, tok in enumerate(tokens)}
    return [(by_token[r.session_token], r.condition_a, r.condition_b) for r in rows]


@pytest.mark.parametrize("via", ["start_session", "record_batch"])
@pytest.mark.parametrize("design", ["random", "active"])
def test_failed_commit_of_a_session_start_is_retried_without_phantom_bookings(db_url, tmp_path, monkeypatch,
                                                                               design, via):
    other = db_url if db_url.startswith("postgresql") else str(tmp_path / "other.sqlite")
    live = _run(db_url, tmp_path / "live", design, via)
    faulted = _run(other, tmp_path / "faulted", design, via, fail_at=(2, 4), monkeypatch=monkeypatch)
    assert len(live) == 6 * 8
    # the trials planned after each retried commit are those the uninterrupted server planned
    assert faulted == live


def test_a_refused_start_keeps_the_cache(tmp_path):
    # a paused study refuses new sessions before any planning: the cached scheduler is kept, not rebuilt
    engine, study = _make(str(tmp_path / "s.sqlite"), tmp_path, "active")
    service = StudyService(engine)
    service.start_session(study, "p0")
    st = service.state(study)
    scheduler = st.scheduler
    service.set_status(study, "paused")
    with pytest.raises(Conflict, match="paused"):
        service.start_session(study, "p1")
    assert st.scheduler is scheduler and scheduler.n_booked == 8
    engine.dispose()
