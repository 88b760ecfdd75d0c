"""Per-rater quality statistics (each function returns one row per rater).

* :func:`gold_accuracy` - share of gold trials answered as expected.  The
  expected answer is ``gold_outcome`` when the column exists, otherwise the
  convention is that the known-better stimulus is ``condition_a`` (``"a"``).
* :func:`repeat_consistency` - self-agreement on pairs a rater judged more
  than once (repeat trials, either side order): for a pair judged m times
  with c_k judgments in each of the three answers (first preferred, second
  preferred, tie), agreement = sum_k c_k (c_k - 1) / (m (m - 1)), averaged
  over the rater's repeated pairs weighted by m (m - 1); tested, like the
  circular triads below, against the agreement an honest rater following
  the consensus scale would show on the same pairs (Monte Carlo).
* :func:`transitivity` - circular triads (Kendall & Babington Smith 1940,
  Biometrika 31:324-345): with A[x, y] = 1 when the rater preferred x over y
  (majority over repeats; ties and even splits give no edge) the number of
  circular triads is trace(A^3) / 3 of the trace(U^3) / 6 triads with three
  strict preferences (U the symmetrised edge set).  A random rater makes
  about 1/4 of complete triads circular, but so can an honest one when the
  conditions are close, so the count is tested against the consensus: with
  ``p_xy = 1 / (1 + exp(s_y - s_x))`` from the Bradley-Terry scale of all
  raters (per dimension) the rater's own strict judgments are redrawn (same
  pairs, same counts) and their circular triads counted;
  ``circular_expected`` is the mean of these counts and ``circular_p`` the
  one-sided Monte Carlo p-value of the observed count (Davison & Hinkley
  1997, "Bootstrap Methods and their Application", sec. 4.2).  Redrawing
  whole tournaments keeps the dependence between triads that share a pair,
  which a sum of independent triads (Poisson-binomial) ignores: on honest
  simulated raters the observed variance is about 1.7x that sum's, and a
  Poisson-binomial test flagged 1.5-2.4 % of them at alpha 0.01, the redraw
  test 0.2-0.4 %.
* :func:`too_fast` - share of trials faster than ``min_ms``.
* :func:`straight_lining` - share of the most common answer and, for
  pairwise data, a two-sided exact binomial test of position bias
  (A chosen as often as B; sides are randomised in a proper design), and
  ``modal_expected``: the share of the rater's trials in which the better
  stimulus was on the modal side (better = the gold answer, else the
  majority of the *other* raters for that pair; unknown counts 1/2).  A
  rater who follows the stimuli answers the modal side about that often, so
  a high modal rate is evidence of straight-lining only when
  ``modal_expected`` is well below it (e.g. sides randomised: about 0.5;
  the reference always shown as A: 1.0, and answering "a" is then accurate).
* :func:`sprt_random_clicker` - Wald's sequential probability ratio test
  (Wald 1945, Ann. Math. Statist. 16:117-186) of H0 "accuracy p_good" against
  H1 "random clicking, accuracy p_random" over the rater's gold trials in
  order (with ``use_repeats=True`` and no gold trials, the agreement of each
  repeat with the rater's earlier answer to that pair; off by default because
  honest raters agree with themselves only ~60 % on near-threshold pairs, as
  the light-field data show): log-LR per trial
  ``x log(p1/p0) + (1 - x) log((1 - p1)/(1 - p0))``; "random" when the sum
  reaches ``log((1 - beta)/alpha)``, "ok" when it falls to
  ``log(beta/(1 - alpha))``, else "undecided".
* :func:`rating_gold_accuracy` - share of a rater's gold and attention
  ratings inside their known region ``gold_low <= value <= gold_high``
  (e.g. the reference in the top two ACR categories, 4-5; a heavily
  degraded copy in the bottom two, 1-2; an attention check's instructed
  category, e.g. 2-2), beside
  ``gold_chance``, the share a rater answering uniformly at random would
  get on the same trials (the region's share of the scale's categories, or
  of its length for the continuous scale).
* :func:`rating_repeat_consistency` - test-retest agreement of ratings: mean
  absolute difference between a rating and its repeat, beside the same mean
  over all pairs of the rater's ratings (what answers unrelated to the
  stimulus would give).
* :func:`bt500_screening` - the ITU-R BT.500 observer screening for ratings
  (Rec. ITU-R BT.500-14 (10/2019), Annex 1, screening of observers): per
  presentation (condition and dimension) the mean, the sd (N - 1) and the
  kurtosis ``beta2 = m4 / m2^2`` with ``m_x = sum (u - mean)^x / N``; a
  rating counts as high (P) when it is >= mean + 2 sd (or + sqrt(20) sd
  when beta2 is outside [2, 4]), low (Q) symmetrically; reject an observer
  when (P + Q) / N_i > 0.05 and |P - Q| / (P + Q) < 0.3, N_i the
  observer's number of ratings.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
from scipy.stats import binomtest

from eyetest.core.judgments.bradley_terry import fit_pairwise
from eyetest.core.judgments.model import validate_pairwise, validate_ratings
from eyetest.errors import JudgmentDataError


def _oriented(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``lo, hi, pref`` (+1: lo preferred, -1: hi preferred, 0: tie) and ``dim``."""
    out = df.copy()
    swap = out["condition_a"] > out["condition_b"]
    out["lo"] = np.where(swap, out["condition_b"], out["condition_a"])
    out["hi"] = np.where(swap, out["condition_a"], out["condition_b"])
    sign = np.where(out["outcome"] == "tie", 0, np.where(out["outcome"] == "a", 1, -1))
    out["pref"] = np.where(swap, -sign, sign)
    out["dim"] = out["dimension"].astype(str) if "dimension" in out.columns else ""
    return out


