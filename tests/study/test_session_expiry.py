"""An abandoned session expires: its unanswered trials go to other raters, its answers stay.

``eyetest.study.expiry``: a session with no answer for ``crowd.session_timeout_min`` minutes is marked
expired when the next session of its study starts; its unanswered regular trials are released (``full``
hands those pairs out again, the rating design re-assigns those stimuli), and its rater gets 410.
Idle time is made here by moving a session's stored times into the past, as the clock would.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import sqlalchemy as sa

from eyetest.store import schema
from eyetest.store.engine import make_engine
from eyetest.store.migrate import upgrade
from eyetest.study.importer import create_study
from eyetest.study.sample import write_sample_dataset, write_sample_spec
from eyetest.study.service import StudyService
from eyetest.study.service_errors import Gone
from eyetest.study.spec import load_spec

METHODS = tuple(f"m{k}" for k in range(6))                      # 15 pairs
TRUTH = dict(zip(METHODS, np.random.default_rng(8).normal(size=len(METHODS))))
NO_CONTROLS = "gold_fraction = 0.0\nrepeat_fraction = 0.0\nattention_fraction = 0.0"


def _study(url, folder, *, design="full", per_session=8, crowd="", protocol="pairwise", images=1):
    engine = make_engine(url)
    upgrade(engine)
    ds = write_sample_dataset(folder / "ds", images=images, methods=METHODS, mixed_formats=False)
    study_keys = f'design = "{design}"\njudgments_per_session = {per_session}'
    if protocol == "rating":
        study_keys = f'design = "balanced"\nscale = "acr5"\njudgments_per_session = {per_session}'
    spec = load_spec(write_sample_spec(folder / "s.toml", ds, methods=METHODS, study=study_keys,
                                       protocol=protocol, quality=NO_CONTROLS,
                                       **({"crowd": crowd} if crowd else {})))
    return engine, create_study(engine, spec), StudyService(engine)


def _trials(engine, study, token=None, *, regular=True):
    """The study's (or session's) trials in id order; ``regular``: without the training trials."""
    t = schema.trials.c
    q = sa.select(t.id, t.session_token, t.condition_a, t.condition_b, t.answered, t.released_after).where(
        t.study_id == study)
    if regular:
        q = q.where(t.is_training.is_(False))
    if token is not None:
        q = q.where(t.session_token == token)
    with engine.connect() as conn:
        return conn.execute(q.order_by(t.id)).all()


def _answer(service, token, trial, pair):
    if pair[1] is None:                          # a rating trial
        answers = {"overall": 3}
    elif pair[0].split("::")[1] not in TRUTH:    # a training trial (reference vs degraded)
        answers = {"overall": "A"}
    else:
        d = TRUTH[pair[0].split("::")[1]] - TRUTH[pair[1].split("::")[1]]
        answers = {"overall": "A" if d > 0 else "B"}
    return service.record_judgment(token, trial=trial, answers=answers, client_id=uuid.uuid4().hex)


def _judge(service, engine, study, token, count=None):
    """Answer the session's trials in order: the training trials and ``count`` more (or all)."""
    rows = _trials(engine, study, token, regular=False)
    regular = {r.id for r in _trials(engine, study, token)}
    pairs = {r.id: (r.condition_a, r.condition_b) for r in rows}
    done = 0
    while (count is None or done < count) and (trial := service.next_trial(token)) is not None:
        _answer(service, token, trial["trial"], pairs[trial["trial"]])
        done += trial["trial"] in regular


def _idle(engine, token, minutes=120):
    """Move the session's start and answers ``minutes`` into the past."""
    s, j = schema.sessions.c, schema.judgments.c
    with engine.begin() as conn:
        for table, col, key in ((schema.sessions, s.created_at, s.token), (schema.judgments, j.created_at,
                                                                            j.session_token)):
            for k, value in conn.execute(sa.select(key, col).where(key == token)).all():
                when = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
                conn.execute(sa.update(table).where(key == k, col == value)
                             .values({col.name: when - timedelta(minutes=minutes)}))


