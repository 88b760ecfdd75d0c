"""The two per-judgment statements sets (``next`` and ``judgments``) as plain driver SQL.

``next`` and ``judgments`` run for every judgment, so their statements are
written once per dialect and executed with ``exec_driver_sql`` (no statement
construction or cache-key walk per request).  Everything else uses
SQLAlchemy Core.  The SQL is the same on both databases except for the
parameter marker, the ``::json`` cast and PostgreSQL's ``FOR UPDATE OF t`` row
lock (SQLite's ``BEGIN IMMEDIATE`` already serialises writers).
"""

from __future__ import annotations

from datetime import datetime, timezone

import orjson

_SQL = {
    "head": "SELECT s.trial_count, st.status FROM sessions s JOIN studies st ON st.id = s.study_id "
            "WHERE s.token = ?",
    "rows": "SELECT id, position, payload FROM trials WHERE session_token = ? AND answered = ? "
            "ORDER BY position LIMIT 2",
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