def _order(df: pd.DataFrame) -> pd.DataFrame:
    for col in ("timestamp", "trial"):
        if col in df.columns:
            return df.sort_values(col, kind="stable")
    return df


def gold_accuracy(judgments: pd.DataFrame) -> pd.DataFrame:
    """``rater, n_gold, gold_accuracy`` (module docstring)."""
    df = validate_pairwise(judgments)
    raters = sorted(df["rater"].unique())
    if "is_gold" not in df.columns:
        return pd.DataFrame({"rater": raters, "n_gold": 0, "gold_accuracy": np.nan})
    gold = df[df["is_gold"]]
    expected = gold["gold_outcome"].fillna("a") if "gold_outcome" in gold.columns else "a"
    correct = (gold["outcome"] == expected).groupby(gold["rater"]).agg(["size", "mean"])
    out = pd.DataFrame({"rater": raters})
    out["n_gold"] = out["rater"].map(correct["size"]).fillna(0).astype(int)
    out["gold_accuracy"] = out["rater"].map(correct["mean"])
    return out


def repeat_consistency(judgments: pd.DataFrame, *, n_sim: int = 1000,
                       rng: np.random.Generator | None = None) -> pd.DataFrame:
    """``rater, n_repeated_pairs, consistency, consistency_chance, consistency_expected, consistency_p``.

    ``consistency`` as in the module docstring; ``consistency_chance`` is the
    agreement of a random clicker, ``t^2 + (1 - t)^2 / 2`` for a rater who
    answers "tie" in a share t of trials.
    ``consistency_expected`` and ``consistency_p`` test it against the
    consensus, as :func:`transitivity` does: the rater's strict judgments of
    the repeated pairs are redrawn ``n_sim`` times from the Bradley-Terry
    probabilities of all raters (ties kept), ``consistency_expected`` is the
    mean simulated agreement and ``consistency_p = (1 + #{sim <= observed})
    / (n_sim + 1)`` (one-sided: less self-agreement than an honest rater
    would show on the same pairs).  ``rng`` defaults to ``default_rng(0)``.
    """
    df = _oriented(validate_pairwise(judgments))
    counts = df.groupby(["rater", "dim", "lo", "hi", "pref"]).size().rename("c").reset_index()
    counts["cc"] = counts["c"] * (counts["c"] - 1)
    per_pair = counts.groupby(["rater", "dim", "lo", "hi"]).agg(m=("c", "sum"), agree=("cc", "sum")).reset_index()
    per_pair = per_pair[per_pair["m"] >= 2]
    per_pair["mm"] = per_pair["m"] * (per_pair["m"] - 1)
    agg = per_pair.groupby("rater").agg(n_repeated_pairs=("m", "size"), agree=("agree", "sum"), mm=("mm", "sum"))
    out = pd.DataFrame({"rater": sorted(df["rater"].unique())})
    out["n_repeated_pairs"] = out["rater"].map(agg["n_repeated_pairs"]).fillna(0).astype(int)
    out["consistency"] = out["rater"].map(agg["agree"] / agg["mm"])
    # a random clicker (answers independent of the stimuli, at the rater's tie rate t) agrees with
    # itself with probability t^2 + (1 - t)^2 / 2
    tie_rate = (df["pref"] == 0).groupby(df["rater"]).mean()
    out["consistency_chance"] = out["rater"].map(tie_rate**2 + (1 - tie_rate) ** 2 / 2)
    rng = np.random.default_rng(0) if rng is None else rng
    consensus = _consensus_scores(df)
    ties = counts[counts["pref"] == 0].set_index(["rater", "dim", "lo", "hi"])["c"]
    expected, pvalue = {}, {}
    for rater, g in per_pair.groupby("rater", sort=True):
        s_lo = np.array([consensus.get(d, {}).get(c, np.nan) for d, c in zip(g["dim"], g["lo"])])
        s_hi = np.array([consensus.get(d, {}).get(c, np.nan) for d, c in zip(g["dim"], g["hi"])])
        if not (np.isfinite(s_lo).all() and np.isfinite(s_hi).all()):
            continue
        t = ties.reindex(list(zip(g["rater"], g["dim"], g["lo"], g["hi"]))).fillna(0).to_numpy()
        strict = g["m"].to_numpy() - t
        lo_wins = rng.binomial(strict[None, :].astype(int), 1.0 / (1.0 + np.exp(s_hi - s_lo))[None, :],
                               size=(n_sim, len(g)))
        hi_wins = strict[None, :] - lo_wins
        sim = (lo_wins * (lo_wins - 1) + hi_wins * (hi_wins - 1) + t * (t - 1)).sum(axis=1) / g["mm"].sum()
        observed = g["agree"].sum() / g["mm"].sum()
        expected[rater] = float(sim.mean())
        pvalue[rater] = float((1 + (sim <= observed + 1e-12).sum()) / (n_sim + 1))
    out["consistency_expected"] = out["rater"].map(expected)
    out["consistency_p"] = out["rater"].map(pvalue)
    return out


