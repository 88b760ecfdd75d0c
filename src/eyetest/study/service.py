"""Study service: the operations the web API and the CLI share.

Every operation is one short database transaction (SQLAlchemy Core, no ORM).
:class:`StudyService` is assembled from its parts:

* sessions (:mod:`eyetest.study.sessions`): :meth:`StudyService.start_session`
  is idempotent per participant, a new session's trials are planned at once
  under the study's write lock; :meth:`StudyService.session_info`.
* the rater's trial loop (:mod:`eyetest.study.judging`):
  :meth:`StudyService.next_trial`, :meth:`StudyService.record_judgment` (the
  caller acknowledges only after the commit; a replay with the same
  ``client_id`` writes nothing) and the group commit's
  :meth:`StudyService.record_batch`.
* here: the transactions (:meth:`StudyService.write`,
  :meth:`StudyService.read`), the study state cache and the admin
  operations (studies, status, progress, images).

The refusals are :mod:`eyetest.study.service_errors`; this module re-exports
them and the other names callers import from it.

Busy/locked databases and dropped PostgreSQL connections are retried
(:meth:`StudyService.write`); a reconnect is handled by the engine's
``pool_pre_ping``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import time
from datetime import datetime, timezone

import numpy as np
import sqlalchemy as sa

from eyetest.store import schema
from eyetest.store.engine import describe, is_sqlite, read_only
from eyetest.study.hotpath import HotPath, SQLiteReader
from eyetest.study.judging import Judging, _check_judgment, drive
from eyetest.study.metadata import strip_metadata
from eyetest.study.planning import StudyState, load_state
from eyetest.study.service_errors import Conflict, Invalid, NotFound, ServiceError, Unavailable
from eyetest.study.sessions import MTURK_HOSTS, PROLIFIC_COMPLETE, Sessions

__all__ = ["MTURK_HOSTS", "PROLIFIC_COMPLETE", "STATUSES", "WRITE_ATTEMPTS", "Conflict", "Invalid", "NotFound",
           "ServiceError", "StudyService", "Unavailable", "_check_judgment", "drive"]

STATUSES = ("open", "paused", "closed")
#: attempts of a write transaction on a busy database or a dropped connection
WRITE_ATTEMPTS = 6
log = logging.getLogger("eyetest.study")


def _iso(value) -> str | None:
    return None if value is None else schema.as_utc(value).isoformat()


def _file_id(path) -> tuple[int, int] | None:
    """``(device, inode)`` of a file, None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class StudyService(Sessions, Judging):
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
        self._served_sha: dict[str, str] = {}   # images.sha256 -> sha256 of what raters get (image())
        self._states_lock = threading.Lock()

    # ------------------------------------------------------------ plumbing
    def write(self, fn, *, undo=None):
        """Run ``fn(conn)`` in a write transaction, retrying busy/locked/disconnected databases.

        A busy database that stays busy is :class:`Unavailable` (503); any other
        ``OperationalError`` (a read-only file, a full disk) is raised as it is,
        so the server answers 500 and logs it.  Both are logged.

        ``undo()`` is called after every attempt that did not commit, whatever
        failed (``fn`` raised, or the commit itself: a dropped PostgreSQL
        connection, SQLite busy at commit), once the transaction is rolled
        back and before the retry or the raise.  A ``fn`` that changes
        in-memory state along with the database (the planners' scheduler
        cache, :class:`~eyetest.study.planning.StudyState`) passes what puts
        that state back, so a retried attempt starts from what the database
        holds, as a fresh process would.
        """
        delay = 0.02
        for attempt in range(WRITE_ATTEMPTS):
            try:
                try:
                    with self.engine.begin() as conn:
                        result = fn(conn)
                        self._check_file()         # before the commit: refused, the transaction rolls back
                except BaseException:
                    if undo is not None:
                        undo()
                    raise
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
        query = sa.select(s.id, s.name, s.spec, s.status, s.resumed_at).where(s.id == study_id)
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
            values = {"status": status}
            if row.status == "paused" and status == "open":
                # raters could not answer while it was paused: idle time before now expires no session
                values["resumed_at"] = datetime.now(timezone.utc)
            conn.execute(sa.update(schema.studies).where(schema.studies.c.id == study_id).values(**values))
            return {"study": study_id, "status": status}

        return self.write(w)

    def study_spec(self, study_id: str) -> dict:
        return self.read(lambda c: dict(self._study(c, study_id).spec))

    def progress(self, study_id: str) -> dict:
        se, t = schema.sessions.c, schema.trials.c

        def q(conn):
            study = self._study(conn, study_id)
            sessions = conn.execute(sa.select(
                sa.func.count(), sa.func.count(se.finished_at), sa.func.count(se.expired_at))
                .where(se.study_id == study_id)).first()
            # trials released by expired sessions (eyetest.study.expiry) will never be answered: not planned
            trials = conn.execute(sa.select(
                sa.func.count(), sa.func.sum(sa.case((t.answered.is_(True), 1), else_=0)))
                .where(t.study_id == study_id, t.released_after.is_(None))).first()
            return study, sessions, trials

        study, sessions, trials = self.read(q)
        return {"study": study_id, "name": study.name, "status": study.status,
                "sessions": sessions[0], "sessions_finished": sessions[1], "sessions_expired": sessions[2],
                "trials_planned": trials[0], "judgments": int(trials[1] or 0)}

    def image(self, token: str) -> tuple[bytes, str, str] | None:
        """``(content, media_type, sha256)`` of a stimulus token as raters get it, or None.

        Without embedded metadata (:func:`blinded`), also for images stored
        before imports stripped it; ``sha256`` is that of the bytes returned.
        """
        if not token or len(token) > 64:
            return None
        im, st = schema.images.c, schema.stimuli.c
        row = self.read(lambda c: c.execute(sa.select(im.content, im.media_type, im.sha256).join(
            schema.stimuli, st.sha256 == im.sha256).where(st.token == token)).first())
        if row is None:
            return None
        content, media, sha = bytes(row.content), row.media_type, row.sha256
        served = self._served_sha.get(sha)      # rows are content-addressed: the answer never changes
        if served == sha:
            return content, media, sha          # found clean before: nothing to strip
        item = blinded(content, media, sha, served_sha=served)
        if len(self._served_sha) >= 100_000:
            self._served_sha.clear()
        self._served_sha[sha] = item[2]
        return item


