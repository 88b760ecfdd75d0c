"""Per-study scheduling state and the trial list of a new session.

A session's trials are planned when the session starts, in one transaction
that holds the study's write lock (``SELECT ... FOR UPDATE`` of the study row
on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite).  Planning is therefore
serialised per study across every server process sharing the database, and
each trial row belongs to exactly one session: no trial slot can be handed out
twice, and ``next`` is a single indexed read of the session's first unanswered
trial.

The pair scheduler (:func:`eyetest.design.make_scheduler`) lives in an
in-process cache per study (:class:`StudyState`).  Before planning, the cache
is brought up to date from the database: trials planned since its watermark
(by this or any other process) are booked as pending with the session as
rater, and judgments are observed.  The active design therefore adapts between
sessions, with every judgment committed before the session started.  A fresh
cache (process start, :meth:`StudyState.reset`) replays the same way: every
planned trial in trial-id order, then every judgment in judgment-id order.

Restarts and several processes do not change the schedule.  The schedulers
keep no random stream between calls (each draw comes from a generator made
from the seed and counters that booking restores; :mod:`eyetest.core.design.base`),
and what they plan from (``full``'s queue, ``swiss``'s round, ``active``'s
batch and Laplace posterior, the pending and judgment counts, each rater's
pairs) is a function of the booked pairs in order and of the judgments, not of
how planning and judgments were interleaved.  Every process books the trials
in id order (planning holds the study lock and syncs first), so after a
restart, and in any of several processes, the next session gets exactly the
trials one uninterrupted process would have planned from the same database,
for every design.  Two limits: ``active`` with ``inference="adf"`` (not
reachable from a spec; plans use the Laplace refit, which sees judgment counts
only) would also depend on the order in which judgments were observed, which
is their id order on SQLite (writes are serialised) but not always on
PostgreSQL; and a judgment that commits more than ``JUDGMENT_LOOKBACK`` ids
late is never observed by a running process, while a rebuilt cache sees it.
Judgment ids from a PostgreSQL sequence may commit out of order, so judgments
are read from ``watermark - JUDGMENT_LOOKBACK`` on and de-duplicated by id.

Rating studies assign each new session one block of the online balanced
incomplete-block design (:class:`eyetest.core.design.rating.BalancedBlocks`):
the least-shown stimuli, among them those that co-occurred least with each
other, so every stimulus is rated equally often (within one) at any time and
pairs of stimuli share a rater about equally often.  The design is rebuilt
the same way: every session's regular trials booked as one block (a session's
trials are inserted in one transaction under the study lock, so a sync sees
all of them or none).  Its state (replication and co-occurrence counts, the
number of blocks) does not depend on the order of the blocks, and block ``n``
draws from ``default_rng([seed, stream, n])``, so the ``n``-th session gets
exactly the stimuli of ``eyetest.design.assign_ratings(conditions,
raters=n + 1, per_rater=k, seed=seed)[n]``, after restarts and across processes.

Quality-control trials (gold, attention, repeat; pairwise and rating) are
counted per session by systematic rounding over the study's sessions
(:func:`eyetest.core.design.quality.control_counts`), with the session's index
= the number of sessions the study had when it was planned (counted in the
database at each sync), so the study-wide share of each kind is the spec's
fraction and the count is a function of the seed and the session index.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import sqlalchemy as sa

from eyetest.core.design.quality import GoldPair, control_counts, insert_quality_trials
from eyetest.core.design.rating import BalancedBlocks
from eyetest.core.judgments.model import condition_id, split_condition_id
from eyetest.design import make_scheduler
from eyetest.store import schema
from eyetest.study import expiry
from eyetest.study.importer import gold_condition_pairs, rating_control_items

#: judgments re-read below the watermark on each sync (out-of-order commits on PostgreSQL)
JUDGMENT_LOOKBACK = 256
ACR_LABELS = ("Bad", "Poor", "Fair", "Good", "Excellent")                       # ITU-T P.910 ACR
DCR_LABELS = ("Very annoying", "Annoying", "Slightly annoying",                # ITU-T P.910 DCR
              "Perceptible but not annoying", "Imperceptible")


def questions_for(plan: dict) -> list[dict]:
    """The questions every trial of a study asks (one per dimension)."""
    out = []
    for dim in plan["dimensions"]:
        q = {"dimension": dim["name"], "prompt": dim["prompt"]}
        if plan["protocol"] == "pairwise":
            q["choices"] = ["A", "B"] + (["tie"] if plan["ties"] else []) + (["both_bad"] if plan["both_bad"] else [])
        elif plan["scale"] == "continuous100":
            q.update(scale="continuous100", choices=[], min=0, max=100)
        else:
            labels = ACR_LABELS if plan["scale"] == "acr5" else DCR_LABELS
            q.update(scale=plan["scale"], choices=[1, 2, 3, 4, 5], labels=list(labels))
        out.append(q)
    return out


def validate_answers(answers, questions: list[dict]) -> dict | str:
    """The normalised answers, or a message naming the first problem."""
    if not isinstance(answers, dict):
        return "answers must be an object {dimension: choice}"
    names = [q["dimension"] for q in questions]
    extra = [k for k in answers if k not in names]
    if extra:
        return f"unknown dimension {str(extra[0])[:60]!r}; expected: {', '.join(names)}"
    out = {}
    for q in questions:
        dim = q["dimension"]
        if dim not in answers:
            return f"missing answer for dimension {dim!r}"
        value = answers[dim]
        if q.get("scale") == "continuous100":
            if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                    or not 0 <= value <= 100):
                return f"answer for {dim!r} must be a number from 0 to 100, got {_shown(value)}"
            out[dim] = float(value)
        elif isinstance(value, bool) or value not in q["choices"]:
            return f"answer for {dim!r} must be one of {q['choices']}, got {_shown(value)}"
        else:
            # category scales (acr5, dcr5) store their category as an integer (3.0 in JSON is category 3)
            out[dim] = int(value) if q.get("scale") else value
    return out


def _shown(value) -> str:
    """A received answer for an error message (its repr, at most 60 characters)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class StudyState:
    """What one process caches about a study (spec, stimuli, scheduler)."""

    study_id: str
    spec: dict
    tokens: dict                      # condition id -> stimulus token
    context: dict                     # image -> context stimulus token
    questions: list
    lock: threading.Lock = field(default_factory=threading.Lock)
    scheduler: object = None
    design: BalancedBlocks | None = None          # rating: the balanced incomplete-block design
    sessions: int = 0                             # the study's sessions so far (the next session's index)
    trial_wm: int = 0
    judgment_wm: int = 0
    observed: set = field(default_factory=set)
    released: dict = field(default_factory=dict)  # expired session -> released_after, applied here

    @property
    def plan(self) -> dict:
        return self.spec["plan"]

    @property
    def conditions(self) -> list[str]:
        return [condition_id(i, m) for i in self.spec["images"] for m in self.plan["methods"]]

    def reset(self) -> None:
        """Forget the scheduler (rebuilt from the database on next use)."""
        self.scheduler, self.design = None, None
        self.trial_wm = self.judgment_wm = self.sessions = 0
        self.observed = set()
        self.released = {}


