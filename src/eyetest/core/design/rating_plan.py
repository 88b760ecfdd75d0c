"""Rating-study planning by simulation: MOS ranking accuracy and CI width vs ratings.

The rating counterpart of :func:`eyetest.core.design.evaluate.plan_designs`.
One simulated study: draw a latent truth, then let simulated raters (one
:class:`~eyetest.core.design.simulator.RaterSimulator` rater per session)
rate the stimuli that the online balanced incomplete-block design
(:class:`~eyetest.core.design.rating.BalancedBlocks`) gives each new session,
``per_rater`` of them, as the study server does
(``eyetest.study.planning.plan_session``, rating branch; quality-control
trials are left out, so ``per_rater`` is the session's *regular* ratings).
A rater who leaves early (the raters' model's ``quit_share``,
:func:`~eyetest.core.design.simulator.quit_quota`) rates only the first
stimuli of the block; the rest are released to the next sessions, as the
server does once the session expires (here at once: the simulation assumes
the expiry comes before the next session starts).
The design does not depend on the answers, so sessions are simulated one
after another, and checkpoint ``n`` sees the first ``n`` ratings.

Estimate at each checkpoint
    the MOS of every condition with its Student-t interval
    (:func:`eyetest.core.judgments.mos.fit_mos`; ITU-R BT.500-14 Annex 1,
    ITU-T P.800.2):

        MOS_c = mean of its n_c ratings,   width_c = 2 t_{0.975, n_c - 1} s_c / sqrt(n_c),

    in the scale's own units (MOS points for acr5/dcr5, 0..100 points for
    continuous100).  The reported CI width is the mean of ``width_c`` over
    the conditions, undefined (NaN: not on target) while any condition has
    fewer than 2 ratings.
Accuracy
    Kendall's tau of the MOS against the true qualities within each block
    (image), averaged over blocks: :func:`~eyetest.core.design.evaluate.ranking_tau`,
    the pairwise plan's measure, with equal MOS and conditions not yet rated
    (no MOS) counted as not concordant.

Default CI targets (:data:`DEFAULT_TARGET_CI`): a mean 95 % CI *width* of 0.5
MOS points on the 5-point scales, i.e. a half-width of +-0.25, the precision
usually aimed at in ACR tests (ITU-T P.1401 evaluates with the CI95 of the
MOS; with a rating sd of about 0.7-0.8 MOS points, +-0.25 takes the ~30
ratings per stimulus common in crowdsourced P.808/P.910 practice), and 10
points on the 0..100 continuous scale (+-5 points, about the same share of
the scale's range: 0.25 of 4 MOS points is 6 %, 5 of 100 is 5 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

from eyetest.core.design.evaluate import DesignPlan, plan_checkpoints, ranking_tau, study_frame, summarise_plan
from eyetest.core.design.rating import BalancedBlocks
from eyetest.core.design.simulator import (
    QUIT_STREAM, SCALES, LatentTruth, RaterModel, RaterSimulator, expected_trials, quit_quota,
)
from eyetest.core.judgments.mos import fit_mos
from eyetest.errors import SpecError, UnknownNameError

#: default target mean 95 % CI width of the MOS, in scale units (module docstring)
DEFAULT_TARGET_CI = {"acr5": 0.5, "dcr5": 0.5, "continuous100": 10.0}
#: the design's label in plans
DESIGN = "balanced blocks"


@dataclass
class RatingTrace:
    """Result of one simulated rating study."""

    checkpoints: np.ndarray     # ratings at each checkpoint
    tau: np.ndarray             # Kendall tau of the MOS ranking at each checkpoint
    ci_width: np.ndarray        # mean 95 % t-interval width of the MOS (scale units); NaN while undefined
    raters: np.ndarray          # sessions started up to each checkpoint


def mos_accuracy(ratings, conditions, true_q, block) -> tuple[float, float]:
    """``(tau, mean CI width)`` of the MOS of ``ratings`` (module docstring)."""
    fit = fit_mos(ratings)
    pos = {c: k for k, c in enumerate(conditions)}
    idx = np.array([pos[c] for c in fit.conditions], dtype=np.int64)
    mos = np.full(len(conditions), np.nan)
    mos[idx] = fit.scores
    tau = ranking_tau(mos, true_q, block)
    if len(idx) < len(conditions) or np.any(fit.n < 2):
        return tau, float("nan")
    width = 2.0 * student_t.ppf(0.975, fit.dof) * fit.se
    return tau, float(np.mean(width))


def simulate_rating_study(truth: LatentTruth, *, scale: str, rng: np.random.Generator, seed: int, budget: int,
                          checkpoints, per_rater: int, rater_model: RaterModel = RaterModel(), blocks=None,
                          dimension: str = "overall") -> RatingTrace:
    """Simulate one rating study of ``budget`` ratings on ``truth``; see module docstring.

    ``per_rater`` regular ratings per session (capped at the number of
    conditions, as the server does); ``seed`` seeds the block design.
    """
    if scale not in SCALES:
        raise UnknownNameError("scale", scale, SCALES)
    conditions, true_q, block, checkpoints = study_frame(truth, dimension=dimension, blocks=blocks,
                                                        checkpoints=checkpoints, budget=budget)
    if isinstance(per_rater, bool) or int(per_rater) != per_rater or per_rater < 1:
        raise SpecError("per_rater", f"must be an integer >= 1, got {per_rater!r}")
    k = min(int(per_rater), len(conditions))
    sim = RaterSimulator(truth, model=rater_model, rng=rng)
    design = BalancedBlocks(conditions, seed=int(seed))
    quits = np.random.default_rng([int(seed), QUIT_STREAM])
    n = int(budget)
    raters, trials, stimuli, session = [], [], [], []
    sessions = 0
    while len(stimuli) < n:
        sessions += 1
        chosen = design.propose(k)
        q = quit_quota(quits, trials=k, quit_share=rater_model.quit_share)
        if q < k:
            # the rater left: the server expires the session and the next ones get its stimuli
            design.release(chosen, chosen[q:])
        if q == 0:
            continue
        r = sim.add_rater()
        raters += [r] * q
        trials += list(range(q))
        stimuli += chosen[:q]
        session += [sessions] * q
    ratings = sim.rate(raters[:n], trials[:n], stimuli[:n], scale=scale, dimension=dimension)
    checkpoints = checkpoints[checkpoints <= n]
    tau, ci = zip(*(mos_accuracy(ratings.iloc[:c], conditions, true_q, block) for c in checkpoints))
    # raters = sessions started up to each checkpoint (those who left at once included)
    return RatingTrace(checkpoints=checkpoints, tau=np.array(tau), ci_width=np.array(ci),
                       raters=np.asarray(session, np.int64)[checkpoints - 1])


def plan_rating(*, make_truth, scale: str, n_studies: int, budget: int, step: int, seed: int,
                per_rater: int, target_tau: float = 0.9, target_ci: float | None = None,
                rater_model: RaterModel = RaterModel(), blocks=None) -> DesignPlan:
    """Simulate ``n_studies`` rating studies and summarise what they need, as ``plan_designs`` does.

    Study ``k`` draws its truth and raters from ``default_rng((seed, k))``
    and its block design from seed ``seed + k``.  Reported (a
    :class:`~eyetest.core.design.evaluate.DesignPlan` labelled
    :data:`DESIGN`, ``ci_width`` in scale units, ``tie_share`` 0): the median
    over studies of the ratings at the first checkpoint where the MOS tau >=
    ``target_tau`` and where the mean 95 % CI width <= ``target_ci``
    (default :data:`DEFAULT_TARGET_CI` of the scale), rounded up; inf when
    the median study does not get there within ``budget``; raters are
    sessions of ``per_rater`` ratings, ``ceil(ratings / per_rater)`` (with
    ``rater_model.quit_share``, the mean ratings of a session instead:
    :func:`~eyetest.core.design.simulator.expected_trials`);
    "stays from" is :func:`~eyetest.core.design.evaluate.first_staying` of
    the median tau curve.
    """
    if scale not in SCALES:
        raise UnknownNameError("scale", scale, SCALES)
    target_ci = DEFAULT_TARGET_CI[scale] if target_ci is None else float(target_ci)
    checkpoints = plan_checkpoints(n_studies=n_studies, budget=budget, step=step)
    taus, cis, raters, k = [], [], [], int(per_rater)
    for s in range(int(n_studies)):
        rng = np.random.default_rng([int(seed), s])
        truth = make_truth(rng)
        k = min(int(per_rater), len(truth.conditions()))
        trace = simulate_rating_study(truth, scale=scale, rng=rng, seed=int(seed) + s, budget=int(budget),
                                      checkpoints=checkpoints, per_rater=per_rater, rater_model=rater_model,
                                      blocks=blocks)
        taus.append(trace.tau)
        cis.append(trace.ci_width)
        raters.append(trace.raters)
    return summarise_plan(DESIGN, checkpoints, taus, cis, raters, target_tau=target_tau, target_ci=target_ci,
                          per_rater=expected_trials(k, rater_model.quit_share), tie_share=0.0)
