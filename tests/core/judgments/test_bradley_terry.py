import warnings

import choix
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eyetest.core.judgments.bradley_terry import fit_pairwise
from eyetest.core.judgments.model import pair_counts
from eyetest.core.judgments.thurstone import fit_thurstone, jod_to_probability, probability_to_jod
from eyetest.errors import ComparisonGraphWarning, JudgmentDataError, UnknownNameError

from ._sim import counts_frame, simulate

TRUE = np.array([0.0, 0.4, -0.3, 1.1, -0.8, 0.6])


def _choix_data(counts):
    data = []
    for i, j, w, l in zip(counts.i, counts.j, counts.wins_i, counts.wins_j):
        data += [(int(i), int(j))] * int(w) + [(int(j), int(i))] * int(l)
    return data


@pytest.mark.parametrize("seed", [0, 1])
def test_bt_equals_choix_ml_after_anchoring(seed):
    df = simulate(TRUE, n=3000, rng=np.random.default_rng(seed))
    counts = pair_counts(df)
    ours = fit_pairwise(counts, anchor="c0").scores
    ref = choix.ilsr_pairwise(counts.n_conditions, _choix_data(counts), alpha=0.0, tol=1e-12)
    np.testing.assert_allclose(ours, ref - ref[0], atol=1e-6)
    ref_opt = choix.opt_pairwise(counts.n_conditions, _choix_data(counts), alpha=0.0, tol=1e-12)
    np.testing.assert_allclose(ours, ref_opt - ref_opt[0], atol=1e-6)


def test_bt_centred_gauge_and_hessian_se_match_bootstrap_scale():
    df = simulate(TRUE, n=4000, rng=np.random.default_rng(3))
    fit = fit_pairwise(df)
    assert abs(fit.scores.mean()) < 1e-12
    # analytic standard errors vs. the binomial closed form for two conditions
    two = counts_frame({("x", "y"): (60, 40, 0)})
    f2 = fit_pairwise(two, anchor="y")
    p = 0.6
    assert f2.scores[0] == pytest.approx(np.log(p / (1 - p)), abs=1e-9)
    assert f2.se[0] == pytest.approx(1 / np.sqrt(100 * p * (1 - p)), rel=1e-6)


@pytest.mark.parametrize("model, tie", [("davidson", 0.7), ("rao-kupper", 1.8)])
def test_tie_models_recover_known_parameters(model, tie):
    df = simulate(TRUE, model=model, tie=tie, n=40000, rng=np.random.default_rng(11))
    fit = fit_pairwise(df, model=model, anchor="c0")
    np.testing.assert_allclose(fit.scores, TRUE - TRUE[0], atol=4 * fit.se.max() + 1e-9)
    assert fit.tie["value"] == pytest.approx(tie, abs=4 * fit.tie["se"])
    assert fit.tie["ci_low"] < tie < fit.tie["ci_high"] or abs(fit.tie["value"] - tie) < 3 * fit.tie["se"]


def test_tie_model_without_ties_reduces_to_bt():
    df = simulate(TRUE, n=3000, rng=np.random.default_rng(2))
    bt = fit_pairwise(df)
    for model in ("davidson", "rao-kupper"):
        fit = fit_pairwise(df, model=model)
        np.testing.assert_allclose(fit.scores, bt.scores, atol=1e-6)
        assert "note" in fit.tie


def test_thurstone_recovers_jod_scale():
    true = np.array([0.0, 0.5, 1.5, -1.0, 2.0])
    df = simulate(true, model="thurstone", n=30000, rng=np.random.default_rng(5))
    fit = fit_thurstone(df, anchor="c0")
    assert fit.unit == "JOD"
    np.testing.assert_allclose(fit.scores, true, atol=4 * fit.se.max())
    assert float(jod_to_probability(1.0)) == pytest.approx(0.75)
    assert float(probability_to_jod(0.75)) == pytest.approx(1.0)


def test_gaussian_prior_shrinks_towards_zero():
    df = simulate(TRUE, n=500, rng=np.random.default_rng(4))
    mle = fit_pairwise(df)
    map_ = fit_pairwise(df, prior_sd=0.3)
    assert np.abs(map_.scores).sum() < np.abs(mle.scores).sum()
    # the MAP estimate is the choix estimate with the matching L2 penalty (alpha = 1 / (2 sd^2))
    counts = pair_counts(df)
    ref = choix.opt_pairwise(counts.n_conditions, _choix_data(counts), alpha=1 / (2 * 0.3**2), tol=1e-12)
    np.testing.assert_allclose(map_.scores, ref - ref.mean(), atol=1e-6)


