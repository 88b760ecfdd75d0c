import numpy as np
import pandas as pd
import pytest

from eyetest.core.judgments import quality
from eyetest.core.judgments.outliers import outlier_observers
from eyetest.core.judgments.screening import screen_raters

from ._sim import simulate


def _row(rater, a, b, outcome, **kw):
    return {"rater": rater, "condition_a": a, "condition_b": b, "outcome": outcome, **kw}


def test_gold_accuracy_uses_gold_outcome_or_a():
    df = pd.DataFrame([
        _row("r1", "gt", "blur", "a", is_gold=True), _row("r1", "blur", "gt", "b", is_gold=True, gold_outcome="b"),
        _row("r2", "gt", "blur", "b", is_gold=True), _row("r2", "x", "y", "a", is_gold=False),
    ])
    out = quality.gold_accuracy(df).set_index("rater")
    assert out.loc["r1", "gold_accuracy"] == 1.0 and out.loc["r2", "gold_accuracy"] == 0.0
    assert out.loc["r2", "n_gold"] == 1


def test_repeat_consistency_closed_form():
    # r1 judged (x, y) three times: x, x (swapped sides), y -> 2 agreeing ordered pairs of 6
    df = pd.DataFrame([_row("r1", "x", "y", "a"), _row("r1", "y", "x", "b"), _row("r1", "x", "y", "b"),
                       _row("r2", "x", "y", "a")])
    out = quality.repeat_consistency(df).set_index("rater")
    assert out.loc["r1", "consistency"] == pytest.approx(2 / 6)
    assert out.loc["r1", "n_repeated_pairs"] == 1 and np.isnan(out.loc["r2", "consistency"])


def test_circular_triads_counted_against_brute_force():
    rng = np.random.default_rng(0)
    conds = [f"c{k}" for k in range(6)]
    rows = []
    for a in range(6):
        for b in range(a + 1, 6):
            rows.append(_row("r", conds[a], conds[b], rng.choice(["a", "b"])))
    df = pd.DataFrame(rows)
    beats = {(r["condition_a"], r["condition_b"]) if r["outcome"] == "a" else (r["condition_b"], r["condition_a"])
             for r in rows}
    from itertools import combinations, permutations
    brute = sum(any(all(p in beats for p in [(x, y), (y, z), (z, x)]) for x, y, z in permutations(t))
                for t in combinations(conds, 3))
    out = quality.transitivity(df).iloc[0]
    assert out["n_triads"] == 20 and out["circular_triads"] == brute
    # Kendall's closed form for complete tournaments: c = n(n-1)(2n-1)/12 - sum(a_i^2)/2
    wins = pd.Series([w for w, _ in beats]).value_counts().reindex(conds, fill_value=0)
    assert brute == 6 * 5 * 11 / 12 - (wins**2).sum() / 2


def test_too_fast_straight_lining_and_sprt():
    n = 40
    # sides are randomised: gt is shown as A in even trials, as B in odd ones
    good = [_row("good", *(("gt", f"d{k}") if k % 2 == 0 else (f"d{k}", "gt")), "a" if k % 2 == 0 else "b",
                 is_gold=True, gold_outcome="a" if k % 2 == 0 else "b", elapsed_ms=3000) for k in range(n)]
    rng = np.random.default_rng(1)
    clicker = [_row("click", "gt", f"d{k}", rng.choice(["a", "b"]), is_gold=True, elapsed_ms=300) for k in range(n)]
    liner = [_row("liner", f"d{k}", "gt", "a", is_gold=True, gold_outcome="b", elapsed_ms=2000) for k in range(n)]
    df = pd.DataFrame(good + clicker + liner)
    fast = quality.too_fast(df, min_ms=1000).set_index("rater")
    assert fast.loc["click", "too_fast_rate"] == 1.0 and fast.loc["good", "too_fast_rate"] == 0.0
    sl = quality.straight_lining(df).set_index("rater")
    assert sl.loc["liner", "modal_rate"] == 1.0 and sl.loc["liner", "side_bias_p"] < 1e-6
    sprt = quality.sprt_random_clicker(df).set_index("rater")
    assert sprt.loc["good", "sprt_decision"] == "ok"
    assert sprt.loc["click", "sprt_decision"] == "random"
    assert sprt.loc["liner", "sprt_decision"] == "random"  # always picks the distorted one
    screen = screen_raters(df)
    assert set(screen.excluded) == {"click", "liner"}
    assert "SPRT" in screen.reasons()["click"] and "faster" in screen.reasons()["click"]
    assert "straight-lining" in screen.reasons()["liner"]