def _consensus_scores(df: pd.DataFrame) -> dict:
    """Bradley-Terry score of every condition per dimension, from all raters' judgments."""
    out = {}
    for dim, gd in df.groupby("dim"):
        try:
            fit = fit_pairwise(gd, warn=False)
        except JudgmentDataError:
            continue
        out[dim] = dict(zip(fit.conditions, fit.scores))
    return out


def _circular(net: np.ndarray, x, y, z, pair) -> np.ndarray:
    """Circular triads per row of ``net`` (B, P): x > y > z > x or the reverse (signs of the net preferences)."""
    e_xy, e_yz, e_xz = np.sign(net[:, pair[x, y]]), np.sign(net[:, pair[y, z]]), np.sign(net[:, pair[x, z]])
    return ((e_xy != 0) & (e_xy == e_yz) & (e_xz == -e_xy)).sum(axis=1)


def transitivity(judgments: pd.DataFrame, *, n_sim: int = 1000,
                 rng: np.random.Generator | None = None) -> pd.DataFrame:
    """``rater, n_triads, circular_triads, circular_rate, circular_expected, circular_p`` (module docstring).

    ``circular_p`` is a Monte Carlo test: the rater's strict judgments are
    redrawn ``n_sim`` times from the consensus probabilities (each pair's
    judgment count kept, ties kept as ties) and the circular triads counted
    as for the data; ``p = (1 + #{sim >= observed}) / (n_sim + 1)``.
    ``rng`` defaults to ``numpy.random.default_rng(0)``, so screening is
    reproducible.
    """
    df = _oriented(validate_pairwise(judgments))
    rng = np.random.default_rng(0) if rng is None else rng
    consensus = _consensus_scores(df)
    rows = []
    for rater, g in df.groupby("rater", sort=True):
        triads = circular = 0
        sims = np.zeros(n_sim)
        tested = True
        for dim, gd in g.groupby("dim"):
            strict = gd[gd["pref"] != 0].groupby(["lo", "hi"])["pref"].agg(["sum", "size"])
            if len(strict) < 3:
                continue
            labels = sorted(set(strict.index.get_level_values(0)) | set(strict.index.get_level_values(1)))
            pos = {c: k for k, c in enumerate(labels)}
            lo = np.array([pos[c] for c in strict.index.get_level_values(0)])
            hi = np.array([pos[c] for c in strict.index.get_level_values(1)])
            k = len(labels)
            pair = np.full((k, k), -1)
            pair[lo, hi] = pair[hi, lo] = np.arange(len(lo))
            # every triad x < y < z whose three pairs the rater judged (not only as ties)
            judged = pair >= 0
            xs, ys = np.nonzero(np.triu(judged, 1))
            edge, z = np.nonzero(judged[xs] & judged[ys] & (np.arange(k)[None, :] > ys[:, None]))
            x, y = xs[edge], ys[edge]
            net = strict["sum"].to_numpy()[None, :]
            complete = (net[0, pair[x, y]] != 0) & (net[0, pair[y, z]] != 0) & (net[0, pair[x, z]] != 0)
            triads += int(complete.sum())
            circular += int(_circular(net, x, y, z, pair)[0])
            scores = consensus.get(dim, {})
            s = np.array([scores.get(c, np.nan) for c in labels])
            if not np.isfinite(s).all():
                tested = False
                continue
            n = strict["size"].to_numpy()
            p_lo = 1.0 / (1.0 + np.exp(s[hi] - s[lo]))
            wins_lo = rng.binomial(n[None, :], p_lo[None, :], size=(n_sim, len(n)))
            sims += _circular(2 * wins_lo - n[None, :], x, y, z, pair)
        ok = tested and triads > 0
        rows.append((rater, triads, circular, circular / triads if triads else np.nan,
                     float(sims.mean()) if ok else np.nan,
                     float((1 + (sims >= circular).sum()) / (n_sim + 1)) if ok else np.nan))
    return pd.DataFrame(rows, columns=["rater", "n_triads", "circular_triads", "circular_rate",
                                       "circular_expected", "circular_p"])