def load_state(conn, study_id: str, spec: dict) -> StudyState:
    rows = conn.execute(sa.select(schema.stimuli.c.image, schema.stimuli.c.method, schema.stimuli.c.role,
                                  schema.stimuli.c.token).where(schema.stimuli.c.study_id == study_id)).all()
    tokens, context = {}, {}
    for image, method, role, token in rows:
        if role in ("gt", "lq"):
            context[image] = token
        else:
            tokens[condition_id(image, method)] = token
    return StudyState(study_id, spec, tokens, context, questions_for(spec["plan"]))


def _blocks(state: StudyState):
    rule = state.plan["blocks"]
    if rule == "none":
        return None
    if rule == "image":
        return "image"
    scen = state.spec["scenarios"]
    return {c: (scen.get(split_condition_id(c)[0]) or ["untagged"])[0] for c in state.conditions}


def _outcome(answers: dict, state: StudyState) -> str | None:
    first = state.questions[0]["dimension"]
    value = answers.get(first)
    if value in ("A", "B"):
        return value
    if value == "tie" or (value == "both_bad" and state.plan["ties"]):
        return "tie"
    return None


def design_options(plan: dict) -> dict:
    """Scheduler options of a stored plan (``study.active_utility`` -> ``utility``).

    Plans stored before the key existed have none and get the sampler's default.
    """
    utility = plan.get("active_utility") if plan["design"] == "active" else None
    return {"utility": utility} if utility else {}