def _session(engine, token):
    s = schema.sessions.c
    with engine.connect() as conn:
        return conn.execute(sa.select(s.finished_at, s.expired_at).where(s.token == token)).first()


def test_an_idle_session_expires_and_full_hands_its_pairs_to_the_next_rater(db_url, tmp_path):
    engine, study, service = _study(db_url, tmp_path, per_session=6)
    first = service.start_session(study, "gone")[0]
    gone = first["session"]
    _judge(service, engine, study, gone, count=2)
    _idle(engine, gone)
    assert _session(engine, gone).expired_at is None            # nothing expires until a session starts
    fresh = service.start_session(study, "fresh")[0]["session"]
    assert _session(engine, gone).expired_at is not None
    rows = _trials(engine, study, gone)
    assert [r.answered for r in rows] == [True, True, False, False, False, False]
    # the four unanswered trials were released after the study's last trial id at that moment
    assert {r.released_after for r in rows if not r.answered} == {max(r.id for r in rows)}
    assert all(r.released_after is None for r in rows if r.answered)
    # full: the released pairs are the first ones the next session gets, so the replicate stays complete
    released = {frozenset((r.condition_a, r.condition_b)) for r in rows if not r.answered}
    new = [frozenset((r.condition_a, r.condition_b)) for r in _trials(engine, study, fresh)]
    assert set(new[:4]) == released
    # the expired session's rater: 410 for the next trial and for an answer; the two answers stay
    with pytest.raises(Gone, match="expired"):
        service.next_trial(gone)
    with pytest.raises(Gone, match="answers given before are saved"):
        _answer(service, gone, rows[2].id, (rows[2].condition_a, rows[2].condition_b))
    info = service.session_info(gone)
    answered = sum(r.answered for r in _trials(engine, study, gone, regular=False))   # with training
    assert info["expired"] is True and info["answered"] == answered and info["finished"] is False
    assert "completion_code" not in info
    assert service.session_info(fresh)["expired"] is False
    from eyetest.study.export import iter_records

    with engine.connect() as conn:
        status = {(r["session"], r["session_status"]) for r in iter_records(conn, study)}
    assert status == {(gone, "expired")}              # its answers are exported, marked as such
    from eyetest.study.results import rater_quality

    assert {(r["participant"], r["session"]) for r in rater_quality(service, study)["raters"]} == {
        ("gone", "expired")}                            # the admin rater table says so too
    progress = service.progress(study)
    assert (progress["sessions"], progress["sessions_expired"], progress["sessions_finished"]) == (2, 1, 0)
    # the released trials are no longer counted as planned: 6 + 1 training per session, 4 released
    assert progress["trials_planned"] == len(_trials(engine, study, regular=False)) - 4
    # the same participant gets the expired session back, not a new one
    assert service.start_session(study, "gone") == (first, False)
    # every pair is judged once in the first replicate although a session was abandoned
    _judge(service, engine, study, fresh)
    for k in range(3):
        _judge(service, engine, study, service.start_session(study, f"p{k}")[0]["session"])
    judged = [frozenset((r.condition_a, r.condition_b)) for r in _trials(engine, study) if r.answered]
    assert set(judged[:15]) == {frozenset(p) for p in itertools.combinations(
        [f"{r.condition_a.split('::')[0]}::{m}" for r in rows[:1] for m in METHODS], 2)}
    engine.dispose()


