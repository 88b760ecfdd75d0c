"""Design simulation helpers: tau, CI width, determinism, budget and blocks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import kendalltau, somersd

from eyetest.core.design.evaluate import (
    _needed, ci_width_jod, first_reaching, first_staying, kendall_tau_b, ranking_tau_given_truth, simulate_study,
)
from eyetest.core.design.posterior import JOD
from eyetest.core.design.simulator import make_truth, truth_from_scores


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=2, max_size=30))
def test_tau_b_matches_scipy(pairs):
    x, y = map(np.array, zip(*pairs))
    ref = kendalltau(x, y).statistic
    assert kendall_tau_b(x, y) == pytest.approx(0.0 if np.isnan(ref) else ref, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=2, max_size=30))
def test_ranking_tau_is_somers_d_of_the_estimate_given_the_truth(pairs):
    est, truth = map(np.array, zip(*pairs))
    ref = somersd(truth, est).statistic                  # d(est | truth); nan if either side is constant
    ref = 0.0 if np.isnan(ref) else ref
    assert ranking_tau_given_truth(est, truth) == pytest.approx(ref, abs=1e-12)
    if len(set(est.tolist())) == len(est) and len(set(truth.tolist())) == len(truth):
        # without ties on either side it is Kendall's tau (a = b)
        assert ranking_tau_given_truth(est, truth) == pytest.approx(kendalltau(est, truth).statistic, abs=1e-12)


def test_ties_of_the_estimate_earn_nothing():
    truth = np.array([4.0, 1.0, 2.0, 3.0])
    # after one judgment (condition 0 beat 1) the posterior means are (+m, -m, 0, 0): 5 pairs ordered
    # right, 1 tied; tau-b drops the tie from its denominator and reads 5/sqrt(5*6) = 0.913 >= 0.9
    est = np.array([0.3, -0.3, 0.0, 0.0])
    assert kendall_tau_b(est, truth) == pytest.approx(5 / np.sqrt(30))
    assert ranking_tau_given_truth(est, truth) == pytest.approx(5 / 6)
    assert ranking_tau_given_truth(np.zeros(4), truth) == 0.0
    assert ranking_tau_given_truth(truth, truth) == 1.0


def test_one_judgment_never_reaches_tau_09_in_a_small_study():
    # at most 5 of the 6 pairs of 4 conditions can be ordered after one judgment: tau <= 5/6 < 0.9
    # (with tau-b, 18 % of such studies read >= 0.9 after one judgment)
    for k in range(40):
        rng = np.random.default_rng([0, k])
        truth = make_truth(images=["img000"], methods=[f"m{i:02d}" for i in range(4)], rng=rng)
        trace = simulate_study("random", truth, tie_share=0.2, rng=rng, seed=k, budget=1, checkpoints=[1])
        assert trace.tau[0] <= 5 / 6 + 1e-12


def test_needed_rounds_judgments_up_and_raters_follow():
    # two studies first reach the target at 16 and 17 judgments: median 16.5 -> 17, i.e. 2 raters of 16
    cps = np.arange(1, 21)
    values = np.array([(cps >= 16).astype(float), (cps >= 17).astype(float)])
    assert _needed(cps, values, 0.9, True, 16) == (17.0, 2.0)
    assert _needed(cps, values, 0.9, True, 17) == (17.0, 1.0)
    assert _needed(cps, np.zeros((2, 20)), 0.9, True, 16) == (float("inf"), float("inf"))


def test_ci_width_closed_form():
    n = 5
    # identity covariance: Var(s_i - mean s) = 1 - 1/n
    assert ci_width_jod(np.eye(n), np.zeros(n, int)) == pytest.approx(2 * 1.96 * np.sqrt(1 - 1 / n) / JOD)


def test_first_reaching():
    cps = [10, 20, 30]
    assert first_reaching(cps, [0.5, 0.95, 0.8], 0.9) == 20
    assert first_reaching(cps, [3.0, 2.0, np.nan], 1.0, above=False) == float("inf")


def _study(design, seed=1, **kw):
    rng = np.random.default_rng(seed)
    truth = truth_from_scores({f"m{k}": 0.8 * k for k in range(6)})
    return simulate_study(design, truth, tie_share=0.2, rng=rng, seed=seed, budget=300,
                          checkpoints=range(30, 301, 30), keep_judgments=True, **kw)


def test_deterministic_and_budgeted():
    a, b = _study("active"), _study("active")
    np.testing.assert_array_equal(a.tau, b.tau)
    np.testing.assert_array_equal(a.outcome, b.outcome)
    assert len(a.outcome) == 300
    # the tie share of the simulation follows the calibrated threshold (about 20 %)
    assert 0.1 < _study("random").tie_share < 0.3
    # a clear truth is recovered by every design within 300 judgments (15 pairs)
    for design in ("full", "random", "swiss", "active"):
        assert _study(design).tau[-1] >= 0.85


def test_blocks_in_simulation_and_stop():
    rng = np.random.default_rng(0)
    truth = make_truth(images=["i1", "i2"], methods=["a", "b", "c"], rng=rng, method_sd=2.0)
    tr = simulate_study("swiss", truth, tie_share=0.0, rng=rng, seed=0, budget=200, checkpoints=range(20, 201, 20),
                        blocks="image", keep_judgments=True, stop_tau=0.5)
    conds = truth.conditions()
    for i, j in zip(tr.first, tr.second):
        assert conds[i].split("::")[0] == conds[j].split("::")[0]
    assert not (tr.outcome == 0).any()          # no ties without a tie share
    reached = np.flatnonzero(tr.tau >= 0.5)
    assert np.isnan(tr.tau[reached[0] + 1:]).all()


def test_plan_designs_labels_and_options():
    from eyetest.core.design.evaluate import plan_designs

    def truth(rng):
        return make_truth(images=["i"], methods=[f"m{k}" for k in range(6)], rng=rng)

    kw = dict(make_truth=truth, n_studies=2, tie_share=0.2, budget=120, step=10, seed=5)
    plain, = plan_designs(["active"], **kw)
    same, eig = plan_designs([("a", "active", {"utility": "misorder"}), ("b", "active", {"utility": "eig"})], **kw)
    assert (plain.design, same.design, eig.design) == ("active", "a", "b")
    np.testing.assert_array_equal(same.ci_width, plain.ci_width)   # the default utility, by name
    assert not np.allclose(eig.ci_width, plain.ci_width)            # the option reaches the sampler


def test_stop_ci_ends_at_the_first_narrow_checkpoint():
    full = _study("random")
    target = float(np.median(full.ci_width))
    stopped = _study("random", stop_ci=target)
    first = int(np.argmax(full.ci_width <= target))
    # the same study up to the stop (same seeds), nothing after it
    np.testing.assert_array_equal(stopped.ci_width[: first + 1], full.ci_width[: first + 1])
    assert np.isnan(stopped.ci_width[first + 1:]).all() and first + 1 < len(full.ci_width)
    assert len(stopped.outcome) == full.checkpoints[first]


def test_first_staying_is_where_the_trace_stays_on_target():
    cps = [10, 20, 30, 40, 50]
    # a lucky early hit, lost again, then reached for good at 40
    assert first_reaching(cps, [0.95, 0.7, 0.85, 0.92, 0.9], 0.9) == 10
    assert first_staying(cps, [0.95, 0.7, 0.85, 0.92, 0.9], 0.9) == 40
    assert first_staying(cps, [0.95, 0.95, 0.95, 0.95, 0.8], 0.9) == float("inf")   # ends below
    assert first_staying(cps, [0.95] * 5, 0.9) == 10
    assert first_staying(cps, [3.0, 0.5, 2.0, 0.9, 0.8], 1.0, above=False) == 40
    assert first_staying(cps, [0.95, np.nan, 0.95, 0.95, 0.95], 0.9) == 30


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30), st.floats(0.05, 0.95))
@settings(max_examples=200, deadline=None)
def test_first_staying_never_precedes_the_first_passage(values, target):
    cps = np.arange(1, len(values) + 1) * 10
    stay, first = first_staying(cps, values, target), first_reaching(cps, values, target)
    assert stay >= first
    if np.isfinite(stay):                   # from there on every value meets the target, the one before does not
        k = int(stay // 10) - 1
        assert all(v >= target for v in values[k:]) and (k == 0 or values[k - 1] < target)
    else:
        assert values[-1] < target


def test_plan_stays_reading_is_first_staying_of_the_median_tau_curve():
    from eyetest.core.design.evaluate import plan_designs

    def truth(rng):
        return make_truth(images=["i"], methods=[f"m{k}" for k in range(6)], rng=rng, method_sd=1.5)

    (plan,) = plan_designs(["random"], make_truth=truth, n_studies=7, tie_share=0.2, budget=150, step=5,
                           seed=4, trials_per_rater=20)
    median = np.median(plan.tau, axis=0)
    expected = first_staying(plan.checkpoints, median, 0.9)
    assert plan.judgments_for_tau_stays == expected
    if np.isfinite(expected):
        k = list(plan.checkpoints).index(expected)
        assert (median[k:] >= 0.9).all() and (k == 0 or median[k - 1] < 0.9)
        assert plan.raters_for_tau_stays == np.ceil(expected / 20)