def too_fast(judgments: pd.DataFrame, *, min_ms: float = 1200.0) -> pd.DataFrame:
    """``rater, n_timed, too_fast_rate, median_ms``; NaN without an ``elapsed_ms`` column."""
    if "rater" not in judgments.columns:
        raise JudgmentDataError("columns", "rater", "missing from the judgment table")
    df = judgments.copy()
    raters = sorted(df["rater"].astype(str).unique())
    if "elapsed_ms" not in df.columns:
        return pd.DataFrame({"rater": raters, "n_timed": 0, "too_fast_rate": np.nan, "median_ms": np.nan})
    el = pd.to_numeric(df["elapsed_ms"], errors="coerce")
    g = pd.DataFrame({"rater": df["rater"].astype(str), "el": el}).dropna().groupby("rater")["el"]
    out = pd.DataFrame({"rater": raters})
    out["n_timed"] = out["rater"].map(g.size()).fillna(0).astype(int)
    out["too_fast_rate"] = out["rater"].map(g.apply(lambda x: float((x < min_ms).mean())))
    out["median_ms"] = out["rater"].map(g.median())
    return out


def _better_side(df: pd.DataFrame) -> np.ndarray:
    """Per trial of an oriented pairwise table: the side ("a"/"b") of the better stimulus, or "".

    Gold trials: the expected answer.  Others: the net preference of the
    *other* raters for the pair (so a rater cannot make their own answers look right).
    """
    net = df.groupby(["dim", "lo", "hi"])["pref"].transform("sum")
    own = df.groupby(["rater", "dim", "lo", "hi"])["pref"].transform("sum")
    others = (net - own).to_numpy()
    a_is_lo = (df["condition_a"] == df["lo"]).to_numpy()
    side = np.where(others == 0, "", np.where((others > 0) == a_is_lo, "a", "b"))
    if "is_gold" in df.columns and df["is_gold"].any():
        expected = df["gold_outcome"].fillna("a") if "gold_outcome" in df.columns else pd.Series("a", df.index)
        expected = expected.where(expected != "tie", "")
        side = np.where(df["is_gold"].to_numpy(), expected.to_numpy(), side)
    return side