def test_disconnected_graph_policies():
    df = counts_frame({("a", "b"): (3, 2, 0), ("c", "d"): (1, 4, 1)})
    with pytest.warns(ComparisonGraphWarning, match="2 component"):
        fit = fit_pairwise(df, disconnected="component", anchor="a")
    assert fit.scores[0] == 0.0 and abs(fit.scores[2] + fit.scores[3]) < 1e-12
    assert fit.scores[2] - fit.scores[3] == pytest.approx(np.log(1.5 / 4.5), abs=1e-8)
    assert len(set(fit.component)) == 2
    with pytest.warns(ComparisonGraphWarning):
        fit_prior = fit_pairwise(df)
    assert np.isfinite(fit_prior.scores).all()
    with pytest.raises(JudgmentDataError):
        fit_pairwise(df, disconnected="error")
    with pytest.raises(UnknownNameError):
        fit_pairwise(df, model="glicko")


def test_never_losing_condition_gets_finite_score_with_warning():
    df = counts_frame({("a", "b"): (5, 0, 0), ("b", "c"): (2, 2, 0)})
    with pytest.warns(ComparisonGraphWarning, match="not finite"):
        fit = fit_pairwise(df)
    assert np.isfinite(fit.scores).all() and fit.scores[0] == fit.scores.max()