def test_bt500_screening_flags_an_erratic_observer():
    # r0 lands ~22 points (about 2.7 sd of the others) above or below the others, at random:
    # many ratings beyond mean +- 2 sd in both directions -> rejected by the BT.500 rule.
    rng = np.random.default_rng(0)
    rows = []
    for r in range(20):
        for c, v0 in enumerate(np.linspace(20, 80, 24)):
            v = v0 + rng.choice([-1, 1]) * 22 + rng.normal(0, 3) if r == 0 else v0 + rng.normal(0, 8)
            rows.append({"rater": f"r{r}", "condition": f"c{c}", "value": float(np.clip(v, 0, 100)), "scale": "continuous100"})
    out = quality.bt500_screening(pd.DataFrame(rows)).set_index("rater")
    assert out.loc["r0", "bt500_reject"] and not out.drop("r0")["bt500_reject"].any()
    pq = out["bt500_P"] + out["bt500_Q"]
    assert pq.idxmax() == "r0"
    screen = screen_raters(ratings=pd.DataFrame(rows))
    assert screen.excluded == ["r0"] and "BT.500" in screen.reasons()["r0"]


def _bt500_by_hand(rows):
    """Rec. ITU-R BT.500-14 Annex 1 sec. 2.3.1 written out with loops: per presentation (dimension, condition)
    mean, S (N - 1), beta2 = m4 / m2^2 with m_x = sum (u - mean)^x / N; P_i / Q_i count ratings at or beyond
    mean +- 2 S (normal, 2 <= beta2 <= 4) or +- sqrt(20) S; reject when (P+Q)/N_i > 0.05 and |P-Q|/(P+Q) < 0.3."""
    import math

    groups = {}
    for r in rows:
        groups.setdefault((r["dimension"], r["condition"]), []).append(r)
    p, q, n = {}, {}, {}
    for r in rows:
        p.setdefault(r["rater"], 0)
        q.setdefault(r["rater"], 0)
        n[r["rater"]] = n.get(r["rater"], 0) + 1
    for members in groups.values():
        u = [m["value"] for m in members]
        big_n = len(u)
        mean = sum(u) / big_n
        s = math.sqrt(sum((x - mean) ** 2 for x in u) / (big_n - 1)) if big_n > 1 else 0.0
        m2 = sum((x - mean) ** 2 for x in u) / big_n
        m4 = sum((x - mean) ** 4 for x in u) / big_n
        k = 2.0 if m2 > 0 and 2 <= m4 / m2 ** 2 <= 4 else math.sqrt(20)
        for m in members:
            if s > 0 and m["value"] >= mean + k * s:
                p[m["rater"]] += 1
            if s > 0 and m["value"] <= mean - k * s:
                q[m["rater"]] += 1
    return {i: (p[i], q[i], p[i] + q[i] > 0 and (p[i] + q[i]) / n[i] > 0.05 and abs(p[i] - q[i]) / (p[i] + q[i]) < 0.3)
            for i in n}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bt500_screening_equals_the_standard_written_out(seed):
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(15):
        wild = r == 0                             # one erratic observer: +-2 categories at random
        for dim, shift in (("overall", 0.0), ("sharpness", -1.0)):
            for c in range(10):
                if rng.random() < 0.2:            # incomplete design: some presentations not rated
                    continue
                q = 2.0 + 0.2 * c + shift + (rng.choice([-2.0, 2.0]) if wild else 0.0) + rng.normal(0, 0.5)
                rows.append({"rater": f"r{r:02d}", "condition": f"c{c}", "dimension": dim, "scale": "acr5",
                             "value": float(np.clip(np.round(q), 1, 5))})
    out = quality.bt500_screening(pd.DataFrame(rows)).set_index("rater")
    ref = _bt500_by_hand(rows)
    got = {i: (int(row["bt500_P"]), int(row["bt500_Q"]), bool(row["bt500_reject"])) for i, row in out.iterrows()}
    assert got == ref
    assert sum(p + q for p, q, _ in ref.values()) > 0          # the comparison is not all zeros
    if seed == 0:
        assert [i for i, v in ref.items() if v[2]] == ["r00"]