def straight_lining(judgments: pd.DataFrame, *, kind: str = "pairwise") -> pd.DataFrame:
    """``rater, n, modal_answer, modal_rate[, modal_expected, side_bias_p]`` for pairwise or rating tables.

    ``modal_expected`` (pairwise, NaN when the modal answer is "tie"): share
    of the rater's trials with the better stimulus on the modal side
    (module docstring); unknown better side counts 1/2.
    """
    if kind == "pairwise":
        df = _oriented(validate_pairwise(judgments))
        df["better_side"] = _better_side(df)
        col = "outcome"
    else:
        df = validate_ratings(judgments)
        col = "value"
    rows = []
    for rater, g in df.groupby("rater", sort=True):
        vc = g[col].value_counts()
        row = {"rater": rater, "n": len(g), "modal_answer": vc.index[0], "modal_rate": vc.iloc[0] / len(g)}
        if kind == "pairwise":
            side = g["better_side"]
            modal = row["modal_answer"]
            row["modal_expected"] = (np.nan if modal == "tie" else
                                     float(((side == modal) + 0.5 * (side == "")).mean()))
            n_a, n_b = int((g[col] == "a").sum()), int((g[col] == "b").sum())
            row["side_bias_p"] = binomtest(n_a, n_a + n_b, 0.5).pvalue if n_a + n_b else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _sequences(df: pd.DataFrame, use_repeats: bool) -> dict:
    """Per rater: (0/1 sequence, source) from gold trials, else from repeats."""
    seqs = {}
    if "is_gold" in df.columns and df["is_gold"].any():
        gold = df[df["is_gold"]]
        expected = gold["gold_outcome"].fillna("a") if "gold_outcome" in gold.columns else pd.Series("a", gold.index)
        correct = (gold["outcome"] == expected).astype(int)
        for rater, idx in gold.groupby("rater").groups.items():
            seqs[rater] = (correct.loc[idx].to_numpy(), "gold")
    if not use_repeats:
        return seqs
    ori = _oriented(df)
    for rater, g in ori.groupby("rater"):
        if rater in seqs:
            continue
        first = {}
        xs = []
        for key, pref in zip(zip(g["dim"], g["lo"], g["hi"]), g["pref"]):
            if key in first:
                xs.append(int(pref == first[key]))
            else:
                first[key] = pref
        seqs[rater] = (np.asarray(xs, int), "repeat")
    return seqs


def sprt_random_clicker(judgments: pd.DataFrame, *, p_good: float = 0.9, p_good_repeat: float = 0.8,
                        p_random: float = 0.5, alpha: float = 0.01, beta: float = 0.05,
                        use_repeats: bool = False) -> pd.DataFrame:
    """``rater, sprt_source, sprt_n, sprt_llr, sprt_decision`` (module docstring)."""
    df = _order(validate_pairwise(judgments))
    upper, lower = np.log((1 - beta) / alpha), np.log(beta / (1 - alpha))
    rows = []
    seqs = _sequences(df, use_repeats)
    for rater in sorted(df["rater"].unique()):
        xs, source = seqs.get(rater, (np.zeros(0, int), "none"))
        p0 = p_good if source == "gold" else p_good_repeat
        llr, decision, used = 0.0, "undecided", 0
        for x in xs:
            llr += x * np.log(p_random / p0) + (1 - x) * np.log((1 - p_random) / (1 - p0))
            used += 1
            if llr >= upper:
                decision = "random"
                break
            if llr <= lower:
                decision = "ok"
                break
        rows.append((rater, source, used, llr, decision))
    return pd.DataFrame(rows, columns=["rater", "sprt_source", "sprt_n", "sprt_llr", "sprt_decision"])


