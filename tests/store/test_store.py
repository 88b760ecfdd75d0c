"""The store: engines, migrations, constraints, concurrency (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from eyetest.store import schema
from eyetest.store.engine import StoreError, make_engine, normalise_url
from eyetest.store.migrate import current_revision, head_revision, upgrade


def _now():
    return datetime.now(timezone.utc)


def test_normalise_url(tmp_path):
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url(tmp_path / "a.db") == f"sqlite:///{tmp_path / 'a.db'}"
    with pytest.raises(StoreError, match="in-memory"):
        make_engine("sqlite://")
    with pytest.raises(StoreError, match="unsupported"):
        make_engine("mysql://root@localhost/x")


def test_migrations_build_exactly_the_schema(db_url):
    engine = make_engine(db_url)
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    assert diff == [], f"schema.py and the migrations disagree: {diff}"
    upgrade(engine)  # idempotent
    engine.dispose()


def test_sqlite_pragmas(tmp_path):
    engine = make_engine(tmp_path / "s.db")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def _seed(engine):
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.studies).values(id="s1", name="n", spec={}, status="open", created_at=_now()))
        conn.execute(sa.insert(schema.sessions).values(
            token="t1", study_id="s1", participant="p", platform="link", meta={}, trial_count=1, created_at=_now()))
        tid = conn.execute(sa.insert(schema.trials).values(
            study_id="s1", session_token="t1", position=0, kind="pairwise", payload={"a": 1},
            is_gold=False, is_repeat=False, is_attention=False, is_training=False, answered=False)
        ).inserted_primary_key[0]
    return tid


def test_client_id_and_trial_are_unique(db_url):
    engine = make_engine(db_url)
    tid = _seed(engine)
    row = dict(client_id="c1", trial_id=tid, session_token="t1", study_id="s1", answers={"overall": "A"},
               elapsed_ms=900, created_at=_now())
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.judgments).values(**row))
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as conn:
            conn.execute(sa.insert(schema.judgments).values(**row))
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.judgments)).scalar() == 1
    engine.dispose()


def test_foreign_keys_enforced(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as conn:
            conn.execute(sa.insert(schema.sessions).values(
                token="t", study_id="missing", participant="p", platform="link", meta={},
                trial_count=0, created_at=_now()))
    engine.dispose()


def test_concurrent_writers_lose_nothing(db_url):
    """8 threads x 25 read-modify-write transactions on one counter: no lost update."""
    engine = make_engine(db_url, pool_size=8)
    _seed(engine)
    errors = []

    def worker():
        try:
            for _ in range(25):
                with engine.begin() as conn:
                    q = sa.select(schema.sessions.c.trial_count).where(schema.sessions.c.token == "t1")
                    if engine.dialect.name == "postgresql":
                        q = q.with_for_update()
                    n = conn.execute(q).scalar_one()
                    conn.execute(sa.update(schema.sessions).where(schema.sessions.c.token == "t1")
                                 .values(trial_count=n + 1))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with engine.connect() as conn:
        n = conn.execute(sa.select(schema.sessions.c.trial_count)).scalar_one()
    assert n == 1 + 8 * 25
    engine.dispose()
