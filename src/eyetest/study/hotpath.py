"""The two per-judgment statements sets (``next`` and ``judgments``) as plain driver SQL.

``next`` and ``judgments`` run for every judgment, so their statements are
written once per dialect and executed with ``exec_driver_sql`` (no statement
construction or cache-key walk per request) or straight through psycopg.
Everything else uses SQLAlchemy Core.

``next`` is one statement on both databases; on SQLite it runs through
:class:`SQLiteReader` (a plain ``sqlite3`` connection per thread, no explicit
transaction, no pool).

A judgment differs.  SQLite stores it with five short statements inside the
group-commit transaction (``BEGIN IMMEDIATE`` already serialises writers, and
a statement there costs microseconds).  On PostgreSQL every statement is a
network round trip, so a judgment is two statements that are each atomic on
their own and need no explicit transaction (:data:`PG_JUDGMENT`):

``probe``
    the replay lookup by ``client_id`` and the trial with its session and
    study, in one read; the service decides from it (replay, 404, 409, 422)
    and validates the answers against the trial's questions.
``store``
    one statement with data-modifying CTEs: lock the session's row (unless
    it expired, :mod:`eyetest.study.expiry`: expiry takes the same lock, and
    the row is re-read after waiting for it), insert
    the judgment only if the trial is still this session's, unanswered and
    its study not closed (``ON CONFLICT DO NOTHING`` on the unique
    ``client_id`` and ``trial_id``), mark the trial answered, and finish the
    session when it was the last unanswered trial.  It reports whether the
    row went in; when it did not (a concurrent answer, replay or close since
    the probe), the probe is run again and gives the answer.  The unique
    constraints decide duplicates, and the statement's own commit is the
    acknowledgement.

How ``store`` finishes a session exactly once: a statement reads the rows
committed before it started (READ COMMITTED), so two last answers of one
session running at once each saw the other's trial still unanswered, and
neither set ``finished_at``.  Now the "is another trial unanswered?" read
(``left_``) locks the row it finds (``FOR SHARE``): PostgreSQL then waits for
a transaction changing that row and re-reads its newest version, so a trial
answered by a store that committed meanwhile is seen as answered and
skipped.  The stores of one session also queue on the session's row lock,
taken first (``ins`` reads it), so they never wait for each other's trial
rows (two stores each locking the other's trial would deadlock).  The last
answer therefore finishes the session whatever the interleaving.  It costs a
row lock on the session and on one other trial; only stores of the same
session wait for each other (a rater answers one trial at a time, so they
practically never do).
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timezone

import orjson

_SQL = {
    # the session's head and its first two unanswered trials in ONE statement (one snapshot, one
    # round trip); a finished session gives one row with NULL trial columns, an unknown one none
    "next": "SELECT s.trial_count, st.status, s.expired_at, t.id, t.position, t.payload FROM sessions s "
            "JOIN studies st ON st.id = s.study_id LEFT JOIN (SELECT id, position, payload FROM trials "
            "WHERE session_token = ? AND answered = ? ORDER BY position LIMIT 2) t ON 1 = 1 "
            "WHERE s.token = ? ORDER BY t.position",
    # SQLite's judgment (PostgreSQL's is PG_JUDGMENT)
    "replay": "SELECT session_token, trial_id FROM judgments WHERE client_id = ?",
    "trial": "SELECT t.session_token, t.answered, t.position, t.is_training, t.payload, t.study_id, "
             "s.trial_count, st.status, s.expired_at FROM trials t JOIN sessions s ON s.token = t.session_token "
             "JOIN studies st ON st.id = t.study_id WHERE t.id = ?",
    "insert": "INSERT INTO judgments (client_id, trial_id, session_token, study_id, answers, elapsed_ms, "
              "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "answered": "UPDATE trials SET answered = ? WHERE id = ?",
    # the session is finished when its last unanswered trial is answered, in whatever order
    "left": "SELECT count(*) FROM trials WHERE session_token = ? AND answered = ?",
    "finish": "UPDATE sessions SET finished_at = ? WHERE token = ? AND finished_at IS NULL",
}


#: the PostgreSQL judgment statements (see the module docstring); ``%s`` parameters
PG_JUDGMENT = {
    # -> (replay session, replay trial, trial session, answered, position, is_training, questions,
    #     expected, study, trial_count, study status, session expired_at); trial columns NULL for an
    #     unknown trial
    "probe": "SELECT j.session_token, j.trial_id, t.session_token, t.answered, t.position, t.is_training, "
             "t.payload -> 'public' -> 'questions', t.payload ->> 'expected', t.study_id, s.trial_count, "
             "st.status, s.expired_at FROM (SELECT %s::varchar AS cid, %s::bigint AS tid) p "
             "LEFT JOIN judgments j ON j.client_id = p.cid LEFT JOIN trials t ON t.id = p.tid "
             "LEFT JOIN sessions s ON s.token = t.session_token LEFT JOIN studies st ON st.id = t.study_id",
    # params: token, client_id, answers (JSON text), elapsed_ms, now, trial, now
    # -> (stored 0|1, finished 0|1); finished when no other trial of the session is unanswered, whatever
    # the order the trials were answered in.  Order of work (see the module docstring): ``s`` locks the
    # session (``ins`` needs it), ``left`` runs after ``upd`` (it needs upd's row) and locks what it reads,
    # so it sees answers committed by stores this one waited for
    "store": "WITH s AS (SELECT token FROM sessions WHERE token = %s::varchar AND expired_at IS NULL "
             "FOR NO KEY UPDATE), "
             "ins AS (INSERT INTO judgments (client_id, trial_id, session_token, study_id, answers, "
             "elapsed_ms, created_at) SELECT %s::varchar, t.id, t.session_token, t.study_id, %s::json, "
             "%s::integer, %s::timestamptz FROM trials t JOIN studies st ON st.id = t.study_id "
             "WHERE t.id = %s::bigint AND t.session_token = (SELECT token FROM s) "
             "AND NOT t.answered AND st.status <> 'closed' ON CONFLICT DO NOTHING RETURNING trial_id), "
             "upd AS (UPDATE trials SET answered = TRUE WHERE id IN (SELECT trial_id FROM ins) "
             "RETURNING id, session_token), "
             "left_ AS (SELECT count(*) AS n FROM (SELECT 1 FROM trials WHERE session_token = "
             "(SELECT session_token FROM upd) AND NOT answered AND id <> (SELECT id FROM upd) "
             "LIMIT 1 FOR SHARE) o), "
             "fin AS (UPDATE sessions SET finished_at = %s::timestamptz WHERE token IN "
             "(SELECT session_token FROM upd) AND finished_at IS NULL AND (SELECT n FROM left_) = 0 "
             "RETURNING 1) "
             "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM fin)",
}


class HotPath:
    """Dialect-specific SQL of the per-judgment statements."""

    def __init__(self, sqlite: bool):
        self.sqlite = sqlite
        if sqlite:
            self.sql = dict(_SQL)
        else:
            self.sql = {"next": _SQL["next"].replace("?", "%s"), **PG_JUDGMENT}

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