def test_bt500_screening_takes_each_dimension_on_its_own():
    """Two questions with different means: pooled, every condition looks bimodal (beta2 < 2, so the
    sqrt(20) sd limits apply) and the erratic observer of the first test above goes unnoticed."""
    rng = np.random.default_rng(0)
    rows = []
    for r in range(20):
        for dim, shift in (("overall", 0.0), ("sharpness", -35.0)):
            for c, v0 in enumerate(np.linspace(50, 75, 12)):
                v = v0 + shift + (rng.choice([-1, 1]) * 22 + rng.normal(0, 3) if r == 0 else rng.normal(0, 8))
                rows.append({"rater": f"r{r}", "condition": f"c{c}", "dimension": dim, "value": float(np.clip(v, 0, 100)),
                             "scale": "continuous100"})
    df = pd.DataFrame(rows)
    out = quality.bt500_screening(df).set_index("rater")
    assert out.loc["r0", "bt500_reject"] and not out.drop("r0")["bt500_reject"].any()
    assert screen_raters(ratings=df).excluded == ["r0"]
    # repeats are not presentations of their own: a repeat row leaves the statistics unchanged
    again = pd.concat([df.assign(is_repeat=False), df.iloc[:5].assign(value=0.0, is_repeat=True)], ignore_index=True)
    pd.testing.assert_frame_equal(quality.bt500_screening(again), quality.bt500_screening(df))


def test_loo_outlier_finds_a_reversed_observer():
    rng = np.random.default_rng(3)
    truth = np.linspace(-1.5, 1.5, 6)
    df = simulate(truth, model="thurstone", n=3000, rng=rng, raters=12)
    bad = simulate(-truth, model="thurstone", n=250, rng=rng, raters=1).assign(rater="reverser")
    out = outlier_observers(pd.concat([df, bad], ignore_index=True)).set_index("rater")
    assert out["outlier"].sum() == 1 and out.loc["reverser", "outlier"]
    assert out.loc["reverser", "dist_L"] == out["dist_L"].max()


def test_screening_finds_exactly_the_random_clickers_in_a_tie_heavy_study():
    rng = np.random.default_rng(7)
    truth = np.array([0.0, 0.3, 0.6, -0.4, 1.0])
    clickers = {"r03", "r08", "r12"}
    rows = []
    for r in range(16):
        name = f"r{r:02d}"
        df = simulate(truth, model="davidson", tie=1.5, n=120, rng=rng, raters=1).assign(rater=name)
        df["elapsed_ms"] = rng.lognormal(np.log(2500), 0.3, len(df))
        gold = np.arange(len(df)) % 10 == 0
        side = rng.random(len(df)) < 0.5
        df.loc[gold, "condition_a"] = np.where(side[gold], "gt", "blurred")
        df.loc[gold, "condition_b"] = np.where(side[gold], "blurred", "gt")
        df["is_gold"] = gold
        df["gold_outcome"] = np.where(gold, np.where(side, "a", "b"), None)
        df.loc[gold, "outcome"] = df.loc[gold, "gold_outcome"]
        if name in clickers:
            df["outcome"] = rng.choice(["a", "b", "tie"], len(df))
            df["elapsed_ms"] = rng.lognormal(np.log(700), 0.3, len(df))
        rows.append(df)
    screen = screen_raters(pd.concat(rows, ignore_index=True))
    assert set(screen.excluded) == clickers
    for reason in screen.reasons().values():
        assert "gold accuracy" in reason and "faster than" in reason


