"""Paired metric comparison: against hand-written paired bootstraps, invariants, Holm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from eyetest.core.alignment.compare import bootstrap_p_value, compare_agreement, compare_metrics, holm
from eyetest.core.alignment.groups import agreement_table, alignment_table
from eyetest.core.alignment.pairwise import pairs_from_scale
from eyetest.errors import MetricInputError

QUALITY = {"bicubic": 0.0, "hat": 1.0, "esrgan": 1.5, "supir": 2.0}
DIRS = {"good": True, "niqe-like": False, "noise": True}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    scores, human = [], []
    for i in range(18):
        image, scenario = f"img{i}", ("text", "face")[i % 2]
        for method, q in QUALITY.items():
            mos = q + rng.normal(0, 0.5)
            human.append({"image": image, "method": method, "score": mos})
            for metric, value in (("good", mos + rng.normal(0, 0.3)), ("niqe-like", -mos + rng.normal(0, 1.0)),
                                  ("noise", rng.normal())):
                scores.append({"image": image, "method": method, "metric": metric, "value": value,
                               "scenario": scenario})
    return pd.DataFrame(scores), pd.DataFrame(human)


def _hand_srcc_bootstrap(scores, human, a, b, seed, n_boot):
    """Paired image bootstrap of SRCC_a - SRCC_b written out with scipy, same draws as bootstrap.py."""
    wide = scores.pivot_table(index=["image", "method"], columns="metric", values="value").reset_index()
    wide = wide.merge(human, on=["image", "method"])
    sign = {m: 1.0 if h else -1.0 for m, h in DIRS.items()}
    images = list(dict.fromkeys(scores["image"]))          # units in order of first appearance
    rows = {img: np.flatnonzero(wide["image"].to_numpy() == img) for img in images}

    def diff(idx):
        part = wide.iloc[idx]
        ra = stats.spearmanr(sign[a] * part[a], part["score"]).statistic
        rb = stats.spearmanr(sign[b] * part[b], part["score"]).statistic
        return ra - rb

    rng = np.random.default_rng(seed)
    reps = np.array([diff(np.concatenate([rows[images[i]] for i in rng.integers(0, len(images), len(images))]))
                     for _ in range(n_boot)])
    return diff(np.arange(len(wide))), reps


def test_srcc_difference_matches_hand_written_paired_bootstrap(data):
    scores, human = data
    t = compare_metrics(scores, human, metrics={"good": True, "niqe-like": False}, rng=np.random.default_rng(3),
                        n_boot=200)
    row = t[t["statistic"] == "srcc"].iloc[0]
    estimate, reps = _hand_srcc_bootstrap(scores, human, "good", "niqe-like", 3, 200)
    assert row["difference"] == pytest.approx(estimate, abs=1e-12)
    low, high = np.quantile(reps, [0.025, 0.975])
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), abs=1e-12)
    tail = min(np.sum(reps <= 0), np.sum(reps >= 0))
    assert row["p_value"] == pytest.approx(min(1.0, 2 * (1 + tail) / 201))
    assert row["n"] == 72 and row["n_valid"] == 200


def test_values_are_those_of_alignment_and_agreement_tables(data):
    scores, human = data
    t = compare_metrics(scores, human, metrics=DIRS, rng=np.random.default_rng(1), n_boot=20)
    al = alignment_table(scores, human, metrics=DIRS, rng=np.random.default_rng(1), n_boot=5)
    single = al.set_index(["metric", "statistic"])["value"]
    for r in t.itertuples():
        assert r.value_a == pytest.approx(single[(r.metric_a, r.statistic)], abs=1e-12)
        assert r.value_b == pytest.approx(single[(r.metric_b, r.statistic)], abs=1e-12)
        assert r.difference == pytest.approx(r.value_a - r.value_b, abs=1e-12)
    assert list(zip(t["metric_a"], t["metric_b"]))[::2] == [("good", "niqe-like"), ("good", "noise"),
                                                            ("niqe-like", "noise")]
    pairs = pairs_from_scale(human)
    c = compare_agreement(pairs, scores, metrics=DIRS, rng=np.random.default_rng(1), n_boot=20)
    ag = agreement_table(pairs, scores, metrics=DIRS, rng=np.random.default_rng(1), n_boot=5)
    share = ag.set_index("metric")["agreement"]
    for r in c.itertuples():
        assert (r.value_a, r.value_b) == pytest.approx((share[r.metric_a], share[r.metric_b]), abs=1e-12)
        assert r.n == 18 * 6


def test_agreement_difference_matches_hand_written_loop(data):
    scores, human = data
    pairs = pairs_from_scale(human)
    c = compare_agreement(pairs, scores, metrics={"good": True, "noise": True}, rng=np.random.default_rng(9),
                          n_boot=150).iloc[0]
    value = scores.set_index(["image", "method", "metric"])["value"]
    agree = {}
    for m in ("good", "noise"):
        va = value.reindex(pd.MultiIndex.from_arrays([pairs["image"], pairs["method_a"], [m] * len(pairs)]))
        vb = value.reindex(pd.MultiIndex.from_arrays([pairs["image"], pairs["method_b"], [m] * len(pairs)]))
        agree[m] = (np.sign(va.to_numpy() - vb.to_numpy()) == pairs["human"].to_numpy()).astype(float)
    images = list(dict.fromkeys(pairs["image"]))
    rows = {img: np.flatnonzero(pairs["image"].to_numpy() == img) for img in images}
    rng = np.random.default_rng(9)
    reps = []
    for _ in range(150):
        idx = np.concatenate([rows[images[i]] for i in rng.integers(0, len(images), len(images))])
        reps.append(agree["good"][idx].mean() - agree["noise"][idx].mean())
    assert c["difference"] == pytest.approx(agree["good"].mean() - agree["noise"].mean())
    assert (c["ci_low"], c["ci_high"]) == pytest.approx(tuple(np.quantile(reps, [0.025, 0.975])), abs=1e-12)


def test_swapping_metrics_negates_difference_and_mirrors_interval(data):
    scores, human = data
    ab = compare_metrics(scores, human, metrics={"good": True, "niqe-like": False}, rng=np.random.default_rng(4),
                         n_boot=150).set_index("statistic")
    ba = compare_metrics(scores, human, metrics={"niqe-like": False, "good": True}, rng=np.random.default_rng(4),
                         n_boot=150).set_index("statistic")
    assert (ba["metric_a"] == "niqe-like").all()
    np.testing.assert_allclose(ba["difference"], -ab["difference"], atol=1e-12)
    np.testing.assert_allclose(ba["ci_low"], -ab["ci_high"], atol=1e-12)
    np.testing.assert_allclose(ba["ci_high"], -ab["ci_low"], atol=1e-12)
    np.testing.assert_allclose(ba["p_value"], ab["p_value"])
    pairs = pairs_from_scale(human)
    x = compare_agreement(pairs, scores, metrics={"good": True, "noise": True}, rng=np.random.default_rng(4),
                          n_boot=100).iloc[0]
    y = compare_agreement(pairs, scores, metrics={"noise": True, "good": True}, rng=np.random.default_rng(4),
                          n_boot=100).iloc[0]
    assert y["difference"] == pytest.approx(-x["difference"])
    assert (y["ci_low"], y["ci_high"]) == pytest.approx((-x["ci_high"], -x["ci_low"]))


def test_identical_metrics_differ_by_zero_with_p_one(data):
    scores, human = data
    twin = pd.concat([scores, scores[scores["metric"] == "good"].assign(metric="twin")], ignore_index=True)
    t = compare_metrics(twin, human, metrics={"good": True, "twin": True}, rng=np.random.default_rng(0), n_boot=100)
    assert (t["difference"] == 0).all() and (t["ci_low"] == 0).all() and (t["ci_high"] == 0).all()
    assert (t["p_value"] == 1).all() and (t["p_holm"] == 1).all()
    c = compare_agreement(pairs_from_scale(human), twin, metrics={"good": True, "twin": True},
                          rng=np.random.default_rng(0), n_boot=100)
    assert c["difference"].iloc[0] == 0 and c["p_value"].iloc[0] == 1


def test_strongly_better_metric_is_significant_and_noise_pair_is_not(data):
    scores, human = data
    noisy = pd.concat([scores, scores[scores["metric"] == "noise"].assign(
        metric="noise2", value=np.random.default_rng(5).normal(size=(scores["metric"] == "noise").sum()))])
    t = compare_metrics(noisy, human, metrics={"good": True, "noise": True, "noise2": True},
                        rng=np.random.default_rng(2), n_boot=400).set_index(["metric_a", "metric_b", "statistic"])
    for s in ("srcc", "plcc"):
        best = t.loc[("good", "noise", s)]
        assert best["difference"] > 0.5 and best["ci_low"] > 0
        assert best["p_value"] == pytest.approx(2 / 401)  # every replicate above 0
        assert best["p_holm"] == pytest.approx(min(1.0, 3 * 2 / 401), abs=1e-12)
    assert t.loc[("noise", "noise2", "srcc"), "p_holm"] > 0.05


def test_holm_matches_hand_computation():
    # sorted: 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, max(1*0.04, 0.06)
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])
    out = holm([0.02, np.nan, 0.01])  # NaN left out of m
    assert np.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.02)
    with pytest.raises(MetricInputError):
        holm([1.5])


def test_holm_is_applied_per_group_and_statistic(data):
    scores, human = data
    t = compare_metrics(scores, human, metrics=DIRS, by=("scenario",), rng=np.random.default_rng(6), n_boot=60)
    assert sorted(t["scenario"].unique()) == ["face", "text"] and len(t) == 2 * 2 * 3
    for _, part in t.groupby(["scenario", "statistic"]):
        assert len(part) == 3
        np.testing.assert_allclose(part["p_holm"], holm(part["p_value"]))
    assert (t["p_holm"] >= t["p_value"]).all()


def test_bootstrap_p_value_by_hand():
    assert bootstrap_p_value([1.0, 2.0, 3.0, -1.0]) == pytest.approx(2 * (1 + 1) / 5)
    assert bootstrap_p_value([0.0, 0.0]) == 1.0
    assert bootstrap_p_value([1.0, np.nan, 2.0, np.nan]) == pytest.approx(2 / 3)
    assert np.isnan(bootstrap_p_value([np.nan, np.nan, np.nan, 1.0]))  # fewer than half finite


def test_same_seed_same_table(data):
    scores, human = data
    a = compare_metrics(scores, human, metrics=DIRS, rng=np.random.default_rng(8), n_boot=50)
    b = compare_metrics(scores, human, metrics=DIRS, rng=np.random.default_rng(8), n_boot=50)
    c = compare_metrics(scores, human, metrics=DIRS, rng=np.random.default_rng(9), n_boot=50)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["ci_low"], c["ci_low"])


def test_single_unit_gives_nan_interval_and_p(data):
    scores, human = data
    one_s, one_h = scores[scores["image"] == "img0"], human[human["image"] == "img0"]
    t = compare_metrics(one_s, one_h, metrics={"good": True, "noise": True}, rng=np.random.default_rng(0), n_boot=20)
    assert len(t) == 2 and np.isfinite(t["difference"]).all()
    assert t[["ci_low", "ci_high", "p_value", "p_holm"]].isna().all().all() and (t["n_valid"] == 0).all()
    c = compare_agreement(pairs_from_scale(one_h), one_s, metrics={"good": True, "noise": True},
                          rng=np.random.default_rng(0), n_boot=20)
    assert np.isnan(c["ci_low"].iloc[0]) and np.isnan(c["p_value"].iloc[0])


def test_only_common_conditions_are_compared(data):
    scores, human = data
    drop = (scores["metric"] == "noise") & (scores["image"] == "img0")
    t = compare_metrics(scores[~drop], human, metrics={"good": True, "noise": True}, rng=np.random.default_rng(0),
                        n_boot=10)
    assert (t["n"] == 17 * 4).all()


def test_missing_unit_column_is_named(data):
    scores, human = data
    with pytest.raises(MetricInputError, match="rater"):
        compare_metrics(scores, human, metrics=DIRS, unit="rater", rng=np.random.default_rng(0), n_boot=5)
