"""Design evaluation by simulation: ranking accuracy and uncertainty vs judgments.

One simulated study: draw a latent truth, calibrate the simulator's tie
threshold to the wanted tie share, then let ``concurrent`` simulated raters
(each answering ``trials_per_rater`` trials before being replaced; the
raters' model's ``quit_share`` of them leave earlier,
:func:`~eyetest.core.design.simulator.quit_quota`) work
through a scheduler, one pair per rater per step (``propose_batch``), until
``budget`` judgments.  At each checkpoint the ranking is estimated and
compared with the truth.

Estimator (the same for every design, so designs are compared fairly)
    the Thurstone posterior of :mod:`eyetest.core.design.posterior` fed with
    every judgment: ``estimator="online"`` (default) its ADF update in
    arrival order, ``estimator="laplace"`` its Laplace refit on all
    judgments at each checkpoint (order-free; MAP scores).  The means are the
    scores and the covariance gives the 95 % credible-interval width of each
    condition's score relative to the mean of its block, in JOD
    (``2 * 1.96 * sd / JOD``).
Accuracy
    Kendall's tau between estimated and true scores, within each block,
    averaged over blocks, with the truth's ties as in tau-b (Kendall, "The
    treatment of ties in ranking problems", Biometrika 1945) but ties of the
    *estimate* counted as not concordant (:func:`ranking_tau_given_truth`):

        tau = (C - D) / (n0 - n_truth),

    ``C``/``D`` the pairs ordered the same/opposite way by both, ``n0 = n(n-1)/2``
    and ``n_truth`` the pairs tied in the truth.  This is Somers' d of the
    estimate given the truth (Somers, Am. Sociol. Rev. 1962); for an untied
    truth it is Kendall's tau-a, and without ties on either side it equals
    tau-b.  Tau-b itself also drops the *estimate's* ties from its
    denominator, ``sqrt((n0 - n_est)(n0 - n_truth))``, which rewards an
    uninformative estimate: after one judgment of four conditions the
    posterior means are ``(+m, -m, 0, 0)`` and tau-b is ``5 / sqrt(5 * 6) =
    0.91`` if that one judgment went the right way; here it is ``5 / 6``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from eyetest.core.design import make_scheduler
from eyetest.core.design.base import block_labels
from eyetest.core.design.posterior import JOD, ThurstonePosterior
from eyetest.core.design.simulator import (
    QUIT_STREAM, LatentTruth, RaterModel, RaterSimulator, calibrate_tie_threshold, expected_trials, quit_quota,
)
from eyetest.errors import SpecError, UnknownNameError

_OUTCOME = {1: "A", -1: "B", 0: "tie"}
#: ranking estimators of :func:`simulate_study`
ESTIMATORS = ("online", "laplace")


@dataclass
class StudyTrace:
    """Result of one simulated study."""

    design: str
    checkpoints: np.ndarray                  # judgments at each checkpoint
    tau: np.ndarray                          # Kendall tau at each checkpoint
    ci_width: np.ndarray                     # mean 95 % CI width (JOD) at each checkpoint
    raters: np.ndarray                       # raters used up to each checkpoint
    tie_share: float                         # share of ties among the judgments
    first: np.ndarray = field(repr=False, default=None)    # index of the first condition per judgment
    second: np.ndarray = field(repr=False, default=None)   # index of the second condition
    outcome: np.ndarray = field(repr=False, default=None)  # +1 first preferred, -1 second, 0 tie


def kendall_tau_b(x, y) -> float:
    """Kendall's tau-b (Kendall 1945), O(n^2) and vectorised; 0 if either side is constant.

    ``tau_b = sum_{i<j} sgn(x_i - x_j) sgn(y_i - y_j) / sqrt((n0 - n1)(n0 - n2))``
    with ``n0 = n(n-1)/2`` and ``n1``, ``n2`` the tied pairs in x and y.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    i, j = np.triu_indices(len(x), 1)
    sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    denom = np.sqrt(np.count_nonzero(sx) * np.count_nonzero(sy))
    return float((sx * sy).sum() / denom) if denom > 0 else 0.0


def ranking_tau_given_truth(estimate, truth) -> float:
    """``(C - D) / (n0 - n_truth)``: Kendall's tau with the estimate's ties counted as not concordant.

    See the module docstring (Somers' d of ``estimate`` given ``truth``);
    0 if the truth is constant.  A NaN estimate (a condition not estimated
    yet, e.g. not rated) counts as tied with every other: not concordant.
    """
    x = np.asarray(estimate, float)
    y = np.asarray(truth, float)
    i, j = np.triu_indices(len(x), 1)
    sx, sy = np.nan_to_num(np.sign(x[i] - x[j])), np.sign(y[i] - y[j])
    denom = np.count_nonzero(sy)
    return float((sx * sy).sum() / denom) if denom > 0 else 0.0