def sync(conn, state: StudyState, *, now: datetime | None = None, resumed_at=None,
         lock_rows: bool = False) -> None:
    """Bring the cached scheduler (or rating design) and the session count up to date with the database.

    Releases of expired sessions are replayed among the bookings where they
    happened (:mod:`eyetest.study.expiry`).  With ``now`` (planning: the
    caller holds the study's write lock) the sessions idle for the study's
    timeout are then expired and their trials released; ``resumed_at`` is the
    study's, ``lock_rows`` as in :func:`eyetest.study.expiry.expire_idle`.
    """
    plan = state.plan
    t, s = schema.trials.c, schema.sessions.c
    pairwise = plan["protocol"] == "pairwise"
    if pairwise and state.scheduler is None:
        state.scheduler = make_scheduler(plan["design"], state.conditions, seed=plan["seed"],
                                         ties=plan["ties"], blocks=_blocks(state), **design_options(plan))
    if not pairwise and state.design is None:
        state.design = BalancedBlocks(state.conditions, seed=plan["seed"])
    state.sessions = conn.execute(sa.select(sa.func.count()).select_from(schema.sessions)
                                  .where(s.study_id == state.study_id)).scalar()
    rows = conn.execute(schema.regular_trials(sa.select(t.id, t.session_token, t.condition_a, t.condition_b)
                                 .where(t.study_id == state.study_id, t.id > state.trial_wm)).order_by(t.id)).all()
    releases = [r for r in expiry.read_releases(conn, state.study_id, since=state.trial_wm)
                if r.token not in state.released]
    blocks: dict[str, list[str]] = {}
    k = 0
    for tid, token, a, b in rows:
        while k < len(releases) and releases[k].after < tid:
            if pairwise:                     # a release goes after the bookings it followed (expiry docstring)
                expiry.apply_release(state, releases[k])
            k += 1
        if pairwise:
            book(state.scheduler, a, b, rater=token)
        else:
            blocks.setdefault(token, []).append(a)
        state.trial_wm = max(state.trial_wm, tid)
    if not pairwise:
        for block in blocks.values():        # a session's trials commit together: its whole block
            state.design.book(block)
        for r in releases:                   # the rating design's counts are order-free
            expiry.apply_release(state, r)
    else:
        for r in releases[k:]:
            expiry.apply_release(state, r)
        _observe_judgments(conn, state)
    if now is not None:
        tokens = expiry.expire_idle(conn, state, now=now, resumed_at=resumed_at, lock_rows=lock_rows)
        for r in expiry.read_releases(conn, state.study_id, tokens=tokens) if tokens else ():
            expiry.apply_release(state, r)
    expiry.forget_applied(state)


def _observe_judgments(conn, state: StudyState) -> None:
    """Observe the judgments committed since the last sync (from ``judgment_wm - JUDGMENT_LOOKBACK`` on)."""
    t, j = schema.trials.c, schema.judgments.c
    low = max(state.judgment_wm - JUDGMENT_LOOKBACK, 0)
    rows = conn.execute(schema.regular_trials(
        sa.select(j.id, j.answers, j.session_token, t.condition_a, t.condition_b)
        .join(schema.trials, schema.trials.c.id == j.trial_id)
        .where(j.study_id == state.study_id, j.id > low)).order_by(j.id)).all()
    for jid, answers, token, a, b in rows:
        if jid in state.observed:
            continue
        state.observed.add(jid)
        state.judgment_wm = max(state.judgment_wm, jid)
        outcome = _outcome(answers, state)
        if outcome is None:
            state.scheduler.release(a, b, reissue=False)     # answered, but without an order
        else:
            state.scheduler.observe(a, b, outcome, rater=token)
    if len(state.observed) > 4 * JUDGMENT_LOOKBACK:
        floor = state.judgment_wm - JUDGMENT_LOOKBACK
        state.observed = {x for x in state.observed if x > floor}


def book(scheduler, a: str, b: str, *, rater) -> None:
    """Record a pair planned elsewhere (another process) as pending for ``rater``.

    Uses the scheduler's booking step, the same one ``propose`` uses.
    """
    scheduler.book(a, b, rater=rater)


def session_rng(seed: int, token: str) -> np.random.Generator:
    """The session's own generator: a function of the study seed and the session token."""
    digest = hashlib.sha256(token.encode()).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest[:8], "little")])


