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
