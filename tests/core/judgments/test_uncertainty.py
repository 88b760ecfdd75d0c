import numpy as np
import pytest

from eyetest.core.judgments.bradley_terry import fit_pairwise
from eyetest.core.judgments.model import pair_counts
from eyetest.core.judgments.significance import holm, rank_intervals, significance_matrix
from eyetest.core.judgments.uncertainty import bootstrap, resample_counts

from ._sim import simulate

TRUE = np.array([0.0, 0.4, -0.3, 1.1, -0.8])


def test_holm_closed_form():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(holm([np.nan, 0.5])[0]) and holm([np.nan, 0.5])[1] == 0.5


@pytest.mark.parametrize("model", ["bradley-terry", "davidson", "rao-kupper", "thurstone"])
def test_warm_started_bootstrap_equals_independent_refits(model):
    df = simulate(TRUE, model="davidson" if model != "thurstone" else "thurstone", tie=0.5, n=3000,
                  rng=np.random.default_rng(0))
    counts = pair_counts(df)
    fit = fit_pairwise(counts, model=model, anchor="c1")
    boot = bootstrap(counts, fit, n_boot=15, rng=np.random.default_rng(9))
    rep = resample_counts(counts, n_boot=15, rng=np.random.default_rng(9).spawn(1)[0])
    ref = np.array([fit_pairwise(rep.with_counts(rep.wins_i[b], rep.wins_j[b], rep.ties[b]), model=model,
                                 anchor="c1").scores for b in range(15)])
    np.testing.assert_allclose(boot.replicates, ref, atol=1e-7)
    assert boot.info["n_unconverged"] == 0


def test_bootstrap_se_agrees_with_hessian_se():
    df = simulate(TRUE, n=5000, rng=np.random.default_rng(1))
    fit = fit_pairwise(df)
    boot = bootstrap(df, fit, n_boot=400, rng=np.random.default_rng(2))
    np.testing.assert_allclose(boot.se, fit.se, rtol=0.2)
    table = boot.table()
    assert (table["ci_low"] <= table["score"]).all() and (table["score"] <= table["ci_high"]).all()


def test_rater_bootstrap_is_wider_when_raters_disagree():
    rng = np.random.default_rng(3)
    a = simulate(TRUE, n=3000, rng=rng, raters=4)
    b = simulate(-TRUE, n=3000, rng=rng, raters=4)
    b["rater"] = "x" + b["rater"]
    import pandas as pd
    df = pd.concat([a, b], ignore_index=True)
    fit = fit_pairwise(df)
    by_judgment = bootstrap(df, fit, n_boot=200, rng=np.random.default_rng(4))
    by_rater = bootstrap(df, fit, n_boot=200, rng=np.random.default_rng(4), unit="rater")
    assert by_rater.se.mean() > 2 * by_judgment.se.mean()


def test_poisson_scheme_and_rank_intervals():
    df = simulate(np.array([0.0, 0.02, 2.0, -2.0]), n=4000, rng=np.random.default_rng(5))
    fit = fit_pairwise(df)
    boot = bootstrap(df, fit, n_boot=300, rng=np.random.default_rng(6), scheme="poisson")
    t = boot.table().set_index("condition")
    assert (t.loc["c2", "rank_low"], t.loc["c2", "rank_high"]) == (1, 1)
    assert (t.loc["c3", "rank_low"], t.loc["c3", "rank_high"]) == (4, 4)
    assert t.loc["c0", "rank_low"] == 2 and t.loc["c0", "rank_high"] == 3
    lo, hi = rank_intervals(scores=fit.scores, cov=fit.cov)
    assert lo[2] == hi[2] == 1 and lo[0] == 2 and hi[0] == 3
    sig = significance_matrix(scores=fit.scores, cov=fit.cov)
    assert sig[2, 3] < 1e-6 and sig[0, 1] > 0.05 and np.allclose(sig, sig.T, equal_nan=True)


def test_bootstrap_does_not_depend_on_threads():
    df = simulate(TRUE, n=2000, rng=np.random.default_rng(7))
    fit = fit_pairwise(df)
    one = bootstrap(df, fit, n_boot=60, rng=np.random.default_rng(1), chunk=16, workers=1)
    two = bootstrap(df, fit, n_boot=60, rng=np.random.default_rng(1), chunk=16, workers=2)
    np.testing.assert_array_equal(one.replicates, two.replicates)