def rating_repeat_consistency(ratings: pd.DataFrame) -> pd.DataFrame:
    """``rater, n_repeat_pairs, repeat_mad, repeat_mad_chance`` for single-stimulus ratings.

    A stimulus a rater rated more than once on one dimension (a repeat
    trial) gives the pairs of its ratings; ``repeat_mad`` is the mean
    absolute difference ``|v - v'|`` over those pairs (scale units: 0 is
    perfect test-retest agreement).  ``repeat_mad_chance`` is what a rater
    answering independently of the stimulus would show with the same
    ratings: the mean ``|v_i - v_j|`` over all pairs of the rater's ratings
    of that dimension (Gini's mean difference), averaged over the
    dimensions with the repeat pairs as weights.  Reported, not a reason
    for exclusion: with a few repeats per session both are coarse.
    """
    df = validate_ratings(ratings)
    for flag in ("is_training", "is_gold"):        # gold stimuli recur by design: not a test-retest pair
        if flag in df.columns:
            df = df[~df[flag]]
    dim = df["dimension"].astype(str) if "dimension" in df.columns else pd.Series("", index=df.index)
    df = pd.DataFrame({"rater": df["rater"], "dim": dim, "condition": df["condition"], "v": df["value"]})
    df = df.reset_index(drop=True).assign(row=lambda d: np.arange(len(d)))
    # every pair of ratings of one stimulus by one rater on one dimension
    pairs = df.merge(df, on=["rater", "dim", "condition"], suffixes=("", "_2"))
    pairs = pairs[pairs["row"] < pairs["row_2"]]
    pairs = pairs.assign(d=(pairs["v"] - pairs["v_2"]).abs())
    # Gini's mean difference per (rater, dimension): with v sorted, sum_{i<j} (v_j - v_i) = sum_k v_k (2k - n + 1)
    df = df.sort_values(["rater", "dim", "v"], kind="stable")
    g = df.groupby(["rater", "dim"])
    k = g.cumcount().to_numpy(float)
    n = g["v"].transform("size").to_numpy(float)
    gsum = pd.Series(df["v"].to_numpy() * (2 * k - n + 1), index=df.index).groupby(
        [df["rater"], df["dim"]]).sum()
    size = g.size()
    gini = (2 * gsum / (size * (size - 1))).where(size > 1)
    pairs = pairs.assign(chance=pd.MultiIndex.from_frame(pairs[["rater", "dim"]]).map(gini))
    agg = pairs.groupby("rater").agg(n_repeat_pairs=("d", "size"), repeat_mad=("d", "mean"),
                                     repeat_mad_chance=("chance", "mean"))
    out = pd.DataFrame({"rater": sorted(df["rater"].unique())})
    out["n_repeat_pairs"] = out["rater"].map(agg["n_repeat_pairs"]).fillna(0).astype(int)
    out["repeat_mad"] = out["rater"].map(agg["repeat_mad"])
    out["repeat_mad_chance"] = out["rater"].map(agg["repeat_mad_chance"])
    return out


