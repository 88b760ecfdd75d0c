"""Rating-study planning (`eyetest.core.design.rating_plan`): closed forms, invariants, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln
from scipy.stats import t as student_t

from eyetest.core.design.evaluate import ranking_tau_given_truth
from eyetest.core.design.rating_plan import (
    DESIGN,
    mos_accuracy,
    plan_rating,
    simulate_rating_study,
)
from eyetest.core.design.simulator import (
    RaterModel,
    RaterSimulator,
    make_truth,
    truth_from_scores,
)
from eyetest.core.judgments.mos import fit_mos
from eyetest.errors import SpecError, UnknownNameError


def _truth(rng):
    return make_truth(images=["i1", "i2"], methods=[f"m{k}" for k in range(6)], rng=rng)


def test_same_seed_same_plan_other_seed_other_plan():
    kw = dict(make_truth=_truth, scale="acr5", n_studies=3, budget=240, step=12, per_rater=10)
    a, b, c = plan_rating(seed=5, **kw), plan_rating(seed=5, **kw), plan_rating(seed=6, **kw)
    assert a.design == DESIGN and a.tau.shape == (3, 20)
    np.testing.assert_array_equal(a.tau, b.tau)
    np.testing.assert_array_equal(a.ci_width, b.ci_width)
    assert (a.judgments_for_tau, a.judgments_for_ci, a.judgments_for_tau_stays) == \
        (b.judgments_for_tau, b.judgments_for_ci, b.judgments_for_tau_stays)
    assert not np.array_equal(a.tau, c.tau)
    # raters are full sessions of the regular ratings
    for j, r in ((a.judgments_for_tau, a.raters_for_tau), (a.judgments_for_ci, a.raters_for_ci)):
        if np.isfinite(j):
            assert r == np.ceil(j / 10)


def test_ci_rule_matches_the_t_interval_closed_form():
    # noise-only raters (no offsets, no spread of noise, no clickers) on a continuous scale with equal
    # qualities: every rating is 100 * (0.3 Z + 2) / 4, sd sigma = 7.5 points, clipping at 6.7 sd is negligible
    v, k, sigma, target = 100, 50, 7.5, 5.0
    truth = lambda rng: truth_from_scores({f"m{i:03d}": 0.0 for i in range(v)})   # noqa: E731
    model = RaterModel(noise_sd=0.3, noise_spread=0.0, rating_offset_sd=0.0, random_share=0.0)
    plan = plan_rating(make_truth=truth, scale="continuous100", n_studies=5, budget=80 * v, step=v, seed=1,
                       per_rater=k, target_ci=target, rater_model=model)
    # the balanced blocks give every condition exactly m ratings after m * v ratings: need the smallest m
    # with 2 t_{0.975, m-1} sigma / sqrt(m) <= target
    m = np.arange(2, 200)
    need = int(m[np.argmax(2 * student_t.ppf(0.975, m - 1) * sigma / np.sqrt(m) <= target)])
    assert need == 38
    assert abs(plan.judgments_for_ci - need * v) <= v            # within one checkpoint step
    assert plan.raters_for_ci == np.ceil(plan.judgments_for_ci / k)
    # the width curve itself is E[2 t s / sqrt(m)] = 2 t c4(m) sigma / sqrt(m), with E[s] = c4(m) sigma
    # (c4(m) = sqrt(2 / (m - 1)) Gamma(m / 2) / Gamma((m - 1) / 2)); from 5 ratings on, to 3 %
    m_cp = (plan.checkpoints // v)[4:]
    c4 = np.sqrt(2 / (m_cp - 1)) * np.exp(gammaln(m_cp / 2) - gammaln((m_cp - 1) / 2))
    expected = 2 * student_t.ppf(0.975, m_cp - 1) * c4 * sigma / np.sqrt(m_cp)
    np.testing.assert_allclose(np.median(plan.ci_width, axis=0)[4:], expected, rtol=0.03)
    assert np.all(np.isnan(plan.ci_width[:, 0]))                  # one rating each: no interval yet


@pytest.mark.parametrize("scale", ["acr5", "dcr5", "continuous100"])
def test_tau_reaches_one_for_well_separated_qualities(scale):
    truth = lambda rng: truth_from_scores({"a": 0.0, "b": 3.0, "c": 6.0, "d": 9.0, "e": 12.0})  # noqa: E731
    plan = plan_rating(make_truth=truth, scale=scale, n_studies=3, budget=200, step=5, seed=0, per_rater=5)
    assert np.all(plan.tau[:, -10:] == 1.0)
    assert plan.judgments_for_tau_stays <= 200 and plan.judgments_for_tau <= plan.judgments_for_tau_stays


def test_unrated_conditions_and_the_checkpoint_estimate():
    # a condition without MOS ties with every other: not concordant
    assert ranking_tau_given_truth([np.nan, 1.0, 2.0], [0.0, 1.0, 2.0]) == pytest.approx(1 / 3)
    truth = truth_from_scores({"a": 0.0, "b": 1.0, "c": 2.0})
    sim = RaterSimulator(truth, rng=np.random.default_rng(0))
    conds = truth.conditions()
    df = sim.rate(["r1", "r1", "r2", "r2", "r3", "r3"], [0, 1, 0, 1, 0, 1], [conds[k] for k in (0, 1, 0, 1, 0, 2)],
                  scale="continuous100")
    block = np.zeros(3, int)
    tau, width = mos_accuracy(df, conds, np.array([0.0, 1.0, 2.0]), block)
    assert np.isnan(width)                               # c has one rating: no t-interval
    tau, width = mos_accuracy(df.iloc[:4], conds, np.array([0.0, 1.0, 2.0]), block)
    assert np.isnan(width) and tau <= 1 / 3              # c not rated at all
    full = sim.rate(["r4"] * 6, range(6), conds * 2, scale="continuous100")
    df = pd.concat([df, full], ignore_index=True)
    tau, width = mos_accuracy(df, conds, np.array([0.0, 1.0, 2.0]), block)
    table = fit_mos(df).table()
    assert width == pytest.approx(float((table["ci_high"] - table["ci_low"]).mean()))


def test_bad_arguments_name_the_parameter():
    with pytest.raises(UnknownNameError, match="scale"):
        plan_rating(make_truth=_truth, scale="acr7", n_studies=1, budget=10, step=5, seed=0, per_rater=5)
    with pytest.raises(SpecError, match="step"):
        plan_rating(make_truth=_truth, scale="acr5", n_studies=1, budget=10, step=20, seed=0, per_rater=5)
    with pytest.raises(SpecError, match="per_rater"):
        simulate_rating_study(_truth(np.random.default_rng(0)), scale="acr5", rng=np.random.default_rng(0), seed=0,
                              budget=10, checkpoints=[5, 10], per_rater=0)
