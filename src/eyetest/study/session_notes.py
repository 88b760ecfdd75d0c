"""Notes on session sizes: trials asked for against trials a session can really carry.

:func:`_session_note` says when ``judgments_per_session`` asks for more
regular trials than the study has to show; :func:`_quality_notes` says when
the quality-control fractions give a session fewer (or more) control trials
than intended.  Both only add notes; they never change the study.
"""

from __future__ import annotations

import math

#: sessions whose control-trial counts the "more control than regular trials" note looks at
CONTROL_NOTE_SESSIONS = 1000


def _session_sizes(plan, images, scenarios) -> tuple[int, int, str]:
    """``(regular trials asked for, regular trials there are to show, what limits them)`` per session."""
    q, n_methods = plan.quality, len(plan.methods)
    if plan.protocol == "pairwise":
        f = q.gold_fraction + q.repeat_fraction + q.attention_fraction
        wanted = max(1, int(round(plan.judgments_per_session * (1.0 - f))))
        if plan.blocks == "none":
            groups = [len(images) * n_methods]
        elif plan.blocks == "image":
            groups = [n_methods] * len(images)
        else:
            tags = [(scenarios.get(i) or ["untagged"])[0] for i in images]
            groups = [tags.count(t) * n_methods for t in set(tags)]
        available = sum(math.comb(g, 2) for g in groups)
        what = f"{available} pairs can be compared (blocks = {plan.blocks!r}); a rater never gets a pair twice"
    else:
        f = q.gold_fraction + q.repeat_fraction + q.attention_fraction
        wanted = max(1, int(round(plan.judgments_per_session * (1.0 - f))))
        available = len(images) * n_methods
        what = f"there are {available} stimuli; a session rates each at most once"
    return wanted, available, what


def _session_note(plan, images, scenarios) -> str | None:
    """A note when ``judgments_per_session`` asks for more trials than there are to show."""
    wanted, available, what = _session_sizes(plan, images, scenarios)
    if available >= wanted:
        return None
    return (f"study.judgments_per_session = {plan.judgments_per_session} asks for {wanted} regular trials per "
            f"session, but {what}: sessions get {available} (plus training and quality-control trials)")


def _quality_notes(plan, images, scenarios) -> list[str]:
    """Notes for quality-control fractions a session cannot carry, or carries too many of.

    A session should carry ``x = fraction x n / (1 - f)`` control trials of a
    kind (``n`` regular trials), rounded systematically over the sessions to
    ``floor(x)`` or ``ceil(x)`` per kind and session
    (:func:`eyetest.core.design.quality.control_counts`, each kind with its own
    offset).  Noted: a repeat comes at least ``repeat_min_gap`` regular trials
    after its original, so at most ``n - repeat_min_gap`` fit (fewer than
    ``ceil(x)``); the kinds round up together in some sessions, so a session
    can carry ``sum ceil(x)`` control trials, more than its ``n`` regular ones
    when the fractions add up to nearly 0.5 in short sessions (10 trials at
    0.25 gold and 0.25 attention: 5 regular, up to 6 control); and a session
    with fewer than ``ScreeningRules.min_gold_trials`` gold and attention
    trials is never screened by the gold rule (each session is one rater).
    """
    from eyetest.core.design.quality import control_counts, expected_counts
    from eyetest.core.judgments.screening import ScreeningRules

    wanted, available, _ = _session_sizes(plan, images, scenarios)
    n = min(wanted, available)
    q = plan.quality
    x = expected_counts(n, gold_fraction=q.gold_fraction, repeat_fraction=q.repeat_fraction,
                        attention_fraction=q.attention_fraction)
    room = max(n - q.repeat_min_gap, 0)
    out = []
    if q.repeat_fraction > 0 and room < math.ceil(x["repeat"]):
        out.append(f"quality.repeat_min_gap = {q.repeat_min_gap} leaves room for {room} repeat trial(s) in sessions "
                   f"of {n} regular trials, fewer than the {x['repeat']:.3g} per session that repeat_fraction = "
                   f"{q.repeat_fraction:g} asks for (a repeat comes at least {q.repeat_min_gap} regular trials "
                   "after its original): lower repeat_min_gap or make the sessions longer")
    fractions = {"gold_fraction": q.gold_fraction, "repeat_fraction": q.repeat_fraction,
                 "attention_fraction": q.attention_fraction}
    if math.ceil(x["gold"]) + math.ceil(x["attention"]) + min(math.ceil(x["repeat"]), room) > n:
        # the study's own counts (a function of the seed): how many its first sessions really get
        most = max(c["gold"] + c["attention"] + min(c["repeat"], room) for c in (
            control_counts(n, seed=plan.seed, session=i, **fractions) for i in range(CONTROL_NOTE_SESSIONS)))
        if most > n:
            out.append(f"sessions of {n} regular trials get up to {most} control trials (gold, attention and repeat "
                       f"trials each rounded up in some sessions: {x['gold']:.3g}, {x['attention']:.3g} and "
                       f"{x['repeat']:.3g} on average), more than their regular trials: make the sessions longer "
                       "or lower the quality fractions")
    checks = math.ceil(x["gold"]) + math.ceil(x["attention"])
    need = ScreeningRules().min_gold_trials
    if (q.gold_fraction > 0 or q.attention_fraction > 0) and checks < need:
        out.append(f"sessions of {n} regular trials get at most {checks} gold and attention trial(s): the screening's "
                   f"gold rule (accuracy on at least {need}) never applies to a rater; raise gold_fraction or make the "
                   "sessions longer")
    return out
