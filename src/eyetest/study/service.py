"""Study service: the operations the web API and the CLI share.

Every operation is one short database transaction (SQLAlchemy Core, no ORM):

* :meth:`StudyService.start_session`: idempotent per participant (the same
  participant of a study always gets the same session back); a new session's
  trials are planned at once under the study's write lock
  (:mod:`eyetest.study.planning`).
* :meth:`StudyService.next_trial`: one indexed read, the session's first
  unanswered trial (so a reload resumes it) plus the next one's image URLs for
  preloading.
* :meth:`StudyService.record_judgment`: checks that the trial belongs to the
  session and is unanswered, validates the answers against the trial's
  questions, inserts the judgment and marks the trial answered atomically (on
  SQLite in one transaction, on PostgreSQL in one statement after a read:
  :meth:`StudyService.judgment_steps`); the caller acknowledges only after the
  commit.  A replay with the same ``client_id`` returns the stored judgment
  and writes nothing.

Busy/locked databases and dropped PostgreSQL connections are retried
(:meth:`StudyService.write`); a reconnect is handled by the engine's
``pool_pre_ping``.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import time
from datetime import datetime, timezone
from urllib.parse import quote

import orjson
import sqlalchemy as sa

from eyetest.errors import EyetestError
from eyetest.store import schema
from eyetest.store.engine import describe, is_sqlite, read_only
from eyetest.study.hotpath import HotPath, SQLiteReader
from eyetest.study.planning import StudyState, load_state, plan_session, sync, validate_answers

STATUSES = ("open", "paused", "closed")
#: attempts of a write transaction on a busy database or a dropped connection
WRITE_ATTEMPTS = 6
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_PARTICIPANT = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
PROLIFIC_COMPLETE = "https://app.prolific.com/submissions/complete?cc="
MTURK_HOSTS = ("https://www.mturk.com", "https://workersandbox.mturk.com")
log = logging.getLogger("eyetest.study")


class ServiceError(EyetestError):
    """A request the service refuses; ``status`` is the HTTP status to answer with."""

    status = 400

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Invalid(ServiceError):
    status = 422


class Unavailable(ServiceError):
    status = 503


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(value) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


def _check_judgment(trial, client_id, elapsed_ms) -> None:
    if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
        raise Invalid("client_id must be 8-64 characters of A-Z a-z 0-9 _ - (a UUID)")
    if isinstance(trial, bool) or not isinstance(trial, int) or not 0 < trial < 2**62:
        raise Invalid("trial must be a positive integer")
    if elapsed_ms is not None and (isinstance(elapsed_ms, bool) or not isinstance(elapsed_ms, int)
                                   or not 0 <= elapsed_ms <= 86_400_000):
        raise Invalid("elapsed_ms must be an integer from 0 to 86400000")


def _file_id(path) -> tuple[int, int] | None:
    """``(device, inode)`` of a file, None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def drive(steps, execute):
    """Run a statement generator with ``execute(name, params) -> rows``; its return value.

    The hot operations on PostgreSQL (:meth:`StudyService.next_steps`,
    :meth:`StudyService.judgment_steps`) are written as generators that yield
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


class StudyService:
    """Study operations on one database (thread-safe; one instance per process)."""

    def __init__(self, engine):
        self.engine = engine
        self.reader = read_only(engine)
        self.sqlite = is_sqlite(engine)
        self.hot = HotPath(self.sqlite)
        self._fast = SQLiteReader(engine.url.database) if self.sqlite else None
        # (device, inode) of the SQLite file written to: a write is refused once it was deleted or replaced
        self._file = _file_id(engine.url.database) if self.sqlite else None
        self._states: dict[str, StudyState] = {}
        self._states_lock = threading.Lock()

    # ------------------------------------------------------------ plumbing
    def write(self, fn):
        """Run ``fn(conn)`` in a write transaction, retrying busy/locked/disconnected databases.

        A busy database that stays busy is :class:`Unavailable` (503); any other
        ``OperationalError`` (a read-only file, a full disk) is raised as it is,
        so the server answers 500 and logs it.  Both are logged.
        """
        delay = 0.02
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.engine.begin() as conn:
                    result = fn(conn)
                    self._check_file()             # before the commit: refused, the transaction rolls back
                    return result
            except sa.exc.OperationalError as exc:
                # SQLite has already waited busy_timeout for the lock: one more try is enough
                attempts = 2 if self.sqlite else WRITE_ATTEMPTS
                transient = not self.sqlite or "locked" in str(exc.orig).lower() or "busy" in str(exc.orig).lower()
                if not transient:
                    log.error("database write failed on %s: %s", describe(self.engine), exc.orig)
                    raise
                if attempt >= attempts - 1:
                    log.warning("database %s still unavailable after %d attempts: %s", describe(self.engine),
                                attempts, exc.orig)
                    raise Unavailable("the database is unavailable; try again") from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _check_file(self) -> None:
        """Refuse to commit when the SQLite file was deleted or replaced since the service opened it.

        The open connections would go on writing to the unlinked file, and every
        acknowledged judgment would be lost when the process exits.
        """
        if not self.sqlite:
            return
        path = self.engine.url.database
        current = _file_id(path)
        if self._file is None:              # the service was made before the first connection made the file
            self._file = current
        if current is None or current != self._file:
            log.error("the database file %s was deleted or replaced while the server was running; refusing "
                      "to store anything (restart the server on the right file)", path)
            raise ServiceError("the server's database file was removed or replaced; nothing was stored",
                               status=500)

    def read(self, fn):
        """Run ``fn(conn)`` in a read-only transaction (retried on a dropped connection)."""
        for attempt in range(3):
            try:
                with self.reader.connect() as conn:
                    return fn(conn)
            except sa.exc.OperationalError as exc:
                if attempt == 2:
                    log.warning("database read failed on %s: %s", describe(self.engine), exc.orig)
                    raise Unavailable("the database is unavailable; try again") from exc
                time.sleep(0.05)

    def _study(self, conn, study_id: str, *, lock: bool = False):
        s = schema.studies.c
        query = sa.select(s.id, s.name, s.spec, s.status).where(s.id == study_id)
        if lock and not self.sqlite:
            # FOR NO KEY UPDATE: serialises planners and status changes, yet does not block the
            # FOR KEY SHARE locks that foreign-key checks of judgment inserts take on this row
            query = query.with_for_update(key_share=True)
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no study {study_id!r}")
        return row

    def state(self, study_id: str, conn=None) -> StudyState:
        with self._states_lock:
            st = self._states.get(study_id)
        if st is not None:
            return st

        def load(c):
            return load_state(c, study_id, self._study(c, study_id).spec)

        st = load(conn) if conn is not None else self.read(load)
        with self._states_lock:
            return self._states.setdefault(study_id, st)

    # ----------------------------------------------------------- sessions
    def start_session(self, study_id: str, participant: str, *, meta: dict | None = None) -> tuple[dict, bool]:
        """``(session, created)``; the same participant gets the same session back."""
        if not isinstance(participant, str) or not _PARTICIPANT.match(participant):
            raise Invalid("participant must be 1-200 printable characters")
        meta = dict(meta or {})
        existing = self.find_session(study_id, participant)
        if existing is not None:
            return existing, False
        st = self.state(study_id)
        with st.lock:
            try:
                return self.write(lambda c: self._create_session(c, st, participant, meta))
            except (NotFound, Conflict, Invalid):
                raise                      # refused before the scheduler was touched
            except BaseException:
                st.reset()                 # the cache may hold proposals that were rolled back
                raise

    def find_session(self, study_id: str, participant: str) -> dict | None:
        """The participant's session of a study, or None (NotFound for an unknown study)."""
        if not isinstance(participant, str) or not _PARTICIPANT.match(participant):
            raise Invalid("participant must be 1-200 printable characters")
        return self.read(lambda c: self._find_session(c, study_id, participant))

    def _find_session(self, conn, study_id: str, participant: str, *, check_study: bool = True) -> dict | None:
        s = schema.sessions.c
        row = conn.execute(sa.select(s.token, s.trial_count).where(
            s.study_id == study_id, s.participant == participant)).first()
        if row is None:
            if check_study:
                self._study(conn, study_id)      # 404 for an unknown study
            return None
        return {"session": row.token, "trial_count": row.trial_count, "study": study_id}

    def _create_session(self, conn, st: StudyState, participant: str, meta: dict):
        result = self._create_sessions(conn, st, [{"participant": participant, "meta": meta}])[0]
        if isinstance(result, ServiceError):
            raise result
        return result

    def _create_sessions(self, conn, st: StudyState, requests: list[dict]) -> list:
        """Several session starts of one study in one go (the caller holds ``st.lock``).

        The same outcome as :meth:`_create_session` per request, in request
        order (a participant named twice gets the session made for the first
        request, ``created`` False), with one study lock, one sync and one
        insert of every new trial.  Errors are returned, not raised, and are
        all decided before anything is written.
        """
        from eyetest.study.importer import new_token

        study = self._study(conn, st.study_id, lock=True)
        s = schema.sessions.c
        names = list(dict.fromkeys(r["participant"] for r in requests))
        known = {p: {"session": tok, "trial_count": n, "study": st.study_id} for p, tok, n in conn.execute(
            sa.select(s.participant, s.token, s.trial_count).where(
                s.study_id == st.study_id, s.participant.in_(names))).all()}
        results: list = []
        sessions, trials, made = [], [], {}
        try:
            if study.status == "open" and any(p not in known for p in names):
                sync(conn, st)
            platform, now = st.plan["crowd"]["platform"], _now()
            for r in requests:
                p = r["participant"]
                if p in known or p in made:
                    results.append((known.get(p) or made[p], False))
                elif study.status != "open":
                    results.append(Conflict(f"study {st.study_id!r} is {study.status}; it takes no new sessions"))
                else:
                    token = new_token(32)
                    rows = plan_session(st, token)
                    sessions.append(dict(token=token, study_id=st.study_id, participant=p, platform=platform,
                                         meta=dict(r.get("meta") or {}), trial_count=len(rows), created_at=now))
                    trials += rows
                    made[p] = {"session": token, "trial_count": len(rows), "study": st.study_id}
                    results.append((made[p], True))
            if sessions:
                conn.execute(sa.insert(schema.sessions), sessions)
                conn.execute(sa.insert(schema.trials), trials)      # executemany: compiled once, pipelined
                t = schema.trials.c
                # the study lock keeps other planners out, so this batch's trials are the study's newest
                st.trial_wm = conn.execute(sa.select(sa.func.max(t.id)).where(
                    t.session_token.in_([x["token"] for x in sessions]))).scalar() or st.trial_wm
        except BaseException:
            st.reset()                     # the scheduler holds proposals that are being rolled back
            raise
        return results

    def session_info(self, token: str) -> dict:
        """Progress of a session; completion code / redirect once every trial is answered."""
        s, t, st = schema.sessions.c, schema.trials.c, schema.studies.c

        def q(conn):
            row = conn.execute(
                sa.select(s.study_id, s.trial_count, s.finished_at, s.meta, s.platform, st.spec, st.status,
                          sa.select(sa.func.count()).where(t.session_token == s.token, t.answered.is_(True))
                          .scalar_subquery().label("answered"))
                .join(schema.studies, schema.studies.c.id == s.study_id).where(s.token == token)).first()
            if row is None:
                raise NotFound("no such session")
            return row

        row = self.read(q)
        # every trial answered is finished, also where finished_at was not set (concurrent last answers
        # on PostgreSQL, each of which saw the other's trial still open)
        finished = row.finished_at is not None or row.answered >= row.trial_count
        out = {"study": row.study_id, "trial_count": row.trial_count, "answered": row.answered,
               "finished": finished, "status": row.status, "platform": row.platform}
        if out["finished"]:
            code = row.spec["plan"]["crowd"].get("completion_code")
            out["completion_code"] = code
            if row.platform == "prolific" and code:
                out["redirect"] = PROLIFIC_COMPLETE + quote(code, safe="")
            elif row.platform == "mturk":
                target = str(row.meta.get("turkSubmitTo", "")).rstrip("/")
                if target in MTURK_HOSTS and row.meta.get("assignmentId"):
                    out["mturk_submit"] = {"action": target + "/mturk/externalSubmit",
                                           "assignmentId": str(row.meta["assignmentId"])}
        return out

    # -------------------------------------------------------------- trials
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
        trial_count, status, tid, position, payload = rows[0]
        if tid is None:
            return None
        if status != "open":
            raise Conflict(f"the study is {status}", status=409)
        out = {"trial": tid, **hot.json(payload)["public"], "position": position, "trial_count": trial_count}
        out["preload"] = ([x["url"] for x in hot.json(rows[1][4])["public"]["stimuli"]]
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
        touched: list[StudyState] = []

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
            touched.clear()
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
            done = self.write(w) if todo else {}
        except BaseException as exc:
            for st in touched:             # their proposals were rolled back with the batch
                st.reset()
            if not isinstance(exc, ServiceError):
                raise
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
        round trips per judgment.  The checks come in the order SQLite's
        :meth:`_record` makes them.  When ``store`` inserts nothing (a
        concurrent answer, replay or close since the probe), the probe is run
        again and decides.  Call :func:`_check_judgment` first.
        """
        for _ in range(2):
            rows = yield "probe", (client_id, trial)
            (seen_session, seen_trial, session, answered, _position, training, questions, expected, _study,
             _trial_count, status) = rows[0]
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
            questions = self.hot.json(questions)
            clean = validate_answers(answers, questions)
            if isinstance(clean, str):
                raise Invalid(clean)
            now = _now()
            rows = yield "store", (client_id, orjson.dumps(clean).decode(), elapsed_ms, now, trial, token, now,
                                   token, trial)
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

    # --------------------------------------------------------------- admin
    def list_studies(self) -> list[dict]:
        s, se, j = schema.studies.c, schema.sessions.c, schema.judgments.c

        def q(conn):
            return conn.execute(sa.select(
                s.id, s.name, s.status, s.created_at,
                sa.select(sa.func.count()).where(se.study_id == s.id).scalar_subquery().label("sessions"),
                sa.select(sa.func.count()).where(j.study_id == s.id).scalar_subquery().label("judgments"),
            ).order_by(s.created_at)).all()

        return [{"study": r.id, "name": r.name, "status": r.status, "created_at": _iso(r.created_at),
                 "sessions": r.sessions, "judgments": r.judgments} for r in self.read(q)]

    def set_status(self, study_id: str, status: str) -> dict:
        if status not in STATUSES:
            raise Invalid(f"status must be one of {', '.join(STATUSES)}")

        def w(conn):
            row = self._study(conn, study_id, lock=True)
            if row.status == "closed" and status != "closed":
                raise Conflict("a closed study cannot be reopened")
            conn.execute(sa.update(schema.studies).where(schema.studies.c.id == study_id).values(status=status))
            return {"study": study_id, "status": status}

        return self.write(w)

    def study_spec(self, study_id: str) -> dict:
        return self.read(lambda c: dict(self._study(c, study_id).spec))

    def progress(self, study_id: str) -> dict:
        se, t = schema.sessions.c, schema.trials.c

        def q(conn):
            study = self._study(conn, study_id)
            sessions = conn.execute(sa.select(
                sa.func.count(), sa.func.count(se.finished_at)).where(se.study_id == study_id)).first()
            trials = conn.execute(sa.select(
                sa.func.count(), sa.func.sum(sa.case((t.answered.is_(True), 1), else_=0)))
                .where(t.study_id == study_id)).first()
            return study, sessions, trials

        study, sessions, trials = self.read(q)
        return {"study": study_id, "name": study.name, "status": study.status,
                "sessions": sessions[0], "sessions_finished": sessions[1],
                "trials_planned": trials[0], "judgments": int(trials[1] or 0)}

    def image(self, token: str) -> tuple[bytes, str, str] | None:
        """``(content, media_type, sha256)`` of a stimulus token, or None."""
        if not token or len(token) > 64:
            return None
        im, st = schema.images.c, schema.stimuli.c
        row = self.read(lambda c: c.execute(sa.select(im.content, im.media_type, im.sha256).join(
            schema.stimuli, st.sha256 == im.sha256).where(st.token == token)).first())
        return None if row is None else (bytes(row.content), row.media_type, row.sha256)
