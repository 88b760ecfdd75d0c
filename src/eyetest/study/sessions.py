"""Rater sessions: start (idempotent per participant, planned at once), look up, progress.

:class:`Sessions` is the part of :class:`eyetest.study.service.StudyService`
that starts sessions: the same participant of a study always gets the same
session back; a new session's trials are planned at once under the study's
write lock (:mod:`eyetest.study.planning`), several starts of one study
together in :meth:`Sessions._create_sessions` (the group commit's batches).
:meth:`Sessions.session_info` gives a session's progress and, once every
trial is answered, its completion code or the crowd platform's redirect.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from urllib.parse import quote

import sqlalchemy as sa

from eyetest.store import schema
from eyetest.study.planning import StudyState, plan_session, sync
from eyetest.study.service_errors import Conflict, Invalid, NotFound, ServiceError

_PARTICIPANT = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
PROLIFIC_COMPLETE = "https://app.prolific.com/submissions/complete?cc="
MTURK_HOSTS = ("https://www.mturk.com", "https://workersandbox.mturk.com")


class Sessions:
    """Session operations of :class:`~eyetest.study.service.StudyService` (a mixin: it uses the
    service's ``write``, ``read``, ``state`` and ``_study``)."""

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
            # a refusal is returned, not raised: it touches no scheduler and writes nothing.  Any attempt
            # that does not commit (an error, or a failed commit that write() retries) leaves the cache
            # holding proposals that were rolled back: undo resets it before the retry (rebuilt from the
            # database, as in a fresh process)
            result = self.write(lambda c: self._create_sessions(
                c, st, [{"participant": participant, "meta": meta}])[0], undo=st.reset)
        if isinstance(result, ServiceError):
            raise result
        return result

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
            platform, now = st.plan["crowd"]["platform"], datetime.now(timezone.utc)
            if study.status == "open" and any(p not in known for p in names):
                # also expires the sessions idle for the study's timeout (eyetest.study.expiry)
                sync(conn, st, now=now, resumed_at=study.resumed_at, lock_rows=not self.sqlite)
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
                sa.select(s.study_id, s.trial_count, s.finished_at, s.expired_at, s.meta, s.platform, st.spec,
                          st.status,
                          sa.select(sa.func.count()).where(t.session_token == s.token, t.answered.is_(True))
                          .scalar_subquery().label("answered"))
                .join(schema.studies, schema.studies.c.id == s.study_id).where(s.token == token)).first()
            if row is None:
                raise NotFound("no such session")
            return row

        row = self.read(q)
        # every trial answered is finished, also where finished_at was not set (sessions stored on
        # PostgreSQL before the store took the session's lock: two concurrent last answers could each
        # see the other's trial still open)
        finished = row.finished_at is not None or row.answered >= row.trial_count
        out = {"study": row.study_id, "trial_count": row.trial_count, "answered": row.answered,
               "finished": finished, "expired": not finished and row.expired_at is not None,
               "status": row.status, "platform": row.platform}
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