def ranking_tau(estimate, truth, block) -> float:
    """:func:`ranking_tau_given_truth` of ``estimate`` vs ``truth`` within blocks, averaged over blocks."""
    taus = [ranking_tau_given_truth(estimate[block == b], truth[block == b])
            for b in np.unique(block) if np.count_nonzero(block == b) >= 2]
    return float(np.mean(taus))


def ci_width_jod(cov: np.ndarray, block: np.ndarray) -> float:
    """Mean 95 % credible-interval width (JOD) of scores centred within their block."""
    widths = []
    for b in np.unique(block):
        idx = np.flatnonzero(block == b)
        if len(idx) < 2:
            continue
        sub = cov[np.ix_(idx, idx)]
        var = np.diag(sub) - 2.0 * sub.mean(axis=1) + sub.mean()
        widths.append(2.0 * 1.96 * np.sqrt(np.maximum(var, 0.0)) / JOD)
    return float(np.mean(np.concatenate(widths)))


def study_frame(truth: LatentTruth, *, dimension: str, blocks, checkpoints, budget: int):
    """``(conditions, true qualities, block labels, sorted checkpoints)`` of one simulated study."""
    conditions = truth.conditions()
    true_q = np.array([truth.condition_quality(dimension)[c] for c in conditions])
    block = block_labels(conditions, blocks)
    checkpoints = np.unique(np.asarray(checkpoints, dtype=np.int64))
    if budget < 1 or len(checkpoints) == 0 or checkpoints[0] < 1:
        raise SpecError("checkpoints", "need a positive budget and positive checkpoints")
    return conditions, true_q, block, checkpoints


def simulate_study(design: str, truth: LatentTruth, *, tie_share: float, rng: np.random.Generator,
                   seed: int, budget: int, checkpoints, rater_model: RaterModel = RaterModel(),
                   blocks=None, concurrent: int = 10, trials_per_rater: int = 60,
                   dimension: str = "overall", keep_judgments: bool = False,
                   stop_tau: float | None = None, stop_ci: float | None = None, estimator: str = "online",
                   options: dict | None = None) -> StudyTrace:
    """Simulate one study of ``design`` on ``truth``; see module docstring.

    ``stop_tau`` ends the study at the first checkpoint whose tau reaches it,
    ``stop_ci`` at the first whose CI width (JOD) is at most it (later
    checkpoints are reported as NaN); ``estimator`` is ``"online"``
    or ``"laplace"`` (module docstring); ``options`` are design options
    passed to :func:`~eyetest.core.design.make_scheduler` (e.g.
    ``{"utility": "eig"}`` for ``active``).  ``tie_share`` (0 = no ties) sets the simulator's tie threshold so that the
    mean tie probability over all comparable pairs equals it.
    """
    if estimator not in ESTIMATORS:
        raise UnknownNameError("estimator", estimator, ESTIMATORS)
    conditions, true_q, block, checkpoints = study_frame(truth, dimension=dimension, blocks=blocks,
                                                        checkpoints=checkpoints, budget=budget)
    for key, value in (("concurrent", concurrent), ("trials_per_rater", trials_per_rater)):
        if value < 1:
            raise SpecError(key, f"must be at least 1, got {value!r}")
    ii, jj = np.triu_indices(len(conditions), 1)
    same = block[ii] == block[jj]
    threshold = calibrate_tie_threshold(true_q[ii[same]] - true_q[jj[same]], tie_share,
                                        noise_sd=rater_model.noise_sd)
    model = replace(rater_model, tie_threshold=threshold)
    sim = RaterSimulator(truth, model=model, rng=rng)
    ties = tie_share > 0
    sched = make_scheduler(design, conditions, seed=seed, ties=ties, blocks=blocks, **(options or {}))
    tracker = ThurstonePosterior(len(conditions), ties=ties)
    index = {c: k for k, c in enumerate(conditions)}

    quits = np.random.default_rng([int(seed), QUIT_STREAM])
    quota: dict = {}
    n_raters = 0

    def new_rater():
        """The next rater who answers at least one trial; raters who leave at once are counted too."""
        nonlocal n_raters
        while True:
            n_raters += 1
            q = quit_quota(quits, trials=int(trials_per_rater), quit_share=rater_model.quit_share)
            if q > 0:
                r = sim.add_rater()
                quota[r] = q
                return r

    active = [new_rater() for _ in range(int(concurrent))]
    done = {r: 0 for r in active}
    firsts, seconds, codes = [], [], []
    out_tau, out_ci, out_raters = [], [], []
    next_cp = 0
    n = 0
    while n < budget and next_cp < len(checkpoints):
        pairs = sched.propose_batch(active)
        served = [(r, p) for r, p in zip(active, pairs) if p is not None]
        if not served and all(done[r] == 0 for r in active):
            break                      # even fresh raters get no pair: nothing left to compare
        raters = [r for r, _ in served]
        a_idx = np.array([index[p[0]] for _, p in served], dtype=np.int64)
        b_idx = np.array([index[p[1]] for _, p in served], dtype=np.int64)
        code = sim.outcome_codes(raters, [done[r] for r in raters], true_q[a_idx] - true_q[b_idx])
        for r, (a, b), i, j, c in zip(raters, (p for _, p in served), a_idx, b_idx, code):
            if n >= budget:
                sched.release(a, b)
                continue
            sched.observe(a, b, _OUTCOME[int(c)], rater=r)
            tracker.update(int(i), int(j), int(c))
            firsts.append(i)
            seconds.append(j)
            codes.append(c)
            done[r] += 1
            n += 1
            while next_cp < len(checkpoints) and checkpoints[next_cp] == n:
                if estimator == "laplace":
                    tracker.refit(block=block)
                out_tau.append(ranking_tau(tracker.mean, true_q, block))
                out_ci.append(ci_width_jod(tracker.cov, block))
                out_raters.append(n_raters)
                next_cp += 1
                if (stop_tau is not None and out_tau[-1] >= stop_tau) or (stop_ci is not None and out_ci[-1] <= stop_ci):
                    budget = n
        exhausted = {r for r, p in zip(active, pairs) if p is None}
        for k, r in enumerate(active):
            if done[r] >= quota[r] or r in exhausted:
                active[k] = new_rater()
                done[active[k]] = 0
    missing = len(checkpoints) - len(out_tau)
    codes_arr = np.asarray(codes, dtype=np.int64)
    return StudyTrace(
        design=design,
        checkpoints=checkpoints,
        tau=np.array(out_tau + [np.nan] * missing),
        ci_width=np.array(out_ci + [np.nan] * missing),
        raters=np.array(out_raters + [n_raters] * missing),
        tie_share=float(np.mean(codes_arr == 0)) if len(codes_arr) else 0.0,
        first=np.asarray(firsts, dtype=np.int64) if keep_judgments else None,
        second=np.asarray(seconds, dtype=np.int64) if keep_judgments else None,
        outcome=codes_arr if keep_judgments else None,
    )