def _round_robin(rng, raters, scores, *, clickers=(), fixed_sides=False, reps=1):
    rows = []
    k = len(scores)
    for name in raters:
        for _ in range(reps):
            for i in range(k):
                for j in range(i + 1, k):
                    a, b = (i, j) if fixed_sides or rng.random() < 0.5 else (j, i)
                    p = 0.5 if name in clickers else 1 / (1 + np.exp(scores[b] - scores[a]))
                    rows.append(_row(name, f"c{a}", f"c{b}", "a" if rng.random() < p else "b"))
    return pd.DataFrame(rows)


def test_straight_lining_does_not_flag_accurate_raters_when_the_better_one_is_always_a():
    # the reference is always shown as A (sides not randomised) and honest raters prefer it 93 % of the time
    rng = np.random.default_rng(0)
    rows = [_row(f"r{r}", "ref", m, "a" if rng.random() < 0.93 else "b")
            for r in range(10) for _ in range(5) for m in ("m1", "m2", "m3", "m4")]
    rows += [_row("liner", "ref", m, "b") for _ in range(5) for m in ("m1", "m2", "m3", "m4")]
    df = pd.DataFrame(rows)
    sl = quality.straight_lining(df).set_index("rater")
    assert (sl.drop("liner")["modal_expected"] == 1.0).all()
    assert sl.loc["liner", "modal_answer"] == "b" and sl.loc["liner", "modal_expected"] == 0.0
    screen = screen_raters(df)
    assert screen.excluded == ["liner"]  # always the worse side: still straight-lining
    assert (sl.drop("liner")["modal_rate"] >= 0.9).sum() >= 4  # the old side-only rule flagged these


def test_circular_triad_p_value_matches_exact_enumeration():
    from itertools import combinations, product

    from eyetest.core.judgments.bradley_terry import fit_pairwise

    rng = np.random.default_rng(4)
    truth = np.array([0.6, 0.2, -0.2, -0.6])
    df = _round_robin(rng, [f"h{r}" for r in range(30)], truth)
    # rater t: c0 > c1 > c2 > c0 (one circular triad), c3 loses to everyone
    target = [("c0", "c1", "a"), ("c1", "c2", "a"), ("c2", "c0", "a"), ("c0", "c3", "a"), ("c1", "c3", "a"),
              ("c2", "c3", "a")]
    df = pd.concat([df, pd.DataFrame([_row("t", a, b, o) for a, b, o in target])], ignore_index=True)
    s = dict(zip(*(lambda f: (f.conditions, f.scores))(fit_pairwise(df))))
    pairs = list(combinations(["c0", "c1", "c2", "c3"], 2))
    prob = {}
    for outcome in product([True, False], repeat=len(pairs)):  # True: first of the pair wins
        beats = {(x, y) if w else (y, x) for (x, y), w in zip(pairs, outcome)}
        pr = np.prod([1 / (1 + np.exp(s[y] - s[x])) for x, y in beats])
        c = sum(any({(x, y), (y, z), (z, x)} <= beats for x, y, z in ((u, v, w), (u, w, v)))
                for u, v, w in combinations(["c0", "c1", "c2", "c3"], 3))
        prob[c] = prob.get(c, 0.0) + pr
    exact_p = sum(v for c, v in prob.items() if c >= 1)
    exact_mean = sum(c * v for c, v in prob.items())
    out = quality.transitivity(df, n_sim=20000).set_index("rater").loc["t"]
    assert out["circular_triads"] == 1 and out["n_triads"] == 4
    assert out["circular_p"] == pytest.approx(exact_p, abs=0.01)
    assert out["circular_expected"] == pytest.approx(exact_mean, abs=0.02)