_pair_counts = st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(0, 3))
_designs = st.integers(3, 5).flatmap(
    lambda k: st.tuples(st.just(k), st.lists(_pair_counts, min_size=k * (k - 1) // 2, max_size=k * (k - 1) // 2)))


def _frame(k, cells):
    pairs = [(f"c{a}", f"c{b}") for a in range(k) for b in range(a + 1, k)]
    return counts_frame(dict(zip(pairs, cells)))


@settings(max_examples=25, deadline=None)
@given(_designs, st.randoms(use_true_random=False), st.sampled_from(["bradley-terry", "davidson", "rao-kupper"]))
def test_relabelling_permutes_the_scale(design, rnd, model):
    k, cells = design
    df = _frame(k, cells)
    perm = list(range(k))
    rnd.shuffle(perm)
    mapping = {f"c{a}": f"z{perm[a]}" for a in range(k)}
    df2 = df.assign(condition_a=df["condition_a"].map(mapping), condition_b=df["condition_b"].map(mapping))
    f1 = dict(zip(fit_pairwise(df, model=model).conditions, fit_pairwise(df, model=model).scores))
    f2 = fit_pairwise(df2, model=model)
    s2 = dict(zip(f2.conditions, f2.scores))
    for c, v in f1.items():
        assert s2[mapping[c]] == pytest.approx(v, abs=1e-8)


@settings(max_examples=25, deadline=None)
@given(_designs, st.sampled_from(["bradley-terry", "davidson", "rao-kupper", "thurstone"]))
def test_swapping_sides_with_flipped_outcome_changes_nothing(design, model):
    k, cells = design
    df = _frame(k, cells)
    flip = {"a": "b", "b": "a", "tie": "tie"}
    swapped = df.assign(condition_a=df["condition_b"], condition_b=df["condition_a"], outcome=df["outcome"].map(flip))
    np.testing.assert_allclose(fit_pairwise(swapped, model=model).scores, fit_pairwise(df, model=model).scores, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(_designs, st.data(), st.sampled_from(["bradley-terry", "davidson", "rao-kupper", "thurstone"]))
def test_an_added_win_never_lowers_the_winner(design, data, model):
    k, cells = design
    df = _frame(k, cells)
    a = data.draw(st.integers(0, k - 1))
    b = data.draw(st.integers(0, k - 2))
    b = b + (b >= a)
    more = pd.concat([df, pd.DataFrame([{"rater": "r", "condition_a": f"c{a}", "condition_b": f"c{b}", "outcome": "a"}])])
    before = fit_pairwise(df, model=model)
    after = fit_pairwise(more, model=model)
    assert after.scores[a] >= before.scores[a] - 1e-9
    assert after.scores[a] - after.scores[b] >= before.scores[a] - before.scores[b] - 1e-9


@pytest.mark.parametrize("model", ["davidson", "rao-kupper"])
def test_tie_models_match_a_generic_optimizer_on_the_published_likelihood(model):
    from scipy.optimize import minimize

    df = simulate(TRUE[:4], model=model, tie=0.9 if model == "davidson" else 1.6, n=1500,
                  rng=np.random.default_rng(12))
    a = df["condition_a"].str[1:].astype(int).to_numpy()
    b = df["condition_b"].str[1:].astype(int).to_numpy()
    o = df["outcome"].to_numpy()

    def nll(theta):  # written from the papers' formulas with pi = exp(s), s_0 = 0
        pi = np.exp(np.concatenate([[0.0], theta[:3]]))
        pa, pb = pi[a], pi[b]
        if model == "davidson":
            nu = np.exp(theta[3])
            z = pa + pb + nu * np.sqrt(pa * pb)
            p = np.where(o == "a", pa / z, np.where(o == "b", pb / z, nu * np.sqrt(pa * pb) / z))
        else:
            th = 1 + np.exp(theta[3])
            p = np.where(o == "a", pa / (pa + th * pb), np.where(o == "b", pb / (pb + th * pa),
                         (th**2 - 1) * pa * pb / ((pa + th * pb) * (th * pa + pb))))
        return -np.log(p).sum()

    ref = minimize(nll, np.zeros(4), method="BFGS", options={"gtol": 1e-8})
    fit = fit_pairwise(df, model=model, anchor="c0")
    np.testing.assert_allclose(fit.scores[1:], ref.x[:3], atol=2e-4)
    tie_ref = np.exp(ref.x[3]) if model == "davidson" else 1 + np.exp(ref.x[3])
    assert fit.tie["value"] == pytest.approx(tie_ref, abs=2e-4)
    assert -fit.info["loglik"] <= ref.fun + 1e-6


@pytest.mark.parametrize("model", ["davidson", "rao-kupper"])
def test_only_ties_put_the_fallback_prior_on_the_tie_parameter(model):
    from scipy.optimize import minimize_scalar

    df = counts_frame({("A", "B"): (0, 0, 2), ("B", "C"): (0, 0, 1), ("A", "C"): (0, 0, 3)})
    with pytest.warns(ComparisonGraphWarning, match="only ties"):
        fit = fit_pairwise(df, model=model)
    assert np.allclose(fit.scores, 0.0) and np.isfinite(fit.se).all() and fit.se.max() < 10
    # with d = 0 every judgment is a tie with probability nu / (2 + nu) (Davidson) or
    # (theta - 1) / (theta + 1) (Rao-Kupper); the MAP of tau = log(tie parameter) under N(0, 3^2):
    t = 6
    if model == "davidson":
        nll = lambda tau: -(t * (tau - np.log(2 + np.exp(tau)))) + tau**2 / 18
    else:
        nll = lambda tau: -(t * np.log((np.exp(tau) - 1) / (np.exp(tau) + 1))) + tau**2 / 18
    ref = minimize_scalar(nll, bounds=(1e-6, 20), method="bounded", options={"xatol": 1e-10}).x
    assert fit.tie["value"] == pytest.approx(np.exp(ref), rel=1e-5)
    assert "only ties" in fit.tie["note"] and fit.tie["ci_high"] < 1e4
    # with a single win the tie MLE is finite again and no prior is used
    mixed = pd.concat([df, counts_frame({("A", "B"): (1, 0, 0)})])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ComparisonGraphWarning)
        fit = fit_pairwise(mixed, model=model)
    assert "note" not in fit.tie


def test_warn_false_keeps_the_message_in_info_without_warning():
    import warnings as _w

    df = pd.DataFrame({"rater": ["r"] * 4, "condition_a": ["a", "a", "c", "c"],
                       "condition_b": ["b", "b", "d", "d"], "outcome": ["a", "b", "a", "b"]})
    with pytest.warns(ComparisonGraphWarning) as loud:
        noisy = fit_pairwise(df)
    with _w.catch_warnings():
        _w.simplefilter("error")                 # any warning would raise here
        quiet = fit_pairwise(df, warn=False)
    assert quiet.info["warnings"] == noisy.info["warnings"] == [str(loud[0].message)]
    np.testing.assert_array_equal(quiet.scores, noisy.scores)


def test_screening_of_a_disconnected_study_issues_no_warning():
    # per-image studies are disconnected by design; the consensus fit inside screening must stay quiet
    import warnings as _w

    from eyetest.core.judgments.quality import transitivity

    rows = [(f"r{k}", f"{img}::{x}", f"{img}::{y}", "a" if (k + i) % 3 else "b")
            for k in range(4) for img in ("i1", "i2") for i, (x, y) in enumerate([("p", "q"), ("q", "s"), ("p", "s")])]
    df = pd.DataFrame(rows, columns=["rater", "condition_a", "condition_b", "outcome"])
    with _w.catch_warnings():
        _w.simplefilter("error")
        out = transitivity(df, n_sim=50)
    assert len(out) == 4
