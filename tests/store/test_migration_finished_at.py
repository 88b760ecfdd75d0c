"""Migration ``0002_backfill_finished_at``: sessions left unfinished by the PostgreSQL race are finished.

The old state is written at revision 0001 (tables as that revision made them),
then the database is upgraded as every server start and ``open_store`` does.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from eyetest.store.engine import make_engine
from eyetest.store.migrate import current_revision, head_revision, upgrade
from eyetest.study.service import StudyService

REVISION = "0002_backfill_finished_at"
T0 = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=timezone.utc)

# revision 0001's tables (only what is written here): eyetest.store.schema may describe newer columns
STUDIES = sa.table("studies", sa.column("id"), sa.column("name"), sa.column("spec", sa.JSON),
                   sa.column("status"), sa.column("created_at", sa.DateTime(timezone=True)))
SESSIONS = sa.table("sessions", sa.column("token"), sa.column("study_id"), sa.column("participant"),
                    sa.column("platform"), sa.column("meta", sa.JSON), sa.column("trial_count", sa.Integer),
                    sa.column("created_at", sa.DateTime(timezone=True)),
                    sa.column("finished_at", sa.DateTime(timezone=True)))
TRIALS = sa.table("trials", sa.column("id", sa.Integer), sa.column("study_id"), sa.column("session_token"),
                  sa.column("position", sa.Integer), sa.column("kind"), sa.column("payload", sa.JSON),
                  *(sa.column(f, sa.Boolean) for f in ("is_gold", "is_repeat", "is_attention", "is_training",
                                                       "answered")))
JUDGMENTS = sa.table("judgments", sa.column("client_id"), sa.column("trial_id", sa.Integer),
                     sa.column("session_token"), sa.column("study_id"), sa.column("answers", sa.JSON),
                     sa.column("created_at", sa.DateTime(timezone=True)))


def _utc(value: datetime | None) -> datetime | None:
    """A stored time as aware UTC (SQLite gives naive UTC, PostgreSQL aware)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def _old_state(conn) -> dict[str, datetime | None]:
    """Sessions of three trials; returns each session's expected finished_at after the repair."""
    conn.execute(sa.insert(STUDIES).values(id="s1", name="n", spec={"plan": {"crowd": {"completion_code": "C-1"}}},
                                           status="open", created_at=T0))
    cases = {
        # (answered trials, finished_at stored)
        "raced": (3, None),            # every trial answered, finished_at lost to the race: repaired
        "unfinished": (2, None),       # one trial open: stays unfinished
        "untouched": (0, None),        # nothing answered
        "finished": (3, T0),           # finished normally: its time is kept
    }
    expected = {}
    tid = 0
    for k, (token, (answered, finished)) in enumerate(cases.items()):
        conn.execute(sa.insert(SESSIONS).values(token=token, study_id="s1", participant=f"p{k}", platform="link",
                                                meta={}, trial_count=3, created_at=T0, finished_at=finished))
        last = None
        # answered out of position order: the latest judgment is not the last position's
        for position in (2, 0, 1):
            tid += 1
            done = answered > 0
            answered -= done
            conn.execute(sa.insert(TRIALS).values(id=tid, study_id="s1", session_token=token, position=position,
                                                  kind="pairwise", payload={}, is_gold=False, is_repeat=False,
                                                  is_attention=False, is_training=False, answered=done))
            if done:
                when = T0 + timedelta(minutes=10 * k + position, microseconds=123)
                conn.execute(sa.insert(JUDGMENTS).values(client_id=f"c{tid:08d}", trial_id=tid,
                                                         session_token=token, study_id="s1",
                                                         answers={"overall": "A"}, created_at=when))
                last = when if last is None else max(last, when)
        expected[token] = finished if finished is not None else (last if token == "raced" else None)
    return expected


def test_upgrade_finishes_sessions_whose_every_trial_is_answered(db_url):
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0001")
        with engine.begin() as conn:
            expected = _old_state(conn)
        with engine.connect() as conn:               # what the admin progress counted (finished_at set)
            before = conn.execute(sa.select(sa.func.count(), sa.func.count(SESSIONS.c.finished_at))).first()
        assert tuple(before) == (4, 1)                  # the under-count

        upgrade(engine)                        # what every server start does (eyetest.web.app.create_app)
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            stored = dict(conn.execute(sa.select(SESSIONS.c.token, SESSIONS.c.finished_at)).all())
            latest = conn.execute(sa.select(sa.func.max(JUDGMENTS.c.created_at))
                                  .where(JUDGMENTS.c.session_token == "raced")).scalar()
        assert {k: _utc(v) for k, v in stored.items()} == expected
        assert stored["raced"] == latest                # the stored value itself, as the database keeps it
        service = StudyService(engine)           # today's service reads the newest schema
        after = service.progress("s1")
        assert (after["sessions"], after["sessions_finished"]) == (4, 2)
        # what the rater's page says agrees with the admin's count
        assert [service.session_info(t)["finished"] for t in ("raced", "unfinished", "untouched", "finished")] \
            == [True, False, False, True]
        upgrade(engine)                                 # idempotent
    finally:
        engine.dispose()


def test_revision_chain():
    from alembic.script import ScriptDirectory

    from eyetest.store.migrate import _config

    script = ScriptDirectory.from_config(_config())
    assert script.get_revision(REVISION).down_revision == "0001"
    assert REVISION in {r.revision for r in script.walk_revisions()}