def test_repeat_consistency_p_value_matches_the_exact_binomial_tail():
    from eyetest.core.judgments.bradley_terry import fit_pairwise

    rng = np.random.default_rng(5)
    truth = np.array([0.5, 0.0, -0.5])
    df = _round_robin(rng, [f"h{r}" for r in range(30)], truth)
    # rater t judged each of the 3 pairs twice and agreed with itself once
    rep = [("c0", "c1", "a"), ("c1", "c0", "a"), ("c0", "c2", "a"), ("c0", "c2", "a"), ("c1", "c2", "a"),
           ("c2", "c1", "b")]
    df = pd.concat([df, pd.DataFrame([_row("t", a, b, o) for a, b, o in rep])], ignore_index=True)
    out = quality.repeat_consistency(df, n_sim=20000).set_index("rater").loc["t"]
    fit = fit_pairwise(df)
    s = dict(zip(fit.conditions, fit.scores))
    agree = []
    for x, y in (("c0", "c1"), ("c0", "c2"), ("c1", "c2")):
        p = 1 / (1 + np.exp(s[y] - s[x]))
        agree.append(p**2 + (1 - p) ** 2)  # two judgments of the pair agree
    # P(at most 2 of the 3 pairs agree) for independent pairs
    p_all = np.prod(agree)
    assert out["consistency"] == pytest.approx(2 / 3)
    assert out["consistency_p"] == pytest.approx(1 - p_all, abs=0.01)
    assert out["consistency_expected"] == pytest.approx(np.mean(agree), abs=0.01)


def test_loo_fence_needs_eight_raters():
    rng = np.random.default_rng(6)
    truth = np.linspace(-1, 1, 5)
    few = _round_robin(rng, [f"h{r}" for r in range(5)], truth, reps=2)
    out = outlier_observers(few)
    assert out["dist_L"].isna().all() and not out["outlier"].any()
    enough = _round_robin(rng, [f"h{r}" for r in range(8)], truth, reps=2)
    assert outlier_observers(enough)["dist_L"].notna().all()


def test_triad_rule_false_positives_on_honest_raters_and_power_on_random_clickers():
    rng = np.random.default_rng(7)
    names = [f"h{r:02d}" for r in range(12)] + ["x0", "x1"]

    def flagged(spread, conditions):
        t = quality.transitivity(_round_robin(rng, names, np.linspace(spread, -spread, conditions),
                                              clickers={"x0", "x1"}))
        honest = t["rater"].str.startswith("h")
        return (int((t.loc[honest, "circular_p"] < 0.01).sum()), int((t.loc[~honest, "circular_p"] < 0.01).sum()),
                int(((t["n_triads"] >= 20) & (t["circular_rate"] > 0.25))[honest].sum()))

    # close conditions (6, 0.6 logit apart; 12 honest raters + 2 random clickers, 15 studies)
    close = np.array([flagged(1.5, 6) for _ in range(15)]).sum(axis=0)
    assert close[0] <= 2  # of 180 honest raters (alpha = 0.01)
    assert close[2] >= 8  # the old rule, "rate > 0.25 on >= 20 triads", flagged ~8 % of them
    # distinct conditions (8, 0.86 logit apart: neighbours preferred 70 %): random clickers stand out
    wide = np.array([flagged(3.0, 8) for _ in range(15)]).sum(axis=0)
    assert wide[0] <= 2 and wide[1] >= 15  # of 30 random clickers (18 with this seed)


def test_self_consistency_rule_flags_a_random_clicker_not_a_slightly_noisy_rater():
    rng = np.random.default_rng(8)
    truth = np.linspace(2, -2, 8)  # every pair judged 3 times by each rater
    df = _round_robin(rng, [f"h{r:02d}" for r in range(12)] + ["click"], truth, clickers={"click"}, reps=3)
    t = quality.repeat_consistency(df).set_index("rater")
    assert t.loc["click", "consistency_chance"] == 0.5  # no ties: a random clicker agrees half the time
    assert t.loc["click", "consistency_p"] < 0.01 and t.drop("click")["consistency_p"].min() > 0.01
    screen = screen_raters(df)
    assert "self-consistency" in screen.reasons().get("click", "")
    assert not any("self-consistency" in r for k, r in screen.reasons().items() if k != "click")