def test_recent_answers_finished_sessions_and_a_zero_timeout_keep_sessions(db_url, tmp_path):
    engine, study, service = _study(db_url, tmp_path / "a", per_session=4)
    busy = service.start_session(study, "busy")[0]["session"]
    done = service.start_session(study, "done")[0]["session"]
    _judge(service, engine, study, busy, count=1)
    _judge(service, engine, study, done)
    _idle(engine, busy, minutes=120)
    _idle(engine, done, minutes=120)
    _judge(service, engine, study, busy, count=1)                # answered just now: not idle
    service.start_session(study, "next")
    assert _session(engine, busy).expired_at is None
    assert _session(engine, done).expired_at is None and _session(engine, done).finished_at is not None
    # 29 minutes idle is within the default 30-minute timeout
    quiet = service.start_session(study, "quiet")[0]["session"]
    _idle(engine, quiet, minutes=29)
    service.start_session(study, "later")
    assert _session(engine, quiet).expired_at is None
    engine.dispose()
    # session_timeout_min = 0: never
    engine, study, service = _study(db_url, tmp_path / "b", per_session=4,
                                    crowd='platform = "link"\nsession_timeout_min = 0')
    idle = service.start_session(study, "idle")[0]["session"]
    _idle(engine, idle, minutes=100_000)
    service.start_session(study, "other")
    assert _session(engine, idle).expired_at is None
    engine.dispose()


def test_no_session_expires_right_after_a_pause(db_url, tmp_path):
    # raters cannot answer while a study is paused: the idle clock restarts when it is opened again
    engine, study, service = _study(db_url, tmp_path, per_session=4,
                                    crowd='platform = "link"\nsession_timeout_min = 10')
    waiting = service.start_session(study, "waiting")[0]["session"]
    service.set_status(study, "paused")
    _idle(engine, waiting, minutes=60)
    service.set_status(study, "open")
    service.start_session(study, "after-resume")
    assert _session(engine, waiting).expired_at is None
    # once the timeout has passed since the resume, it does expire
    with engine.begin() as conn:
        conn.execute(sa.update(schema.studies).where(schema.studies.c.id == study)
                     .values(resumed_at=datetime.now(timezone.utc) - timedelta(minutes=11)))
    service.start_session(study, "much-later")
    assert _session(engine, waiting).expired_at is not None
    engine.dispose()


def _expiring_study(url, folder, design, restarts, *, protocol="pairwise", processes=1):
    """Seven sessions; every third is abandoned after 3 answers and goes idle; cache resets before ``restarts``.

    ``processes`` > 1: session ``k`` is started by service ``k % processes`` (each its own cache, as
    server processes sharing the database), so each catches up on the others' trials and expiries.
    """
    engine, study, service = _study(url, folder, design=design, protocol=protocol)
    services = [service] + [StudyService(engine) for _ in range(processes - 1)]
    tokens = []
    for k in range(7):
        service = services[k % processes]
        if k in restarts:
            service.state(study).reset()              # what a process restart does to the cache
        tokens.append(service.start_session(study, f"p{k}")[0]["session"])
        if k >= 1:
            prev = tokens[k - 1]
            if (k - 1) % 3 == 0:
                _judge(service, engine, study, prev, count=3)
                _idle(engine, prev)
            else:
                _judge(service, engine, study, prev)
    by_token = {tok: k for k, tok in enumerate(tokens)}
    rows = [(by_token[r.session_token], r.condition_a, r.condition_b, r.answered, r.released_after is not None)
            for r in _trials(engine, study)]
    engine.dispose()
    return rows


@pytest.mark.parametrize("design", ["full", "random", "swiss", "active"])
def test_a_restart_replays_the_expiries_where_they_happened(db_url, tmp_path, design):
    # a scheduler rebuilt from the database releases each expired session's pairs after the same
    # bookings as the process that expired them, so a restart does not change what comes next
    other = db_url if db_url.startswith("postgresql") else str(tmp_path / "other.sqlite")
    live = _expiring_study(db_url, tmp_path / "live", design, restarts=())
    restarted = _expiring_study(other, tmp_path / "restarted", design, restarts=(2, 3, 5, 6))
    assert sum(released for *_, released in live) == 2 * 5      # sessions 0 and 3: 5 trials each released
    assert restarted == live
    # two processes taking turns: each replays the other's expiries after the trials they followed
    assert _expiring_study(other, tmp_path / "two", design, restarts=(), processes=2) == live
    assert _expiring_study(other, tmp_path / "three", design, restarts=(), processes=3) == live