def blinded(content: bytes, media_type: str, sha256: str, *, served_sha: str | None = None
            ) -> tuple[bytes, str, str]:
    """A stored image as raters get it: ``(content, media_type, sha256 of content)``.

    Imports store images without embedded metadata
    (:func:`eyetest.study.metadata.strip_metadata`: text chunks, EXIF, XMP,
    comments may name the method), keyed by the SHA256 of the stripped
    bytes.  Rows stored by earlier versions hold the original file, so the
    metadata is stripped here too.  Where the bytes change, so does the
    returned SHA256 (the image's ETag); ``served_sha``, when known, is that
    SHA256 (not computed again).  A file whose structure cannot be walked is
    decoded and sent as a PNG of the same pixels, as imports do.

    Cost, measured on the 2-core development machine for 2-megapixel images
    (PNG 4.7 MB, JPEG 0.75 MB): stripping 0.2 / 0.4 ms, the SHA256 of the
    stripped bytes 2.4 / 0.4 ms, against 1.8 / 0.3 ms to read the row from
    SQLite.  :meth:`StudyService.image` remembers each row's outcome by its
    SHA256, so a clean row is checked once per process and an old row's
    SHA256 computed once; the server also keeps the bytes it sent in its
    image cache (``eyetest.web.app.ImageCache``).
    """
    try:
        clean = strip_metadata(content, media_type)
    except ValueError as exc:
        png = _as_png(content, sha256, exc)
        return png, "image/png", hashlib.sha256(png).hexdigest()
    if clean == content:
        return content, media_type, sha256
    return clean, media_type, served_sha or hashlib.sha256(clean).hexdigest()


def _as_png(content: bytes, sha256: str, why: Exception) -> bytes:
    from PIL import Image as PILImage

    from eyetest.io.images import encode_png

    try:
        with PILImage.open(io.BytesIO(content)) as im:
            im.load()
            pixels = np.asarray(im if im.mode in ("L", "RGB") else im.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as exc:
        log.error("stored image %s cannot be served: its metadata cannot be stripped (%s) nor its pixels "
                  "decoded (%s)", sha256, why, exc)
        raise ServiceError("a stored image cannot be served", status=500) from None
    return encode_png(pixels)