def _stim(state: StudyState, cond: str, slot: str) -> dict:
    return {"slot": slot, "url": f"/img/{state.tokens[cond]}"}


def _public(state: StudyState, kind: str, conds: list[str], *, training: bool) -> dict:
    if kind == "pairwise":
        stimuli = [_stim(state, conds[0], "A"), _stim(state, conds[1], "B")]
    else:
        stimuli = [_stim(state, conds[0], "X")]
    pub = {"kind": kind, "stimuli": stimuli, "questions": state.questions, "training": training}
    image = split_condition_id(conds[0])[0]
    if state.plan["context"] != "none" and image in state.context:
        pub["context"] = {"slot": state.plan["context"].upper(), "url": f"/img/{state.context[image]}"}
    return pub


def _control_fractions(q: dict, *, gold: bool, attention: bool) -> dict:
    """The spec's control-trial fractions that apply: gold / attention only where the study has such items."""
    return dict(gold_fraction=q["gold_fraction"] if gold else 0.0, repeat_fraction=q["repeat_fraction"],
                attention_fraction=q["attention_fraction"] if attention else 0.0)


def _regular_count(judgments_per_session: int, fractions: dict) -> int:
    """Regular trials of a session: ``judgments_per_session`` less the control trials that apply (at least 1)."""
    return max(1, int(round(judgments_per_session * (1.0 - sum(fractions.values())))))


def plan_session(state: StudyState, token: str) -> list[dict]:
    """Trial rows (without ids) of a new session; call :func:`sync` first."""
    plan, q = state.plan, state.plan["quality"]
    rng = session_rng(plan["seed"], token)
    jps = int(plan["judgments_per_session"])
    index = state.sessions                       # this session's index in the study (control trial counts)
    state.sessions += 1
    rows: list[dict] = []

    def add(kind, conds, *, quality="regular", expected=None, repeat_of=None, training=False):
        rows.append(dict(
            study_id=state.study_id, session_token=token, position=len(rows), kind=kind,
            condition_a=conds[0], condition_b=conds[1] if len(conds) > 1 else None,
            payload={"public": _public(state, kind, conds, training=training),
                     "quality": quality, "expected": expected, "repeat_of": repeat_of},
            is_gold=quality == "gold", is_repeat=quality == "repeat", is_attention=quality == "attention",
            is_training=training, answered=False))

    if plan["protocol"] == "pairwise":
        gold, attention = gold_condition_pairs(state.spec)
        n_train = int(state.spec.get("training_trials", 0)) if gold else 0
        for k in (rng.permutation(len(gold))[:n_train] if n_train else ()):
            better, worse = gold[int(k)]
            first = rng.random() < 0.5
            add("pairwise", [better, worse] if first else [worse, better], quality="gold",
                expected="A" if first else "B", training=True)
        fractions = _control_fractions(q, gold=bool(gold), attention=bool(attention))
        pairs = state.scheduler.propose(_regular_count(jps, fractions), rater=token)
        trials = insert_quality_trials(
            pairs, rng=rng, gold=[GoldPair(*p) for p in gold], attention=[GoldPair(*p) for p in attention],
            min_gap=q["repeat_min_gap"], **fractions,
            counts=control_counts(len(pairs), seed=plan["seed"], session=index, **fractions))
        offset = len(rows)
        for tr in trials:
            add("pairwise", [tr.condition_a, tr.condition_b], quality=tr.kind,
                expected=tr.expected.upper() if tr.expected else None,
                repeat_of=None if tr.repeat_of is None else tr.repeat_of + offset)
        return rows
    gold, attention = rating_control_items(state.spec)
    fractions = _control_fractions(q, gold=bool(gold), attention=bool(attention))
    n = min(_regular_count(jps, fractions), len(state.conditions))
    if state.design is None:
        state.design = BalancedBlocks(state.conditions, seed=plan["seed"])
    chosen = state.design.propose(n)
    trials = insert_quality_trials(
        chosen, rng=rng, gold=gold, attention=attention, min_gap=q["repeat_min_gap"], **fractions,
        counts=control_counts(n, seed=plan["seed"], session=index, **fractions))
    for tr in trials:
        add("rating", [tr.condition_a], quality=tr.kind, expected=tr.expected, repeat_of=tr.repeat_of)
    return rows