def rating_gold_accuracy(ratings: pd.DataFrame) -> pd.DataFrame:
    """``rater, n_gold, gold_accuracy, gold_chance`` for single-stimulus ratings (module docstring).

    Gold rows are those with ``is_gold`` (attention checks included) and a
    region (``gold_low``, ``gold_high``); training trials are left out.
    ``gold_chance`` is the mean over the rater's gold trials of the
    probability that a uniform random answer lands in the region: the
    number of categories in it over 5 (acr5, dcr5) or its length over 100
    (continuous100).  NaN accuracy for a rater without gold trials.
    """
    df = validate_ratings(ratings)
    raters = sorted(df["rater"].unique())
    out = pd.DataFrame({"rater": raters})
    if not {"is_gold", "gold_low", "gold_high"} <= set(df.columns):
        return out.assign(n_gold=0, gold_accuracy=np.nan, gold_chance=np.nan)
    low = pd.to_numeric(df["gold_low"], errors="coerce")
    high = pd.to_numeric(df["gold_high"], errors="coerce")
    keep = df["is_gold"] & low.notna() & high.notna()
    if "is_training" in df.columns:
        keep &= ~df["is_training"]
    bad = keep & (low > high)
    if bad.any():
        raise JudgmentDataError("gold_low", float(low[bad].iloc[0]), f"is above gold_high {float(high[bad].iloc[0])}")
    g, low, high = df[keep], low[keep], high[keep]
    correct = (g["value"] >= low) & (g["value"] <= high)
    categories = g["scale"] != "continuous100"
    chance = np.where(categories, (np.floor(high) - np.ceil(low) + 1).clip(lower=0) / 5.0, (high - low) / 100.0)
    agg = pd.DataFrame({"rater": g["rater"], "ok": correct, "chance": chance}).groupby("rater").agg(
        n_gold=("ok", "size"), gold_accuracy=("ok", "mean"), gold_chance=("chance", "mean"))
    out["n_gold"] = out["rater"].map(agg["n_gold"]).fillna(0).astype(int)
    out["gold_accuracy"] = out["rater"].map(agg["gold_accuracy"])
    out["gold_chance"] = out["rater"].map(agg["gold_chance"])
    return out


def bt500_screening(ratings: pd.DataFrame) -> pd.DataFrame:
    """``rater, n_ratings, bt500_P, bt500_Q, bt500_reject`` (module docstring).

    A "presentation" of the standard is one condition rated on one
    dimension: with a ``dimension`` column the mean, sd and ``beta2`` are
    taken per (dimension, condition), never over the ratings of different
    questions pooled (they have different means, and pooled they look
    bimodal and non-normal).  Repeat, training and gold (and attention)
    trials are left out; a rater with no other rating gets no row.
    """
    df = validate_ratings(ratings)
    for flag in ("is_repeat", "is_training", "is_gold"):
        if flag in df.columns:
            df = df[~df[flag]]
    if df.empty:
        return pd.DataFrame({"rater": pd.Series(dtype=object), "n_ratings": pd.Series(dtype=int),
                             "bt500_P": pd.Series(dtype=int), "bt500_Q": pd.Series(dtype=int),
                             "bt500_reject": pd.Series(dtype=bool)})
    key = (df["dimension"].astype(str) + "\x1f" + df["condition"]) if "dimension" in df.columns else df["condition"]
    g = df["value"].groupby(key)
    mean = key.map(g.mean())
    sd = key.map(g.std(ddof=1)).fillna(0.0)
    dev = df["value"] - mean
    m2 = key.map((dev**2).groupby(key).mean())
    m4 = key.map((dev**4).groupby(key).mean())
    with np.errstate(invalid="ignore", divide="ignore"):
        beta2 = m4 / m2**2
    k = np.where((beta2 >= 2) & (beta2 <= 4), 2.0, np.sqrt(20.0))
    high = (sd > 0) & (df["value"] >= mean + k * sd)
    low = (sd > 0) & (df["value"] <= mean - k * sd)
    agg = pd.DataFrame({"rater": df["rater"], "P": high, "Q": low}).groupby("rater").agg(
        n_ratings=("P", "size"), bt500_P=("P", "sum"), bt500_Q=("Q", "sum"))
    pq = agg["bt500_P"] + agg["bt500_Q"]
    with np.errstate(invalid="ignore", divide="ignore"):
        agg["bt500_reject"] = (pq / agg["n_ratings"] > 0.05) & ((agg["bt500_P"] - agg["bt500_Q"]).abs() / pq < 0.3)
    return agg.reset_index()
