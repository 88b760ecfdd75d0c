"""Session expiry: an abandoned session's unanswered trials go to other raters.

A rater who closes the tab leaves the rest of the session's trials booked:
``full`` would miss those pairs in that replicate, ``active`` would count
them as pending (halving their utility) for ever, and a rating study would
leave those stimuli short of ratings.  So a session that is unfinished and
has had no answer for the study's ``crowd.session_timeout_min`` minutes
(default :data:`~eyetest.study.spec.DEFAULT_SESSION_TIMEOUT_MIN`; 0: never)
*expires*:

* when the next session of its study starts (under the study's write lock,
  in the same transaction that plans the new session: :func:`expire_idle`),
  ``sessions.expired_at`` is set and each unanswered trial of the session
  gets ``trials.released_after`` = the study's largest trial id at that
  moment;
* its regular trials are *released* in the scheduler
  (:meth:`eyetest.core.design.base.PairScheduler.release`: no longer pending,
  and ``full`` hands the pair out again before its queue) or in the rating
  design (:meth:`eyetest.core.design.rating.BalancedBlocks.release`);
* its answers are kept; its rater gets 410 Gone with a message for any later
  trial or answer (the answer that races the expiry either commits first, and
  the trial is not released, or sees the session expired: the judgment store
  checks ``expired_at`` under the session's row lock, which expiry also takes).

Idle time counts from the session's latest answer (or its start) and from
the study's ``resumed_at``: raters cannot answer while a study is paused, so
no session expires within the timeout after a resume.

Replay.  ``full``'s next proposal depends on when a pair was released
relative to the bookings, so a scheduler rebuilt from the database (restart,
another process; :func:`eyetest.study.planning.sync`) applies each release
after booking the trials up to its ``released_after`` and before the next
one: exactly where the expiring process applied it.  Releases at the same
point are order-free (``full`` serves owed pairs in pair-id order; pending
counts and the rating design's counts are sums).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from eyetest.store import schema
from eyetest.study.spec import DEFAULT_SESSION_TIMEOUT_MIN


@dataclass(frozen=True)
class Release:
    """The unanswered regular trials of one expired session."""

    after: int                              # the study's largest trial id when they were released
    token: str                              # the session
    block: tuple                            # rating: every regular stimulus of the session
    unanswered: tuple                       # (condition_a, condition_b) of each released trial, id order


def session_timeout_min(plan: dict) -> int:
    """The study's ``crowd.session_timeout_min`` (plans stored before the key get the default)."""
    return int(plan.get("crowd", {}).get("session_timeout_min", DEFAULT_SESSION_TIMEOUT_MIN))


def _statements():
    """The reads every session start makes, built once (bind parameters ``study``, ``cutoff``, ``since``)."""
    s, t, j = schema.sessions.c, schema.trials.c, schema.judgments.c
    last = (sa.select(sa.func.max(j.created_at))
            .select_from(schema.trials.join(schema.judgments, j.trial_id == t.id))
            .where(t.session_token == s.token).scalar_subquery())
    cutoff = sa.bindparam("cutoff", type_=s.created_at.type)
    idle = sa.select(s.token).where(s.study_id == sa.bindparam("study"), s.finished_at.is_(None),
                                    s.expired_at.is_(None), s.created_at < cutoff,
                                    sa.or_(last.is_(None), last < cutoff))
    released = (schema.regular_trials(sa.select(t.released_after, t.session_token, t.condition_a,
                                                t.condition_b))
                .where(t.study_id == sa.bindparam("study"), t.released_after.is_not(None)))
    order = (t.released_after, t.session_token, t.id)
    return idle, released.order_by(*order), released.where(t.released_after >= sa.bindparam("since")).order_by(*order)


#: sessions of a study idle since ``cutoff``; released regular trials of a study (``since``: released
#: after trial ``since`` or later), in replay order
_IDLE, _RELEASED, _RELEASED_SINCE = _statements()


def expire_idle(conn, state, *, now: datetime, resumed_at, lock_rows: bool) -> list[str]:
    """Mark the study's idle sessions expired and their unanswered trials released; their tokens.

    Call under the study's write lock after the cache is synced (its
    ``trial_wm`` is the study's largest trial id).  ``lock_rows``
    (PostgreSQL): take the candidate sessions' row locks and look again, so
    a judgment being stored meanwhile either commits first (the session is
    not idle) or finds the session expired (module docstring).
    """
    timeout = session_timeout_min(state.plan)
    if timeout <= 0:
        return []
    cutoff = now - timedelta(minutes=timeout)
    resumed_at = schema.as_utc(resumed_at)
    if resumed_at is not None and resumed_at > cutoff:
        return []
    s, t = schema.sessions.c, schema.trials.c
    params = {"study": state.study_id, "cutoff": cutoff}
    tokens = conn.execute(_IDLE, params).scalars().all()
    if tokens and lock_rows:
        # FOR NO KEY UPDATE: waits for a judgment store holding the session's row (it takes the same
        # lock) but not for foreign-key checks (KEY SHARE); then a fresh statement sees its commit
        conn.execute(sa.select(s.token).where(s.token.in_(tokens)).with_for_update(key_share=True)).all()
        tokens = conn.execute(_IDLE.where(s.token.in_(tokens)), params).scalars().all()
    if not tokens:
        return []
    tokens = sorted(tokens)
    conn.execute(sa.update(schema.sessions).where(s.token.in_(tokens)).values(expired_at=now))
    conn.execute(sa.update(schema.trials).where(t.session_token.in_(tokens), t.answered.is_(False))
                 .values(released_after=state.trial_wm))
    return tokens


def read_releases(conn, study_id: str, *, since: int | None = None, tokens=None) -> list[Release]:
    """Releases of the study with ``released_after >= since`` (or of ``tokens``), in replay order.

    Replay order: by ``released_after``, then session token (the order
    among releases at one point does not matter; module docstring).
    """
    t = schema.trials.c
    query = _RELEASED if since is None else _RELEASED_SINCE
    if tokens is not None:
        query = query.where(t.session_token.in_(list(tokens)))
    rows = conn.execute(query, {"study": study_id, "since": since}).all()
    grouped: dict[tuple[int, str], list] = {}
    for after, token, a, b in rows:
        grouped.setdefault((int(after), token), []).append((a, b))
    if not grouped:
        return []
    names = sorted({token for _, token in grouped})
    blocks: dict[str, list[str]] = {}
    query = schema.regular_trials(sa.select(t.session_token, t.condition_a).where(t.session_token.in_(names)))
    for token, a in conn.execute(query.order_by(t.id)).all():
        blocks.setdefault(token, []).append(a)
    return [Release(after, token, tuple(blocks[token]), tuple(pairs))
            for (after, token), pairs in grouped.items()]


def apply_release(state, release: Release) -> None:
    """Release one expired session's trials in the cached scheduler or rating design (once)."""
    if release.token in state.released:
        return
    state.released[release.token] = release.after
    if state.scheduler is not None:
        for a, b in release.unanswered:
            state.scheduler.release(a, b)
    elif state.design is not None:
        state.design.release(release.block, [a for a, _ in release.unanswered])


def forget_applied(state) -> None:
    """Drop applied releases that no later sync can read again (``released_after`` below the watermark)."""
    state.released = {k: v for k, v in state.released.items() if v >= state.trial_wm}
