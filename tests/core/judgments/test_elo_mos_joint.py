import numpy as np
import pandas as pd
import pytest
from scipy import stats

from eyetest.core.judgments.bradley_terry import fit_pairwise
from eyetest.core.judgments.elo import bootstrap_elo, fit_elo
from eyetest.core.judgments.joint import joint_pairwise, joint_pairwise_ratings
from eyetest.core.judgments.mos import bootstrap_mos, fit_mos
from eyetest.errors import JudgmentDataError

from ._sim import simulate


def test_elo_closed_form_updates_and_order_dependence():
    df = pd.DataFrame({"rater": "r", "condition_a": ["x", "x"], "condition_b": ["y", "y"], "outcome": ["a", "b"]})
    fit = fit_elo(df, k=32)
    # step 1: E = 0.5, x += 16 -> 1016, y = 984; step 2: y wins, E_x = 1/(1+10^(-32/400))
    e_x = 1 / (1 + 10 ** ((984 - 1016) / 400))
    expected_x = 1016 + 32 * (0 - e_x)
    assert fit.scores[0] == pytest.approx(expected_x) and fit.scores.sum() == pytest.approx(2000)
    reverse = fit_elo(df.iloc[::-1], k=32)
    assert reverse.scores[0] != pytest.approx(fit.scores[0])  # Elo depends on the order


def test_elo_shuffled_agrees_with_bt_ranking_and_bootstraps():
    df = simulate(np.array([0.0, 0.8, 1.6, -0.8, -1.6]), n=4000, rng=np.random.default_rng(0))
    elo = fit_elo(df, n_shuffles=4, rng=np.random.default_rng(1))
    bt = fit_pairwise(df)
    assert stats.spearmanr(elo.scores, bt.scores).statistic == pytest.approx(1.0)
    with pytest.raises(JudgmentDataError):
        fit_elo(df, n_shuffles=2)
    boot = bootstrap_elo(df.iloc[:600], fit_elo(df.iloc[:600]), n_boot=20, rng=np.random.default_rng(2))
    t = boot.table()
    assert (t["ci_low"] < t["ci_high"]).all()


def test_mos_t_interval_matches_scipy():
    values = [3, 4, 5, 4, 2, 4]
    df = pd.DataFrame({"rater": [f"r{k}" for k in range(6)], "condition": "c", "value": values, "scale": "acr5"})
    df = pd.concat([df, df.assign(condition="d", value=[1, 2, 1, 2, 1, 2])])
    t = fit_mos(df).table().set_index("condition")
    lo, hi = stats.t.interval(0.95, 5, loc=np.mean(values), scale=stats.sem(values))
    assert t.loc["c", "score"] == pytest.approx(np.mean(values))
    assert (t.loc["c", "ci_low"], t.loc["c", "ci_high"]) == pytest.approx((lo, hi))
    assert t.loc["c", "n"] == 6


def test_zscored_mos_removes_rater_offsets():
    rng = np.random.default_rng(3)
    q = np.linspace(20, 80, 6)
    rows = []
    for r, offset in enumerate([-15, 0, 15, 5]):
        for c in range(6):
            if (r + c) % 3 == 0 and r == 2:
                continue  # the harsh rater skipped some conditions
            rows.append({"rater": f"r{r}", "condition": f"c{c}", "scale": "continuous100",
                         "value": float(np.clip(q[c] + offset + rng.normal(0, 2), 0, 100))})
    df = pd.DataFrame(rows)
    z = fit_mos(df, zscore=True)
    assert stats.spearmanr(z.scores, q).statistic == pytest.approx(1.0)
    assert z.unit == "z" and abs(z.scores.mean()) < 0.3
    rescaled = fit_mos(df, zscore=True, rescale=True)
    assert rescaled.unit == "continuous100" and 20 < rescaled.scores.mean() < 80
    boot = bootstrap_mos(df, fit_mos(df), n_boot=200, rng=np.random.default_rng(4))
    np.testing.assert_allclose(boot.replicates.mean(axis=0), fit_mos(df).scores, atol=3)
    with pytest.raises(JudgmentDataError):
        fit_mos(pd.concat([df, df.assign(scale="acr5", value=3)]))


