"""The rater's trial loop: the next trial and the judgments, the per-judgment hot path.

:class:`Judging` is the part of :class:`eyetest.study.service.StudyService`
that raters hit for every trial:

* :meth:`Judging.next_trial`: one indexed read, the session's first
  unanswered trial (so a reload resumes it) plus the next one's image URLs for
  preloading.
* :meth:`Judging.record_judgment`: checks that the trial belongs to the
  session and is unanswered, validates the answers against the trial's
  questions, inserts the judgment and marks the trial answered atomically (on
  SQLite in one transaction, on PostgreSQL in one statement after a read:
  :meth:`Judging.judgment_steps`); the caller acknowledges only after
  the commit.  A replay with the same ``client_id`` returns the stored
  judgment and writes nothing.  The answer that leaves no trial of its
  session unanswered finishes the session.
* :meth:`Judging.record_batch`: many writes in one transaction (the SQLite
  server's group commit, :mod:`eyetest.web.groupcommit`).

The statements are :mod:`eyetest.study.hotpath`'s.  On PostgreSQL the
operations are statement generators run by :func:`drive` (here) or by
:mod:`eyetest.web.pgasync` (the server's event loop).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from datetime import datetime, timezone

import orjson
import sqlalchemy as sa

from eyetest.store.engine import describe
from eyetest.study.planning import StudyState, validate_answers
from eyetest.study.service_errors import Conflict, Gone, Invalid, NotFound, ServiceError, Unavailable

_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
log = logging.getLogger("eyetest.study")


def _check_judgment(trial, client_id, elapsed_ms) -> None:
    if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
        raise Invalid("client_id must be 8-64 characters of A-Z a-z 0-9 _ - (a UUID)")
    if isinstance(trial, bool) or not isinstance(trial, int) or not 0 < trial < 2**62:
        raise Invalid("trial must be a positive integer")
    if elapsed_ms is not None and (isinstance(elapsed_ms, bool) or not isinstance(elapsed_ms, int)
                                   or not 0 <= elapsed_ms <= 86_400_000):
        raise Invalid("elapsed_ms must be an integer from 0 to 86400000")


def expired() -> Gone:
    """The refusal of a trial or answer in an expired session (:mod:`eyetest.study.expiry`)."""
    return Gone("this session expired: no answer came for a long time, so its remaining trials went to "
                "other raters; the answers given before are saved")


def drive(steps, execute):
    """Run a statement generator with ``execute(name, params) -> rows``; its return value.

    The hot operations on PostgreSQL (:meth:`Judging.next_steps`,
    :meth:`Judging.judgment_steps`) are written as generators that yield
    ``(statement name, params)`` and are sent the rows, so the same decisions
    run on a SQLAlchemy connection here and on an asyncio psycopg connection
    in the server (:mod:`eyetest.web.pgasync`).
    """
    try:
        step = next(steps)
        while True:
            step = steps.send(execute(*step))
    except StopIteration as done:
        return done.value


class Judging:
    """Trial and judgment operations of :class:`~eyetest.study.service.StudyService` (a mixin: it uses
    the service's ``engine``, ``write``, ``read``, ``state``, ``hot``, ``sqlite`` and ``_fast``)."""

    def next_trial(self, token: str) -> dict | None:
        """The session's current trial (first unanswered); ``None`` when it is finished.

        One statement (:data:`eyetest.study.hotpath._SQL` ``"next"``): on
        SQLite through a plain per-thread ``sqlite3`` connection, outside any
        explicit transaction (a single SELECT reads one WAL snapshot).
        """
        if self._fast is not None:
            try:
                rows = self._fast.fetchall(self.hot.sql["next"], (token, False, token))
            except sqlite3.OperationalError as exc:
                log.warning("database read failed on %s: %s", describe(self.engine), exc)
                raise Unavailable("the database is unavailable; try again") from exc
            return self._next_from_rows(rows)
        return self.read(lambda conn: drive(self.next_steps(token), self._executor(conn)))

    def next_steps(self, token: str):
        """:meth:`next_trial` as statements to run (see :func:`drive`)."""
        rows = yield "next", (token, False, token)
        return self._next_from_rows(rows)

    def _next_from_rows(self, rows) -> dict | None:
        hot = self.hot
        if not rows:
            raise NotFound("no such session")
        trial_count, status, expired_at, tid, position, payload = rows[0]
        if tid is None:
            return None
        if status != "open":
            raise Conflict(f"the study is {status}", status=409)
        if expired_at is not None:
            raise expired()
        out = {"trial": tid, **hot.json(payload)["public"], "position": position, "trial_count": trial_count}
        out["preload"] = ([x["url"] for x in hot.json(rows[1][5])["public"]["stimuli"]]
                          if len(rows) > 1 else [])
        return out

    def _executor(self, conn):
        """``execute(name, params) -> rows`` of a hot-path statement on a SQLAlchemy connection."""
        return lambda name, params: self.hot.run(conn, name, params).all()

    # ----------------------------------------------------------- judgments
    def record_judgment(self, token: str, *, trial, answers, client_id, elapsed_ms=None) -> tuple[dict, bool]:
        """Store one judgment; ``(receipt, created)``; ``created`` is False for a replay."""
        _check_judgment(trial, client_id, elapsed_ms)
        try:
            return self.write(lambda c: self._record(c, token, trial, answers, client_id, elapsed_ms))
        except sa.exc.IntegrityError:
            # a concurrent request with the same client_id (or trial) committed first
            return self.write(lambda c: self._record(c, token, trial, answers, client_id, elapsed_ms))

    def record_batch(self, items: list[dict]) -> list:
        """Run many writes in ONE transaction (group commit); one result per item.

        An item is ``{"op": "judgment", **record_judgment kwargs, "token": ...}``
        or ``{"op": "session", "study", "participant", "meta"}``; its result is
        ``(value, created)`` or the :class:`ServiceError` it raised (each item
        runs in its own savepoint, so a refused item changes nothing).  Nothing
        is acknowledged before the single commit, and one fsync then covers
        the whole batch.
        """
        results: list = [None] * len(items)
        todo = []
        for k, item in enumerate(items):
            try:
                if item.get("op", "judgment") == "judgment":
                    _check_judgment(item["trial"], item["client_id"], item.get("elapsed_ms"))
                todo.append(k)
            except ServiceError as exc:
                results[k] = exc
        touched: list[StudyState] = []         # the study caches this attempt may have planned in

        def undo():
            # the attempt did not commit (an error, or a failed commit that write() retries): the
            # proposals it made are not in the database; each cache is rebuilt from it on next use
            for st in touched:
                with st.lock:
                    st.reset()
            touched.clear()

        def one(conn, it):
            if it.get("op", "judgment") == "judgment":
                return self._record(conn, it["token"], it["trial"], it["answers"], it["client_id"],
                                    it.get("elapsed_ms"))
            st = self.state(it["study"], conn)
            touched.append(st)
            with st.lock:
                return self._create_session(conn, st, it["participant"], dict(it.get("meta") or {}))

        def w(conn):
            out = {}
            if not self.sqlite:
                # PostgreSQL: the session starts of a batch are planned together per study, under ONE
                # study lock with one sync and one insert of all their trials (each session start on
                # its own would cost a dozen round trips while holding the study lock)
                groups: dict[str, list[int]] = {}
                for k in todo:
                    if items[k].get("op") == "session":
                        groups.setdefault(items[k]["study"], []).append(k)
                for study_id, ks in groups.items():
                    try:
                        st = self.state(study_id, conn)
                    except ServiceError as exc:
                        out.update((k, exc) for k in ks)
                        continue
                    touched.append(st)
                    with st.lock:
                        out.update(zip(ks, self._create_sessions(conn, st, [items[k] for k in ks])))
            for k in todo:
                if k in out:
                    continue
                if self.sqlite and items[k].get("op", "judgment") == "judgment":
                    # No savepoint needed (two statements fewer per judgment): _record raises a
                    # ServiceError only before its first write, and its first write (the INSERT)
                    # is the only statement that can violate a constraint, which SQLite undoes
                    # by itself (statement rollback).  Any other error aborts the whole batch.
                    try:
                        out[k] = one(conn, items[k])
                    except ServiceError as exc:
                        out[k] = exc
                    except sa.exc.IntegrityError:
                        out[k] = Conflict("stored concurrently by another request; resubmit")
                    continue
                savepoint = conn.begin_nested()
                try:
                    out[k] = one(conn, items[k])
                    savepoint.commit()
                except ServiceError as exc:
                    savepoint.rollback()
                    out[k] = exc
                except sa.exc.IntegrityError:
                    savepoint.rollback()
                    out[k] = Conflict("stored concurrently by another request; resubmit")
            return out

        try:
            done = self.write(w, undo=undo) if todo else {}
        except ServiceError as exc:
            done = {k: exc for k in todo}
        for k, value in done.items():
            results[k] = value
        return results

    def _replay(self, conn, token, trial, client_id):
        row = self.hot.run(conn, "replay", (client_id,)).first()
        if row is None:
            return None
        if row.session_token != token or row.trial_id != trial:
            raise Conflict("client_id was already used for another judgment")
        return {"trial": trial, "client_id": client_id, "stored": True}

    def judgment_steps(self, token: str, trial: int, answers, client_id: str, elapsed_ms):
        """A PostgreSQL judgment as statements to run (see :func:`drive`): ``(receipt, created)``.

        ``probe`` then ``store`` (:data:`eyetest.study.hotpath.PG_JUDGMENT`),
        each atomic on its own, so the server runs them on autocommit
        connections from its event loop (:mod:`eyetest.web.pgasync`): two
        round trips per judgment.  The
        checks come in the order SQLite's :meth:`_record` makes them.  When
        ``store`` inserts nothing (a concurrent answer, replay or close since
        the probe), the probe is run again and decides.  Call
        :func:`_check_judgment` first.
        """
        for _ in range(2):
            rows = yield "probe", (client_id, trial)
            (seen_session, seen_trial, session, answered, _position, training, questions, expected, _study,
             _trial_count, status, expired_at) = rows[0]
            if seen_session is not None:
                if seen_session != token or seen_trial != trial:
                    raise Conflict("client_id was already used for another judgment")
                return {"trial": trial, "client_id": client_id, "stored": True}, False
            if session is None or session != token:
                raise NotFound("no such trial in this session")
            if status == "closed":
                raise Conflict("the study is closed")
            if answered:
                raise Conflict("this trial was already answered")
            if expired_at is not None:
                raise expired()
            questions = self.hot.json(questions)
            clean = validate_answers(answers, questions)
            if isinstance(clean, str):
                raise Invalid(clean)
            now = datetime.now(timezone.utc)
            rows = yield "store", (token, client_id, orjson.dumps(clean).decode(), elapsed_ms, now, trial, now)
            stored, finished = rows[0]
            if stored:
                receipt = {"trial": trial, "client_id": client_id, "stored": True, "finished": bool(finished)}
                if training:
                    receipt["feedback"] = {"expected": expected,
                                           "correct": clean.get(questions[0]["dimension"]) == expected}
                return receipt, True
        raise Conflict("stored concurrently by another request; resubmit")

    def _record(self, conn, token, trial, answers, client_id, elapsed_ms):
        if not self.sqlite:
            return drive(self.judgment_steps(token, trial, answers, client_id, elapsed_ms), self._executor(conn))
        replay = self._replay(conn, token, trial, client_id)
        if replay is not None:
            return replay, False
        hot = self.hot
        row = hot.run(conn, "trial", (trial,)).first()
        if row is None or row.session_token != token:
            raise NotFound("no such trial in this session")
        if row.status == "closed":
            raise Conflict("the study is closed")
        if row.answered:
            # a concurrent request with this client_id may have committed while we waited for the row
            replay = self._replay(conn, token, trial, client_id)
            if replay is not None:
                return replay, False
            raise Conflict("this trial was already answered")
        if row.expired_at is not None:
            raise expired()
        payload = hot.json(row.payload)
        clean = validate_answers(answers, payload["public"]["questions"])
        if isinstance(clean, str):
            raise Invalid(clean)
        hot.run(conn, "insert", (client_id, trial, token, row.study_id, orjson.dumps(clean).decode(), elapsed_ms,
                                 hot.now()))
        hot.run(conn, "answered", (True, trial))
        # trials may be answered in any order: the session is finished when none is left
        finished = hot.run(conn, "left", (token, False)).scalar() == 0
        if finished:
            hot.run(conn, "finish", (hot.now(), token))
        receipt = {"trial": trial, "client_id": client_id, "stored": True, "finished": finished}
        if row.is_training:
            expected = payload.get("expected")
            first = payload["public"]["questions"][0]["dimension"]
            receipt["feedback"] = {"expected": expected, "correct": clean.get(first) == expected}
        return receipt, True
