"""The two per-judgment statements sets (``next`` and ``judgments``) as plain driver SQL.

``next`` and ``judgments`` run for every judgment, so their statements are
written once per dialect and executed with ``exec_driver_sql`` (no statement
construction or cache-key walk per request).  Everything else uses
SQLAlchemy Core.  The SQL is the same on both databases except for the
parameter marker, the ``::json`` cast and PostgreSQL's ``FOR UPDATE OF t`` row
lock (SQLite's ``BEGIN IMMEDIATE`` already serialises writers).  ``next`` is
one statement; on SQLite it runs through :class:`SQLiteReader` (a plain
``sqlite3`` connection per thread, no explicit transaction, no pool).
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timezone

import orjson

_SQL = {
    # the session's head and its first two unanswered trials in ONE statement (one snapshot, one
    # round trip); a finished session gives one row with NULL trial columns, an unknown one none
    "next": "SELECT s.trial_count, st.status, t.id, t.position, t.payload FROM sessions s "
            "JOIN studies st ON st.id = s.study_id LEFT JOIN (SELECT id, position, payload FROM trials "
            "WHERE session_token = ? AND answered = ? ORDER BY position LIMIT 2) t ON 1 = 1 "
            "WHERE s.token = ? ORDER BY t.position",
    "replay": "SELECT session_token, trial_id FROM judgments WHERE client_id = ?",
    "trial": "SELECT t.session_token, t.answered, t.position, t.is_training, t.payload, t.study_id, "
             "s.trial_count, st.status FROM trials t JOIN sessions s ON s.token = t.session_token "
             "JOIN studies st ON st.id = t.study_id WHERE t.id = ?",
    "insert": "INSERT INTO judgments (client_id, trial_id, session_token, study_id, answers, elapsed_ms, "
              "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "answered": "UPDATE trials SET answered = ? WHERE id = ?",
}


class HotPath:
    """Dialect-specific SQL of the per-judgment statements."""

    def __init__(self, sqlite: bool):
        self.sqlite = sqlite
        if sqlite:
            self.sql = dict(_SQL)
        else:
            self.sql = {k: v.replace("?", "%s") for k, v in _SQL.items()}
            self.sql["trial"] += " FOR UPDATE OF t"
            self.sql["insert"] = self.sql["insert"].replace("%s, %s, %s)", "%s::json, %s, %s)")

    def run(self, conn, name: str, params: tuple):
        return conn.exec_driver_sql(self.sql[name], params)

    @staticmethod
    def json(value):
        """A JSON column value as Python data (SQLite gives text, psycopg parsed data)."""
        return orjson.loads(value) if isinstance(value, (str, bytes)) else value

    def now(self):
        now = datetime.now(timezone.utc)
        # SQLAlchemy's SQLite DateTime storage format, so Core reads it back as a datetime
        return now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else now


class SQLiteReader:
    """Single-statement reads on SQLite through a plain ``sqlite3`` connection per thread.

    One SELECT outside an explicit transaction is its own read transaction on
    a WAL snapshot, so it needs no ``BEGIN``/``ROLLBACK`` and no pool
    checkout: the cheapest consistent read there is.  Used for ``next`` on the
    event loop.  Each thread gets its own connection (``sqlite3`` connections
    must not be shared between threads while in use).
    """

    def __init__(self, path: str, *, busy_timeout_s: float = 30.0):
        self.path, self.busy_timeout_s = path, busy_timeout_s
        self._local = threading.local()

    def fetchall(self, sql: str, params: tuple) -> list[tuple]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
        return conn.execute(sql, params).fetchall()
