"""Database engines: SQLite (default, WAL) and PostgreSQL (psycopg).

``make_engine(url)`` accepts a SQLAlchemy URL, a plain ``postgresql://`` URL
(the psycopg 3 driver is chosen for it) or a filesystem path to a SQLite file.

SQLite is opened in WAL mode with ``synchronous=FULL`` (a transaction that has
returned from COMMIT survives a process kill and a power cut), foreign keys
on, a busy timeout, and every transaction started with ``BEGIN IMMEDIATE`` so
two writers never deadlock on a lock upgrade: the second waits for the first.
PostgreSQL connections are checked before use (``pool_pre_ping``) so a server
restart is survived by reconnecting.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from eyetest.errors import EyetestError

#: busy timeout for SQLite writers waiting on each other (milliseconds)
SQLITE_BUSY_TIMEOUT_MS = 30_000


class StoreError(EyetestError):
    """The study database could not be opened or is in an unexpected state."""


def normalise_url(url: str | os.PathLike) -> str:
    """A SQLAlchemy URL for a path, ``sqlite:///...`` or ``postgresql://...`` URL."""
    text = os.fspath(url)
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser().resolve()}"
    if text.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    return text


def make_engine(url: str | os.PathLike, *, pool_size: int = 10, echo: bool = False,
                pre_ping: bool = True, create: bool = True) -> Engine:
    """Create an engine with the concurrency settings described above.

    ``pre_ping=False`` skips the liveness check of a PostgreSQL connection at
    checkout (one round trip per transaction); the caller must then retry a
    transaction that fails on a dropped connection (the study server does).
    ``create=False`` opens an existing SQLite file only (a mistyped path is a
    :class:`StoreError`, not a new empty database); with ``create`` its folder
    is made when missing.
    """
    sa_url = make_url(normalise_url(url))
    backend = sa_url.get_backend_name()
    if backend == "sqlite":
        if sa_url.database in (None, "", ":memory:"):
            raise StoreError("an in-memory SQLite database cannot hold a study; give a file path")
        path = Path(sa_url.database)
        if path.is_dir():
            raise StoreError(f"{str(path)!r} is a folder; give the path of a database file")
        if not create and not path.exists():
            raise StoreError(f"no database {str(path)!r}; check the path (eyetest study create makes one)")
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            sa_url,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=2 * pool_size,
        )
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        return create_engine(
            sa_url,
            echo=echo,
            pool_pre_ping=pre_ping,
            pool_size=pool_size,
            max_overflow=2 * pool_size,
        )
    raise StoreError(f"unsupported database URL {str(sa_url)!r}: use a SQLite path or postgresql://")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Take transaction control away from the sqlite3 module so that the
        # "begin" hook below decides how a transaction starts.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # A connection marked ``read_only(engine)`` reads a WAL snapshot with a
        # deferred BEGIN, so readers never queue behind writers.
        if conn.get_execution_options().get(READ_ONLY_OPTION):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


#: execution option that marks a read-only engine (see :func:`read_only`)
READ_ONLY_OPTION = "eyetest_read_only"


def read_only(engine: Engine) -> Engine:
    """A view of ``engine`` for read-only transactions (SQLite: plain ``BEGIN``).

    Writes through it are not serialised by ``BEGIN IMMEDIATE``; use it for
    reads only.  On PostgreSQL it is the same engine.
    """
    return engine.execution_options(**{READ_ONLY_OPTION: True})


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def describe(engine: Engine) -> str:
    """The database for messages: the SQLite file path, or the URL without its password."""
    if is_sqlite(engine):
        return repr(engine.url.database)
    return repr(engine.url.render_as_string(hide_password=True))


def check_writable(engine: Engine) -> None:
    """Raise :class:`StoreError` unless a write transaction can change the database.

    Writes one row in a transaction that is rolled back, so a read-only file or
    folder, a read-only PostgreSQL database or missing privileges are found at
    startup rather than at the first judgment.
    """
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as conn:
            with conn.begin() as tx:
                conn.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
                tx.rollback()
    except DBAPIError as exc:
        raise StoreError(f"the database {describe(engine)} is not writable: {exc.orig}") from None