def first_reaching(checkpoints, values, target: float, *, above: bool = True) -> float:
    """First checkpoint where ``values`` reach ``target`` (``>=`` if ``above`` else ``<=``); inf if never."""
    values = np.asarray(values, float)
    hit = values >= target if above else values <= target
    hit &= ~np.isnan(values)
    return float(np.asarray(checkpoints)[np.argmax(hit)]) if hit.any() else float("inf")


def first_staying(checkpoints, values, target: float, *, above: bool = True) -> float:
    """First checkpoint from which ``values`` meet ``target`` at every later checkpoint; inf if the last does not.

    The conservative reading of "judgments needed": a first passage
    (:func:`first_reaching`) can be a lucky early ordering that later
    checkpoints lose again; this one is where the study *stays* on target
    until the end of the simulated budget.
    """
    values = np.asarray(values, float)
    ok = (values >= target if above else values <= target) & ~np.isnan(values)
    if not ok.size or not ok[-1]:
        return float("inf")
    misses = np.flatnonzero(~ok)
    return float(np.asarray(checkpoints)[misses[-1] + 1 if misses.size else 0])


@dataclass
class DesignPlan:
    """Summary over simulated studies of one design (medians over studies)."""

    design: str                  # the design's name, or the label it was given
    checkpoints: np.ndarray
    tau: np.ndarray              # (studies, checkpoints)
    ci_width: np.ndarray         # (studies, checkpoints), JOD (rating plans: the scale's units)
    raters: np.ndarray           # (studies, checkpoints): raters who had started by then
    judgments_for_tau: float     # median first checkpoint with tau >= target, rounded up (inf: not reached)
    raters_for_tau: float
    judgments_for_ci: float      # median first checkpoint with CI width <= target
    raters_for_ci: float
    tie_share: float
    judgments_for_tau_stays: float = float("inf")   # first checkpoint from which the median tau stays >= target
    raters_for_tau_stays: float = float("inf")


def _needed(checkpoints, values, target, above, trials_per_rater):
    hits = np.array([first_reaching(checkpoints, v, target, above=above) for v in values])
    judgments = float(np.ceil(np.median(hits)))    # a median between two checkpoints is rounded up
    return judgments, float(np.ceil(judgments / trials_per_rater)) if np.isfinite(judgments) else np.inf