def test_joint_scaling_of_two_studies_sharing_anchors():
    truth = {"gt": 2.0, "bic": -1.0, "m1": 0.5, "m2": 0.0, "m3": 1.0, "m4": -0.5}
    rng = np.random.default_rng(5)

    def study(names):
        s = np.array([truth[c] for c in names])
        df = simulate(s, n=6000, rng=rng)
        mapping = {f"c{k}": c for k, c in enumerate(names)}
        return df.assign(condition_a=df["condition_a"].map(mapping), condition_b=df["condition_b"].map(mapping))

    one, two = study(["gt", "bic", "m1", "m2"]), study(["gt", "bic", "m3", "m4"])
    fit = joint_pairwise({"one": one, "two": two}, anchors=["gt", "bic"])
    s = dict(zip(fit.conditions, fit.scores))
    se = dict(zip(fit.conditions, fit.se))
    assert s["gt"] == 0.0
    # m3 (study two) vs m1 (study one): never compared directly, linked through the anchors
    assert s["m3"] - s["m1"] == pytest.approx(truth["m3"] - truth["m1"], abs=4 * (se["m3"] + se["m1"]))
    with pytest.raises(JudgmentDataError, match="three"):
        joint_pairwise({"one": one, "three": one.replace({"gt": "x", "bic": "y"})}, anchors=["gt", "bic"])


def test_pairwise_and_ratings_on_one_scale():
    rng = np.random.default_rng(6)
    q = np.array([0.0, 0.5, 1.0, 1.5, 2.0, -1.0, 0.8])  # c5, c6 are only rated
    pw = simulate(q[:5], model="thurstone", n=3000, rng=rng)
    rows = [{"rater": f"r{r}", "condition": f"c{c}", "scale": "continuous100",
             "value": float(40 + 15 * q[c] + rng.normal(0, 5))} for c in range(7) for r in range(30)]
    fit, params = joint_pairwise_ratings(pw, pd.DataFrame(rows))
    expected = q - q[:5].mean()
    got = pd.Series(fit.scores, index=list(fit.conditions))[[f"c{k}" for k in range(7)]].to_numpy()
    np.testing.assert_allclose(got, expected, atol=4 * fit.se.max())
    assert params.loc[0, "b"] == pytest.approx(15, rel=0.15) and params.loc[0, "sigma"] == pytest.approx(5, rel=0.15)


def test_aggregate_by_method_closed_forms():
    import warnings

    from eyetest.core.judgments.ranking import aggregate_by_method
    from eyetest.errors import ComparisonGraphWarning

    df = simulate(np.array([0.0, 0.7, -0.5]), n=3000, rng=np.random.default_rng(8))
    names = {"c0": "hat", "c1": "supir", "c2": "bicubic"}
    img1 = df.assign(condition_a="i1::" + df["condition_a"].map(names), condition_b="i1::" + df["condition_b"].map(names))
    single = fit_pairwise(img1)
    one = aggregate_by_method(single).set_index("condition")
    s = dict(zip(single.conditions, single.scores))
    assert one.loc["supir", "score"] == pytest.approx(s["i1::supir"]) and one.loc["supir", "n_images"] == 1
    # the same data again for a second image: same means, standard errors / sqrt(2)
    img2 = img1.assign(condition_a=img1["condition_a"].str.replace("i1", "i2"),
                       condition_b=img1["condition_b"].str.replace("i1", "i2"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ComparisonGraphWarning)
        both = fit_pairwise(pd.concat([img1, img2]), disconnected="component")
    two = aggregate_by_method(both).set_index("condition")
    assert two.loc["supir", "score"] == pytest.approx(one.loc["supir", "score"])
    assert two.loc["supir", "se"] == pytest.approx(one.loc["supir", "se"] / np.sqrt(2))


def test_rank_drops_training_and_gold_trials_and_slices():
    from eyetest.core.judgments.ranking import rank

    df = simulate(np.array([0.0, 1.0, -1.0]), n=900, rng=np.random.default_rng(9))
    df["is_training"] = np.arange(len(df)) < 30
    df["is_gold"] = (np.arange(len(df)) >= 30) & (np.arange(len(df)) < 60)
    df["dimension"] = np.where(np.arange(len(df)) % 2 == 0, "sharpness", "naturalness")
    table, notes = rank(df, model="rao-kupper", by="dimension")
    assert set(table["dimension"]) == {"sharpness", "naturalness"}
    assert table.groupby("dimension")["n_judgments"].first().sum() == len(df) - 60
    assert "30 training trial(s) not scaled" in notes and "30 gold trial(s) not scaled" in notes
    with pytest.raises(JudgmentDataError):
        rank(df, model="mos")


def test_mos_rater_bootstrap_needs_two_raters_and_notes_few():
    one = pd.DataFrame({"rater": "r0", "condition": ["c", "d", "c"], "value": [4, 2, 5], "scale": "acr5"})
    with pytest.raises(JudgmentDataError, match="at least 2 raters"):
        bootstrap_mos(one, fit_mos(one), n_boot=20, rng=np.random.default_rng(0))
    two = pd.concat([one, one.assign(rater="r1", value=[3, 1, 4])])
    boot = bootstrap_mos(two, fit_mos(two), n_boot=50, rng=np.random.default_rng(0))
    assert any("only 2 raters: at most 3 distinct resamples" in n for n in boot.info["notes"])  # C(3, 2)
    assert len(np.unique(boot.replicates.round(9), axis=0)) <= 3
