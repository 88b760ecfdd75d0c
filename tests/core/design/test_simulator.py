"""Rater simulator: columns, recovery of the latent truth, tie share, QC behaviour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from eyetest.core.design.quality import GoldPair, insert_quality_trials
from eyetest.core.design.simulator import (
    PAIRWISE_COLUMNS, RATING_COLUMNS, RaterModel, RaterSimulator, calibrate_tie_threshold, expected_trials,
    make_truth, quit_quota, tie_probability, truth_from_scores,
)
from eyetest.core.judgments.bradley_terry import fit_pairwise
from eyetest.core.judgments.model import validate_pairwise, validate_ratings
from eyetest.errors import SpecError


def _all_pairs(conds, reps):
    a, b = zip(*[(x, y) for _ in range(reps) for i, x in enumerate(conds) for y in conds[i + 1:]])
    return list(a), list(b)


def test_columns_and_validation():
    rng = np.random.default_rng(0)
    truth = make_truth(images=["i1", "i2"], methods=["hat", "supir", "bicubic"], rng=rng,
                       scenarios={"i1": "text", "i2": "food"}, dimensions=["overall", "sharpness"])
    sim = RaterSimulator(truth, model=RaterModel(tie_threshold=0.3, random_share=0.2), rng=rng)
    a, b = ["i1::hat", "i2::supir"], ["i1::supir", "i2::bicubic"]
    df = sim.judge_pairs(["r1", "r2"], [0, 1], a, b, dimension="sharpness")
    assert tuple(df.columns) == PAIRWISE_COLUMNS
    assert set(df["outcome"]) <= {"a", "b", "tie"}
    assert df["scenario"].tolist() == ["text", "food"] and df["method_b"].tolist() == ["supir", "bicubic"]
    validate_pairwise(df)
    for scale in ("acr5", "dcr5", "continuous100"):
        r = sim.rate(["r1"] * 6, range(6), truth.conditions(), scale=scale)
        assert tuple(r.columns) == RATING_COLUMNS
        validate_ratings(r)


def test_bradley_terry_recovers_method_ranking():
    rng = np.random.default_rng(1)
    methods = {f"m{k}": 0.6 * k for k in range(6)}
    truth = truth_from_scores(methods)
    model = RaterModel(tie_threshold=0.4, position_bias=0.3, position_bias_sd=0.1, random_share=0.1,
                       fatigue=0.005)
    sim = RaterSimulator(truth, model=model, rng=rng)
    conds = truth.conditions()
    a, b = _all_pairs(conds, 60)
    raters = [f"r{k % 30}" for k in range(len(a))]
    trials = [k // 30 for k in range(len(a))]
    df = sim.judge_pairs(raters, trials, a, b)
    fit = fit_pairwise(df, model="davidson")
    est = dict(zip(fit.conditions, fit.scores))
    assert list(np.argsort([est[c] for c in conds])) == list(range(6))
    assert kendalltau([est[c] for c in conds], list(methods.values())).statistic == pytest.approx(1.0)


def test_tie_share_matches_threshold():
    rng = np.random.default_rng(2)
    q = {f"m{k}": v for k, v in enumerate(rng.normal(0, 1, 8))}
    truth = truth_from_scores(q)
    conds = truth.conditions()
    a, b = _all_pairs(conds, 150)
    delta = np.array([q[x.split("::")[1]] - q[y.split("::")[1]] for x, y in zip(a, b)])
    tau = calibrate_tie_threshold(delta, 0.2)
    assert tie_probability(delta, threshold=tau).mean() == pytest.approx(0.2, abs=1e-9)
    sim = RaterSimulator(truth, model=RaterModel(tie_threshold=tau, noise_spread=0.0), rng=rng)
    df = sim.judge_pairs([f"r{k % 50}" for k in range(len(a))], np.zeros(len(a)), a, b)
    share = (df["outcome"] == "tie").mean()
    # binomial sd of the share is about sqrt(0.2 * 0.8 / 4200) = 0.006
    assert share == pytest.approx(0.2, abs=0.025)


def test_position_bias_and_fatigue():
    rng = np.random.default_rng(3)
    truth = truth_from_scores({"x": 0.0, "y": 0.0})
    n = 6000
    sim = RaterSimulator(truth, model=RaterModel(position_bias=0.5, noise_spread=0.0), rng=rng)
    df = sim.judge_pairs(["r"] * n, np.zeros(n), ["image::x"] * n, ["image::y"] * n)
    # P(A) = Phi(0.5) = 0.691 with unit noise
    assert (df["outcome"] == "a").mean() == pytest.approx(0.691, abs=0.02)
    truth = truth_from_scores({"x": 1.0, "y": 0.0})
    sim = RaterSimulator(truth, model=RaterModel(fatigue=0.1, noise_spread=0.0), rng=rng)
    early = sim.judge_pairs(["r"] * n, np.zeros(n), ["image::x"] * n, ["image::y"] * n)
    late = sim.judge_pairs(["r"] * n, np.full(n, 30), ["image::x"] * n, ["image::y"] * n)
    # Phi(1) = 0.84 fresh; Phi(1 / 4) = 0.60 after 30 trials with 10 % more noise per trial
    assert (early["outcome"] == "a").mean() == pytest.approx(0.841, abs=0.02)
    assert (late["outcome"] == "a").mean() == pytest.approx(0.599, abs=0.02)


def test_random_clickers_fail_gold_and_careful_raters_pass():
    rng = np.random.default_rng(4)
    truth = truth_from_scores({"x": 0.0, "y": 0.3})
    sim = RaterSimulator(truth, model=RaterModel(random_share=0.5, tie_threshold=0.2), rng=rng)
    regular = [("image::x", "image::y")] * 40
    gold = [GoldPair("image::gt", "image::blurred")]
    rows = []
    for r in range(40):
        trials = insert_quality_trials(regular, rng=rng, gold=gold, gold_fraction=0.2)
        rows.append(sim.judge_trials(f"r{r}", trials))
    df = pd.concat(rows)
    g = df[df["is_gold"]]
    expected_a = g["condition_a"].str.endswith("gt")
    correct = ((g["outcome"] == "a") & expected_a) | ((g["outcome"] == "b") & ~expected_a)
    by_rater = correct.groupby(g["rater"]).mean()
    clickers = {r for r, x in sim.raters.items() if x.random}
    assert by_rater[[r for r in by_rater.index if r not in clickers]].min() == 1.0
    assert by_rater[[r for r in by_rater.index if r in clickers]].mean() < 0.6
    fast = df.groupby("rater")["elapsed_ms"].median()
    assert fast[list(clickers)].mean() < fast.drop(list(clickers)).mean()


def test_rating_means_follow_truth():
    rng = np.random.default_rng(5)
    q = {"a": -1.0, "b": 0.0, "c": 1.5}
    sim = RaterSimulator(truth_from_scores(q), rng=rng)
    conds = ["image::a", "image::b", "image::c"] * 400
    df = sim.rate([f"r{k % 40}" for k in range(len(conds))], np.zeros(len(conds)), conds, scale="continuous100")
    means = df.groupby("method")["value"].mean()
    assert means["a"] < means["b"] < means["c"]
    # linear map over [min q - 2, max q + 2] = [-3, 3.5]: b at 100 * 3 / 6.5 = 46.2 on average
    assert means["b"] == pytest.approx(100 * 3 / 6.5, abs=2.0)


def test_same_rng_same_judgments():
    def go():
        rng = np.random.default_rng(9)
        t = make_truth(images=["i"], methods=["p", "q", "r"], rng=rng)
        sim = RaterSimulator(t, model=RaterModel(tie_threshold=0.3, random_share=0.3), rng=rng)
        return sim.judge_pairs(["u"] * 3, [0, 1, 2], ["i::p", "i::q", "i::p"], ["i::q", "i::r", "i::r"])
    pd.testing.assert_frame_equal(go(), go())


def test_scenario_effects_structure():
    rng = np.random.default_rng(6)
    images = ["p1", "p2", "c1", "c2"]
    scen = {"p1": "street view", "p2": "street view", "c1": "cartoon/comic", "c2": "cartoon/comic"}
    truth = make_truth(images=images, methods=["hat", "supir", "bicubic"], rng=rng, scenarios=scen,
                       method_sd=0.0, image_sd=0.0, residual_sd=0.0, scenario_sd=1.0)
    q = truth.quality[:, :, 0]
    # only the scenario-by-method term is left: images of one scenario agree, scenarios differ
    np.testing.assert_allclose(q[0], q[1])
    np.testing.assert_allclose(q[2], q[3])
    assert not np.allclose(q[0], q[2])
    assert truth.method_quality(scenario="cartoon/comic") == dict(zip(truth.methods, q[2].tolist()))
    fixed = make_truth(images=["i"], methods=["a", "b"], rng=rng, method_quality={"a": 2.0, "b": -1.0},
                       image_sd=0.0, residual_sd=0.0)
    assert fixed.method_quality() == {"a": 2.0, "b": -1.0}


def test_gold_outcome_column_drives_gold_accuracy(tmp_path):
    # control trials carry their expected side in `gold_outcome` ("a"/"b"), regular trials none;
    # careful raters answer gold trials (gold_gap = 4 noise sds) as expected whichever side the
    # known-better stimulus is shown on, so gold_accuracy must read gold_outcome, not assume "a"
    from eyetest.core.judgments.quality import gold_accuracy

    rng = np.random.default_rng(11)
    sim = RaterSimulator(truth_from_scores({"x": 0.0, "y": 0.5}), model=RaterModel(noise_spread=0.0), rng=rng)
    a = ["image::x", "image::gt", "image::blur", "image::y"]
    b = ["image::y", "image::blur", "image::gt", "image::x"]
    df = pd.concat([sim.judge_pairs([f"r{r}"] * 4, [0, 1, 2, 3], a, b, expected=[None, "a", "b", None])
                    for r in range(30)], ignore_index=True)
    assert df["gold_outcome"].tolist()[:4] == [None, "a", "b", None]
    assert (df["gold_outcome"].notna() == df["is_gold"]).all()
    # P(a careful rater misses a 4-sd gold pair) = Phi(-4) = 3e-5 per trial
    assert (gold_accuracy(df)["gold_accuracy"] == 1.0).all()
    # an empty field after a CSV round trip is read back as missing and validated
    path = tmp_path / "j.csv"
    df.to_csv(path, index=False)
    back = pd.read_csv(path)
    assert back["gold_outcome"].isna().tolist() == (~df["is_gold"]).tolist()
    assert (gold_accuracy(back)["gold_accuracy"] == 1.0).all()


@pytest.mark.parametrize("trials,share", [(60, 0.1), (9, 0.5), (1, 0.3)])
def test_quit_quota_is_uniform_over_the_trials_before_the_last(trials, share):
    rng = np.random.default_rng(11)
    q = np.array([quit_quota(rng, trials=trials, quit_share=share) for _ in range(40_000)])
    assert q.min() >= 0 and q.max() <= trials
    # a share `share` of raters stop early, uniformly at 0 .. trials - 1
    early = q[q < trials] if trials > 1 else q[q == 0]
    assert abs(len(early) / len(q) - share) < 0.01
    if trials > 1:
        assert np.bincount(early, minlength=trials).min() > 0.8 * len(early) / trials
    assert abs(q.mean() - expected_trials(trials, share)) < 0.02 * trials + 0.02
    state = rng.bit_generator.state
    assert quit_quota(rng, trials=trials, quit_share=0.0) == trials
    assert rng.bit_generator.state == state                 # no draw: default studies are unchanged
    with pytest.raises(SpecError, match="quit_share"):
        quit_quota(rng, trials=trials, quit_share=1.0)


def test_simulated_studies_use_up_raters_by_the_mean_session_length():
    from eyetest.core.design.evaluate import simulate_study
    from eyetest.core.design.rating_plan import simulate_rating_study

    # 12 methods: 66 pairs, more than a session of 40, so no rater runs out of new pairs
    truth = make_truth(images=["i0"], methods=[f"m{k}" for k in range(12)], rng=np.random.default_rng(2))
    model = RaterModel(quit_share=0.5)
    trace = simulate_study("random", truth, tie_share=0.2, rng=np.random.default_rng(3), seed=3, budget=6000,
                           checkpoints=[6000], rater_model=model, concurrent=5, trials_per_rater=40)
    # raters started = those who finished or left (6000 / mean session) plus the 5 still at work, about
    assert abs(trace.raters[-1] - (6000 / expected_trials(40, 0.5) + 5)) < 0.05 * trace.raters[-1]
    full = simulate_study("random", truth, tie_share=0.2, rng=np.random.default_rng(3), seed=3, budget=6000,
                          checkpoints=[6000], concurrent=5, trials_per_rater=40)
    assert full.raters[-1] <= 6000 / 40 + 5
    rating = simulate_rating_study(truth, scale="acr5", rng=np.random.default_rng(4), seed=4, budget=4000,
                                   checkpoints=[4000], per_rater=8, rater_model=model)
    assert abs(rating.raters[-1] - 4000 / expected_trials(8, 0.5)) < 0.04 * rating.raters[-1]