def test_rater_bootstrap_needs_two_raters_and_notes_few_resamples():
    from math import comb

    import pandas as pd

    from eyetest.errors import JudgmentDataError

    df = simulate(TRUE, n=300, rng=np.random.default_rng(10), raters=1)
    fit = fit_pairwise(df)
    with pytest.raises(JudgmentDataError, match="at least 2 raters"):
        bootstrap(df, fit, n_boot=20, rng=np.random.default_rng(0), unit="rater")
    three = simulate(TRUE, n=300, rng=np.random.default_rng(11), raters=3)
    boot = bootstrap(three, fit_pairwise(three), n_boot=200, rng=np.random.default_rng(0), unit="rater")
    # 3 raters have C(5, 3) = 10 distinct resamples (multisets), so at most 10 distinct replicates
    assert len(np.unique(boot.replicates.round(9), axis=0)) <= comb(5, 3) == 10
    assert any("only 3 raters: at most 10 distinct resamples" in n for n in boot.info["notes"])
    many = pd.concat([simulate(TRUE, n=60, rng=np.random.default_rng(k), raters=1).assign(rater=f"r{k}")
                      for k in range(12)])
    boot = bootstrap(many, fit_pairwise(many), n_boot=20, rng=np.random.default_rng(0), unit="rater")
    assert not any("distinct resamples" in n for n in boot.info["notes"])


def test_replicates_without_a_finite_mle_get_the_point_fits_fallback_prior():
    # the MLE exists for the data, but a replicate that loses B's single win over A does not have one
    import warnings

    from eyetest.errors import ComparisonGraphWarning

    from ._sim import counts_frame

    df = counts_frame({("A", "B"): (4, 1, 0), ("B", "C"): (4, 1, 0), ("A", "C"): (5, 1, 0)})
    counts = pair_counts(df)
    fit = fit_pairwise(counts)
    boot = bootstrap(counts, fit, n_boot=60, rng=np.random.default_rng(0), chunk=60)
    rep = resample_counts(counts, n_boot=60, rng=np.random.default_rng(0).spawn(1)[0])
    refs, n_warned = [], 0
    for b in range(60):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ComparisonGraphWarning)
            refs.append(fit_pairwise(rep.with_counts(rep.wins_i[b], rep.wins_j[b], rep.ties[b])).scores)
        n_warned += any(issubclass(w.category, ComparisonGraphWarning) for w in caught)
    np.testing.assert_allclose(boot.replicates, np.array(refs), atol=1e-7)
    assert 0 < boot.info["n_fallback_prior"] == n_warned < 60
    assert np.abs(boot.replicates).max() < 6  # before: replicates ran off to ~37 logits
    assert any(f"{n_warned} of 60 bootstrap replicates have no finite" in n for n in boot.info["notes"])


def test_bootstrap_flags_conditions_whose_cis_rest_on_the_fallback_prior():
    import warnings

    from eyetest.errors import ComparisonGraphWarning

    from ._sim import counts_frame

    # gt wins every comparison; m1, m2, m3 beat each other both ways
    df = counts_frame({("gt", "m1"): (10, 0, 0), ("gt", "m2"): (10, 0, 0), ("gt", "m3"): (10, 0, 0),
                       ("m1", "m2"): (6, 4, 0), ("m2", "m3"): (6, 4, 0), ("m1", "m3"): (7, 3, 0)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ComparisonGraphWarning)
        fit = fit_pairwise(df)
    boot = bootstrap(df, fit, n_boot=50, rng=np.random.default_rng(0))
    assert boot.info["prior_driven"] == ["gt"]
    assert any(n.startswith("bootstrap CIs of gt rest on the N(0, 3.0^2) fallback prior") for n in boot.info["notes"])
    ok = bootstrap(df[df["condition_a"] != "gt"], fit_pairwise(df[df["condition_a"] != "gt"]), n_boot=20,
                   rng=np.random.default_rng(0))
    assert ok.info["prior_driven"] == [] and ok.info["notes"] == []
