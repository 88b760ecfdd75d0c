"""Design simulation helpers: tau, CI width, determinism, budget and blocks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import kendalltau

from eyetest.core.design.evaluate import ci_width_jod, first_reaching, kendall_tau_b, simulate_study
from eyetest.core.design.posterior import JOD
from eyetest.core.design.simulator import make_truth, truth_from_scores


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=2, max_size=30))
def test_tau_b_matches_scipy(pairs):
    x, y = map(np.array, zip(*pairs))
    ref = kendalltau(x, y).statistic
    assert kendall_tau_b(x, y) == pytest.approx(0.0 if np.isnan(ref) else ref, abs=1e-12)


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