def test_a_rating_study_gives_an_expired_sessions_stimuli_to_later_raters(db_url, tmp_path):
    engine, study, service = _study(db_url, tmp_path, protocol="rating", per_session=4, images=2)
    for k in range(2):
        _judge(service, engine, study, service.start_session(study, f"p{k}")[0]["session"])
    gone = service.start_session(study, "gone")[0]["session"]       # the last 4 of the 12 stimuli
    _judge(service, engine, study, gone, count=1)
    _idle(engine, gone)
    unrated = {r.condition_a for r in _trials(engine, study, gone) if not r.answered}
    assert len(unrated) == 3
    fresh = service.start_session(study, "fresh")[0]["session"]
    shown = {r.condition_a for r in _trials(engine, study, fresh)}
    # every other stimulus was rated once: the released three are the least rated, the next block takes them
    assert unrated <= shown
    live = _expiring_study(db_url, tmp_path / "live", "balanced", restarts=(), protocol="rating")
    other = db_url if db_url.startswith("postgresql") else str(tmp_path / "other.sqlite")
    assert _expiring_study(other, tmp_path / "re", "balanced", restarts=(2, 3, 6), protocol="rating") == live
    engine.dispose()


def test_an_answer_stored_while_the_session_expires_wins_on_postgresql(pg_url, tmp_path):
    # PostgreSQL: a judgment store holds the session's row lock while it writes.  Expiry takes the same
    # lock and looks again, so an answer that commits meanwhile keeps the session alive, and no trial
    # ends up both answered and released.  (SQLite serialises every write: nothing to race.)
    engine, study, service = _study(pg_url, tmp_path, per_session=4)
    token = service.start_session(study, "racer")[0]["session"]
    _idle(engine, token)
    t = schema.trials.c
    trial = _trials(engine, study, token, regular=False)[0]
    store = engine.connect()
    tx = store.begin()
    # what the store statement does, held open: lock the session, insert the answer, mark the trial
    store.execute(sa.select(schema.sessions.c.token).where(schema.sessions.c.token == token)
                  .with_for_update(key_share=True))
    store.execute(sa.insert(schema.judgments).values(
        client_id=uuid.uuid4().hex, trial_id=trial.id, session_token=token, study_id=study,
        answers={"overall": "A"}, created_at=datetime.now(timezone.utc)))
    store.execute(sa.update(schema.trials).where(t.id == trial.id).values(answered=True))
    started = threading.Thread(target=lambda: service.start_session(study, "next"))
    started.start()
    started.join(timeout=1.0)
    assert started.is_alive()                 # the expiry waits for the store's row lock
    tx.commit()
    store.close()
    started.join(timeout=30)
    assert not started.is_alive()
    assert _session(engine, token).expired_at is None
    assert not any(r.released_after is not None for r in _trials(engine, study, token, regular=False))
    engine.dispose()


def test_the_postgresql_store_statement_refuses_a_session_expired_after_its_probe(pg_url, tmp_path):
    # the probe saw the session open; the session expires before the store statement runs: the store
    # inserts nothing (it re-reads expired_at under the session's row lock), the probe runs again: 410
    from eyetest.study.judging import drive

    engine, study, service = _study(pg_url, tmp_path, per_session=4)
    token = service.start_session(study, "late")[0]["session"]
    trial = service.next_trial(token)
    s = schema.sessions.c
    with engine.connect() as conn:
        def execute(name, params):
            if name == "store":
                with engine.begin() as other:
                    other.execute(sa.update(schema.sessions).where(s.token == token)
                                  .values(expired_at=datetime.now(timezone.utc)))
            return service.hot.run(conn, name, params).all()

        steps = service.judgment_steps(token, trial["trial"], {"overall": "A"}, uuid.uuid4().hex, 900)
        with pytest.raises(Gone):
            drive(steps, execute)
        conn.rollback()
    assert not any(r.answered for r in _trials(engine, study, token, regular=False))
    engine.dispose()