def plan_designs(designs, *, make_truth, n_studies: int, tie_share: float, budget: int, step: int,
                 seed: int, target_tau: float = 0.9, target_ci: float = 1.0,
                 rater_model: RaterModel = RaterModel(), blocks=None, concurrent: int = 10,
                 trials_per_rater: int = 60) -> list[DesignPlan]:
    """Simulate ``n_studies`` studies per design and summarise what each needs.

    ``designs``: design names, or ``(label, design, options)`` triples to
    compare one design under several options (e.g. ``("active:eig",
    "active", {"utility": "eig"})``); :attr:`DesignPlan.design` is the label.
    ``make_truth(rng) -> LatentTruth`` draws the truth of one study; study
    ``k`` uses the generator seeded ``(seed, k)`` for its truth and raters
    and the scheduler seed ``seed + k``, the same for every design (common
    random numbers, so designs differ only by their schedules).  Reported:
    the median over studies of the judgments (and raters) at the first
    checkpoint where Kendall tau >= ``target_tau`` and where the mean 95 %
    CI width <= ``target_ci`` JOD (inf when the median study does not reach
    it within ``budget``), rounded up to a whole judgment; raters are full
    sessions of ``trials_per_rater`` judgments, ``ceil(judgments / trials_per_rater)``
    (with ``rater_model.quit_share``, the mean judgments of a session
    instead: :func:`~eyetest.core.design.simulator.expected_trials`).
    ``judgments_for_tau_stays``: the checkpoint from which the *median over
    studies* of tau stays >= ``target_tau`` to the end of the budget
    (:func:`first_staying` of the median curve): the budget at which a
    typical study is on target and remains so, the safer figure to plan
    with (a study's own first passage can be a lucky ordering it loses
    again).  The median curve is used rather than each study's own staying
    point because the latter grows with the simulated budget (a longer run
    has more chances to dip below once).
    """
    checkpoints = plan_checkpoints(n_studies=n_studies, budget=budget, step=step)
    out = []
    for entry in designs:
        label, design, options = (entry, entry, None) if isinstance(entry, str) else entry
        taus, cis, raters, ties = [], [], [], []
        for k in range(int(n_studies)):
            rng = np.random.default_rng([int(seed), k])
            truth = make_truth(rng)
            trace = simulate_study(design, truth, tie_share=tie_share, rng=rng, seed=int(seed) + k,
                                   budget=int(budget), checkpoints=checkpoints, rater_model=rater_model,
                                   blocks=blocks, concurrent=concurrent, trials_per_rater=trials_per_rater,
                                   options=options)
            taus.append(trace.tau)
            cis.append(trace.ci_width)
            raters.append(trace.raters)
            ties.append(trace.tie_share)
        out.append(summarise_plan(label, checkpoints, taus, cis, raters, target_tau=target_tau,
                                  target_ci=target_ci, tie_share=float(np.mean(ties)),
                                  per_rater=expected_trials(trials_per_rater, rater_model.quit_share)))
    return out


def plan_checkpoints(*, n_studies: int, budget: int, step: int) -> np.ndarray:
    """The checkpoints ``step, 2 step, ... <= budget`` of a plan, after checking its sizes."""
    if n_studies < 1:
        raise SpecError("n_studies", f"must be at least 1, got {n_studies!r}")
    if step < 1 or budget < step:
        raise SpecError("step", f"must be in 1..budget ({budget}), got {step!r}")
    return np.arange(step, budget + 1, step)


def summarise_plan(label: str, checkpoints, taus, cis, raters, *, target_tau: float, target_ci: float,
                   per_rater: int, tie_share: float) -> DesignPlan:
    """A :class:`DesignPlan` from per-study curves (rows: studies; columns: ``checkpoints``).

    Judgments to the target tau / CI width: median over studies of each
    study's first passage (:func:`_needed`); "stays from": :func:`first_staying`
    of the median tau curve; raters: ``ceil(judgments / per_rater)``.
    """
    taus, cis, raters = np.asarray(taus, float), np.asarray(cis, float), np.asarray(raters)
    j_tau, r_tau = _needed(checkpoints, taus, target_tau, True, per_rater)
    j_ci, r_ci = _needed(checkpoints, cis, target_ci, False, per_rater)
    j_stay = first_staying(checkpoints, np.median(taus, axis=0), target_tau)
    r_stay = float(np.ceil(j_stay / per_rater)) if np.isfinite(j_stay) else np.inf
    return DesignPlan(label, checkpoints, taus, cis, raters, j_tau, r_tau, j_ci, r_ci, tie_share, j_stay, r_stay)
