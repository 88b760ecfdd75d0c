"""Audit summary statistics against closed forms and scipy's bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from eyetest.core.audit import (
    above,
    bootstrap_mean_ci,
    delta,
    gameability,
    improved,
    summarize,
)
from eyetest.errors import MetricInputError


def test_delta_and_direction():
    v = np.array([2.0, 1.0, np.inf, 5.0, 3.0])
    b = np.array([1.0, 2.0, np.inf, np.inf, 3.0 + 1e-12])
    np.testing.assert_array_equal(delta(v, b), [1.0, -1.0, 0.0, -np.inf, v[4] - b[4]])
    np.testing.assert_array_equal(improved(v, b, higher_is_better=True), [True, False, False, False, False])
    np.testing.assert_array_equal(improved(v, b, higher_is_better=False), [False, True, False, True, False])
    np.testing.assert_array_equal(above(v, b), [True, False, False, False, False])


def test_bootstrap_matches_scipy_percentile_interval():
    x = np.random.default_rng(0).normal(3.0, 2.0, 60)
    mean, lo, hi, bad = bootstrap_mean_ci(x, rng=np.random.default_rng(1), n_boot=20000)
    ref = stats.bootstrap((x,), np.mean, method="percentile", n_resamples=20000,
                          random_state=np.random.default_rng(2)).confidence_interval
    assert mean == pytest.approx(x.mean()) and bad == 0
    width = ref.high - ref.low
    assert lo == pytest.approx(ref.low, abs=0.03 * width)
    assert hi == pytest.approx(ref.high, abs=0.03 * width)
    # and the normal approximation 2 * 1.96 s / sqrt(n)
    assert hi - lo == pytest.approx(2 * 1.96 * x.std(ddof=1) / np.sqrt(x.size), rel=0.1)


def test_bootstrap_edge_cases_and_determinism():
    m, lo, hi, bad = bootstrap_mean_ci([np.inf, 2.0], rng=np.random.default_rng(0))
    assert m == 2.0 and bad == 1 and np.isnan(lo) and np.isnan(hi)   # one value: no interval
    m, lo, hi, bad = bootstrap_mean_ci([np.nan], rng=np.random.default_rng(0))
    assert np.isnan(m) and np.isnan(lo) and bad == 1
    a = bootstrap_mean_ci([1.0, 4.0, 2.0], rng=np.random.default_rng(7))
    assert a == bootstrap_mean_ci([1.0, 4.0, 2.0], rng=np.random.default_rng(7))
    with pytest.raises(MetricInputError):
        bootstrap_mean_ci([1.0], rng=None)


def _table():
    rows = []
    # metric "up" (higher better): manipulation "usm" raises it on 3 of 4 images
    for i, (b, v) in enumerate([(1.0, 1.5), (2.0, 2.2), (3.0, 2.5), (1.0, 1.1)]):
        rows.append(("im%d" % i, "up", "usm", 1.0, v, b))
        rows.append(("im%d" % i, "up", "usm", 2.0, v + 1, b))
        rows.append(("im%d" % i, "up", "contrast", 1.0, v, b))
    # metric "down" (lower better) under the same: improved when it drops
    for i, (b, v) in enumerate([(10.0, 9.0), (10.0, 11.0), (10.0, 10.0), (10.0, 12.0)]):
        rows.append(("im%d" % i, "down", "usm", 1.0, v, b))
        rows.append(("im%d" % i, "down", "usm", 2.0, v, b))
        rows.append(("im%d" % i, "down", "contrast", 1.0, v, b))
    return pd.DataFrame(rows, columns=["image", "metric", "manipulation", "strength", "value", "baseline"])


def test_summarize_recomputed_by_hand():
    t = _table()
    s = summarize(t, higher_is_better={"up": True, "down": False}, rng=np.random.default_rng(0), n_boot=500)
    assert len(s) == 6
    for _, row in s.iterrows():
        g = t[(t.metric == row.metric) & (t.manipulation == row.manipulation) & (t.strength == row.strength)]
        d = g.value - g.baseline
        assert row.mean_delta == pytest.approx(d.mean())
        assert row.ci_low <= row.mean_delta <= row.ci_high
        hib = row.metric == "up"
        assert row.share_improved == pytest.approx(((d > 0) if hib else (d < 0)).mean())
        assert row.share_above == pytest.approx((d > 0).mean())
        assert row.n_images == 4 and row.n_nonfinite == 0
    again = summarize(t, higher_is_better={"up": True, "down": False}, rng=np.random.default_rng(0), n_boot=500)
    pd.testing.assert_frame_equal(s, again)
    with pytest.raises(MetricInputError, match="direction"):
        summarize(t, higher_is_better={"up": True}, rng=np.random.default_rng(0))


def test_gameability_flag_needs_a_strict_majority_and_a_fidelity_reducing_trick():
    t = _table()
    s = summarize(t, higher_is_better={"up": True, "down": False}, rng=np.random.default_rng(0), n_boot=200)
    g = gameability(s, kinds={"usm": "trick", "contrast": "enhancement"}).set_index(["metric", "manipulation"])
    # "up" under usm: 3/4 at strength 1, 4/4 at strength 2 -> gameable at 2
    assert g.loc[("up", "usm"), "max_share_improved"] == 1.0
    assert g.loc[("up", "usm"), "at_strength"] == 2.0
    assert g.loc[("up", "usm"), "gameable"]
    # same numbers, but an enhancement: reported, never flagged
    assert g.loc[("up", "contrast"), "max_share_improved"] == 0.75
    assert not g.loc[("up", "contrast"), "gameable"]
    # "down": improved on 1 of 4 images -> not gameable; lowest strength wins the tie
    assert g.loc[("down", "usm"), "max_share_improved"] == 0.25
    assert g.loc[("down", "usm"), "at_strength"] == 1.0
    assert not g.loc[("down", "usm"), "gameable"]
    half = s.copy()
    half.loc[:, "share_improved"] = 0.5
    assert not gameability(half, kinds={"usm": "trick", "contrast": "trick"})["gameable"].any()


def test_significant_needs_the_interval_on_the_better_side():
    s = pd.DataFrame({
        "metric": ["up", "up", "down"], "manipulation": ["a", "b", "a"], "strength": [1.0, 1.0, 1.0],
        "share_improved": [0.8, 0.8, 0.8], "mean_delta": [1.0, 1.0, -1.0],
        "ci_low": [0.2, -0.1, -2.0], "ci_high": [1.5, 1.5, -0.5],
    })
    g = gameability(s, kinds={"a": "trick", "b": "trick"},
                    higher_is_better={"up": True, "down": False}).set_index(["metric", "manipulation"])
    assert g.loc[("up", "a"), "significant"] and not g.loc[("up", "b"), "significant"]
    assert g.loc[("down", "a"), "significant"]
    assert g["gameable"].all()
    assert not gameability(s, kinds={"a": "trick", "b": "trick"})["significant"].any()



def test_one_image_is_never_significant():
    # a single image has no interval, so a clear-looking change on it is not "significant"
    rows = [{"image": "x", "metric": "up", "manipulation": m, "strength": st, "baseline": 1.0, "value": v}
            for m, st, v in [("usm", 1.0, 2.0), ("identity", 0.0, 1.0)]]
    s = summarize(pd.DataFrame(rows), higher_is_better={"up": True}, rng=np.random.default_rng(0))
    one = s[s["manipulation"] == "usm"].iloc[0]
    assert one["n_images"] == 1 and np.isnan(one["ci_low"]) and np.isnan(one["ci_high"])
    g = gameability(s, kinds={"usm": "trick", "identity": "identity"}, higher_is_better={"up": True})
    assert not g["significant"].any()

def test_summary_ci_of_a_metric_does_not_depend_on_the_other_metrics():
    # Each (metric, manipulation, strength) resamples with its own generator, so adding
    # or renaming another metric in the run leaves a metric's CI unchanged.
    import numpy as np
    import pandas as pd

    from eyetest.core.audit import summarize

    rng = np.random.default_rng(3)
    rows = []
    for metric in ("zeta", "alpha"):
        for i in range(12):
            rows.append({"image": f"i{i}", "metric": metric, "manipulation": "usm", "strength": 1.0,
                         "value": rng.normal(), "baseline": rng.normal()})
    both = pd.DataFrame(rows)
    only_zeta = both[both.metric == "zeta"]
    s_both = summarize(both, higher_is_better={"zeta": True, "alpha": True}, rng=np.random.default_rng(0), n_boot=300)
    s_one = summarize(only_zeta, higher_is_better={"zeta": True}, rng=np.random.default_rng(0), n_boot=300)
    a = s_both[s_both.metric == "zeta"].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, s_one.reset_index(drop=True))


def test_shares_leave_out_images_whose_score_is_nan():
    # 4 images; the (lower-is-better) metric could not be scored on 2 of them (NaN
    # value / baseline).  The 2 comparable images both improve, so the share is 2/2,
    # as the mean delta (-1 over the finite deltas) says; the NaN ones are counted
    # as non-finite, not as "not improved".  An infinite delta is a comparison.
    t = pd.DataFrame({"image": list("abcd"), "metric": "m", "manipulation": "usm", "strength": 1.0,
                      "value": [1.0, 1.0, np.nan, 1.0], "baseline": [2.0, 2.0, 2.0, np.nan]})
    s = summarize(t, higher_is_better={"m": False}, rng=np.random.default_rng(0), n_boot=200).iloc[0]
    assert s["share_improved"] == 1.0 and s["share_above"] == 0.0
    assert s["n_images"] == 4 and s["n_nonfinite"] == 2 and s["mean_delta"] == -1.0
    g = gameability(pd.DataFrame([s]), kinds={"usm": "trick"}).iloc[0]
    assert g["gameable"]
    psnr = pd.DataFrame({"image": list("ab"), "metric": "psnr", "manipulation": "usm", "strength": 1.0,
                         "value": [30.0, 40.0], "baseline": [np.inf, 35.0]})
    p = summarize(psnr, higher_is_better={"psnr": True}, rng=np.random.default_rng(0), n_boot=200).iloc[0]
    assert p["share_improved"] == 0.5 and p["n_nonfinite"] == 1


def test_gameability_skips_nan_shares():
    # np.argmax takes NaN for the maximum; a strength with no comparable image must
    # neither be reported as the peak nor hide the majority at another strength.
    t = pd.DataFrame({"image": list("abab"), "metric": "m", "manipulation": "usm",
                      "strength": [1.0, 1.0, 2.0, 2.0], "value": [np.nan, np.nan, 3.0, 3.0],
                      "baseline": [np.nan, 1.0, 1.0, 1.0]})
    s = summarize(t, higher_is_better={"m": True}, rng=np.random.default_rng(0), n_boot=200)
    assert np.isnan(s.loc[s["strength"] == 1.0, "share_improved"].iloc[0])
    g = gameability(s, kinds={"usm": "trick"}).iloc[0]
    assert g["at_strength"] == 2.0 and g["max_share_improved"] == 1.0 and g["gameable"]
    only_nan = gameability(s[s["strength"] == 1.0], kinds={"usm": "trick"}).iloc[0]
    assert np.isnan(only_nan["max_share_improved"]) and not only_nan["gameable"]