def test_rating_repeat_consistency_closed_form():
    # r1 rated x twice on overall (4, 2) and once on sharpness (x: 5, y: 1 twice)
    df = pd.DataFrame({"rater": ["r1"] * 6 + ["r2"] * 2,
                       "condition": ["x", "x", "y", "x", "y", "y", "x", "y"],
                       "dimension": ["overall"] * 3 + ["sharpness"] * 3 + ["overall"] * 2,
                       "value": [4, 2, 5, 5, 1, 1, 3, 3], "scale": "acr5",
                       "is_repeat": [False, True, False, False, False, True, False, False]})
    out = quality.rating_repeat_consistency(df).set_index("rater")
    assert out.loc["r1", "n_repeat_pairs"] == 2
    assert out.loc["r1", "repeat_mad"] == pytest.approx((2 + 0) / 2)
    # Gini mean differences: overall {4, 2, 5}: (2 + 1 + 3) / 3 = 2; sharpness {5, 1, 1}: (4 + 4 + 0) / 3 = 8/3
    assert out.loc["r1", "repeat_mad_chance"] == pytest.approx((2 + 8 / 3) / 2)
    assert out.loc["r2", "n_repeat_pairs"] == 0 and np.isnan(out.loc["r2", "repeat_mad"])
    # the screening works on the primary dimension ("overall"): r1's one repeat pair there, |4 - 2| = 2
    table = screen_raters(ratings=df).table.set_index("rater")
    assert table.loc["r1", "rating_repeat_mad"] == pytest.approx(2.0) and not table["excluded"].any()


def _gold_rows(rater, values, regions, scale="acr5", **kw):
    return [{"rater": rater, "condition": f"g{k}::__x", "value": v, "scale": scale, "is_gold": True,
             "gold_low": lo, "gold_high": hi, **kw} for k, (v, (lo, hi)) in enumerate(zip(values, regions))]


def test_rating_gold_accuracy_counts_ratings_inside_their_region():
    regions = [(4, 5), (1, 2), (4, 5), (1, 2), (1, 2)]
    rows = (_gold_rows("good", [5, 1, 4, 2, 2], regions) + _gold_rows("bad", [3, 3, 5, 1, 4], regions)
            + [{"rater": "good", "condition": "i::m", "value": 3, "scale": "acr5", "is_gold": False,
                "gold_low": np.nan, "gold_high": np.nan}]
            + _gold_rows("cont", [61, 39, 60, 41], [(60, 100), (0, 40), (60, 100), (0, 40)], scale="continuous100")
            + [{"rater": "none", "condition": "i::m", "value": 3, "scale": "acr5", "is_gold": False,
                "gold_low": np.nan, "gold_high": np.nan}]
            + _gold_rows("train", [1], [(4, 5)], is_training=True))
    df = pd.DataFrame(rows)
    df["is_training"] = df["is_training"].fillna(False).astype(bool)
    out = quality.rating_gold_accuracy(df).set_index("rater")
    assert out.loc["good", "n_gold"] == 5 and out.loc["good", "gold_accuracy"] == 1.0
    assert out.loc["bad", "gold_accuracy"] == pytest.approx(2 / 5)       # 5 in 4-5 and 1 in 1-2 only
    assert out.loc["cont", "gold_accuracy"] == pytest.approx(3 / 4)      # 41 is above 0-40
    # a uniform random answer: 2 of 5 categories; 40 of the 100 points of the continuous scale
    assert out.loc["good", "gold_chance"] == pytest.approx(0.4) and out.loc["cont", "gold_chance"] == pytest.approx(0.4)
    assert out.loc["none", "n_gold"] == 0 and np.isnan(out.loc["none", "gold_accuracy"])
    assert out.loc["train", "n_gold"] == 0                                # training trials are not tested
    assert quality.rating_gold_accuracy(df.drop(columns=["gold_low", "gold_high"]))["n_gold"].eq(0).all()
    with pytest.raises(Exception, match="gold_low"):
        quality.rating_gold_accuracy(df.assign(gold_low=df["gold_high"] + 1))


