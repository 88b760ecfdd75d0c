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


def test_opening_an_existing_database_only(tmp_path):
    """Commands that read or manage studies never create a database (nor its folders) from a typo."""
    from eyetest.store.migrate import open_store

    missing = tmp_path / "no_such_dir" / "x.sqlite"
    with pytest.raises(StoreError, match="no database") as err:
        open_store(missing)
    assert str(missing) in str(err.value) and not (tmp_path / "no_such_dir").exists()
    with pytest.raises(StoreError, match="is a folder") as err:
        open_store(tmp_path)
    assert str(tmp_path) in str(err.value)
    engine = open_store(tmp_path / "new" / "db.sqlite", create=True)       # study create
    assert current_revision(engine) == head_revision()
    engine.dispose()
    open_store(tmp_path / "new" / "db.sqlite").dispose()


def test_files_that_are_not_eyetest_databases(tmp_path):
    import sqlite3

    garbage = tmp_path / "spec.sqlite"
    garbage.write_text('[study]\nname = "not a database"\n' * 50)
    with pytest.raises(StoreError, match="not an eyetest database") as err:
        upgrade(make_engine(garbage, create=False))
    assert str(garbage) in str(err.value)

    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (x)")
    with pytest.raises(StoreError, match="not an eyetest database.*notes"):
        upgrade(make_engine(other, create=False))

    future = tmp_path / "future.sqlite"
    engine = make_engine(future)
    upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099_future'")
    with pytest.raises(StoreError, match="newer eyetest") as err:
        upgrade(engine)
    assert str(future) in str(err.value) and "0099_future" in str(err.value)
    engine.dispose()


def test_check_writable(db_url, tmp_path):
    """A database the server cannot write is found at startup, with its name."""
    import os
    import subprocess

    from eyetest.store.engine import check_writable

    engine = make_engine(db_url)
    upgrade(engine)
    check_writable(engine)
    engine.dispose()
    if engine.dialect.name == "postgresql":
        import psycopg

        name = engine.url.database
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        undo = None
    else:
        path = engine.url.database
        if os.geteuid() != 0:
            os.chmod(path, 0o444)
            undo = ["chmod", "644", path]
        elif subprocess.run(["chattr", "+i", path], capture_output=True).returncode == 0:
            undo = ["chattr", "-i", path]
        else:
            pytest.skip("cannot make a file read-only for root here (chattr +i failed)")
        name = path
    try:
        engine = make_engine(db_url)
        with pytest.raises(StoreError, match="not writable") as err:
            check_writable(engine)
        assert name in str(err.value)
        engine.dispose()
    finally:
        if undo:
            subprocess.run(undo, check=True)