def test_rating_gold_rule_excludes_random_clickers_at_the_binomial_rate():
    """Excluded below 0.70 on >= 5 gold ratings: P(X <= 3), X ~ Bin(5, p); p = 0.4 for a uniform clicker."""
    from scipy.stats import binom

    rng = np.random.default_rng(4)
    regions = [(4, 5), (1, 2)] * 4 + [(1, 2)]          # 9 gold trials, but only the first 5 answered by some
    rows = []
    n_raters = 400
    for r in range(n_raters):
        clicker = r % 2 == 1
        values = rng.integers(1, 6, size=5) if clicker else [5, 1, 4, 1, 5]
        if not clicker and r % 4 == 0:
            values = [3, 1, 4, 1, 5]                       # one miss in five: 0.8, kept
        rows += _gold_rows(f"r{r}", values, regions[:5])
    rows += _gold_rows("few", [3, 3, 3, 3], regions[:4])   # 4 gold trials: too few to judge
    screen = screen_raters(ratings=pd.DataFrame(rows)).table.set_index("rater")
    flagged = screen["reasons"].str.contains("gold accuracy")
    clickers = [f"r{r}" for r in range(1, n_raters, 2)]
    assert not flagged.drop(clickers + ["few"]).any() and not flagged["few"]
    rate = flagged[clickers].mean()
    expected = binom.cdf(3, 5, 0.4)                     # 0.913
    assert abs(rate - expected) < 3 * np.sqrt(expected * (1 - expected) / len(clickers))
    reason = screen.loc[flagged[flagged].index[0], "reasons"]
    assert "gold ratings" in reason and "a random clicker gets 0.40" in reason


def test_rating_repeat_consistency_leaves_gold_trials_out():
    """Gold stimuli recur by design (a pool cycled through): two ratings of one are not a test-retest pair."""
    df = pd.DataFrame({"rater": ["r"] * 4, "condition": ["g::__degraded", "g::__degraded", "x", "y"],
                       "value": [1, 2, 3, 4], "scale": "acr5", "is_gold": [True, True, False, False]})
    assert quality.rating_repeat_consistency(df)["n_repeat_pairs"].tolist() == [0]
    assert quality.rating_repeat_consistency(df.assign(is_gold=False))["n_repeat_pairs"].tolist() == [1]


def _two_question_ratings(order):
    """6 raters x 12 ratings + 3 gold trials (degraded copy, expected 1-2), every trial answering two
    questions; r0 rates its first gold trial 4 (1 of 3 wrong)."""
    rng = np.random.default_rng(0)
    rows = []
    for r in range(6):
        trials = [(f"im{t % 4}::m{t % 3}", int(np.clip(2 + t % 3 + rng.integers(-1, 2), 1, 5)), False)
                  for t in range(12)]
        trials += [(f"im{g}::__degraded", 4 if (r == 0 and g == 0) else 1, True) for g in range(3)]
        for t, (cond, value, gold) in enumerate(trials):
            for dim in order:
                rows.append({"rater": f"r{r}", "condition": cond, "value": value, "scale": "acr5",
                             "dimension": dim, "trial": 100 * r + t, "is_gold": gold, "is_repeat": False,
                             "is_training": False, "gold_low": 1.0 if gold else np.nan,
                             "gold_high": 2.0 if gold else np.nan, "elapsed_ms": 2000})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("order", [("sharpness", "overall"), ("overall", "sharpness"), ("naturalness", "colour")])
def test_screening_of_several_questions_is_that_of_the_primary_one(order):
    """Each trial answers every question: pooled, r0's 3 gold trials were 6 "gold ratings" (>= 5, so the rule
    applied: 4/6 < 0.70, excluded).  The screening is that of the primary question ("overall", else the
    first), where r0 has 3 gold ratings and no rule applies."""
    table = _two_question_ratings(order)
    primary = "overall" if "overall" in order else order[0]
    screen = screen_raters(ratings=table)
    alone = screen_raters(ratings=table[table["dimension"] == primary])
    assert screen.dimension == primary and screen.excluded == [] == alone.excluded
    pd.testing.assert_frame_equal(screen.table, alone.table)
    assert screen.table.set_index("rater").loc["r0", "rating_n_gold"] == 3
    # pairwise alike: gold accuracy counted per trial, not per trial and question
    pairs = pd.DataFrame([{"rater": "r", "condition_a": "x::a", "condition_b": "x::b",
                           "outcome": "b" if t < 2 else "a", "dimension": d, "is_gold": True, "trial": t}
                          for t in range(6) for d in order])
    row = screen_raters(judgments=pairs).table.iloc[0]
    assert row["n_gold"] == 6 and row["gold_accuracy"] == pytest.approx(4 / 6)
