"""Scenario and dimension views: head-to-head counts, leaderboards, matrices.

These are the statistics behind the report's scenario figures (the
SUPIR-vs-HAT "A better / same / B better per scenario" bars, per-scenario
leaderboards and the method x dimension heat map).  Figures live in
:mod:`eyetest.report.figures`; everything here returns DataFrames.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from eyetest.core.alignment.bootstrap import bootstrap_many
from eyetest.errors import MetricInputError

ALL = "all"
_SHARES = ("a_better", "same", "b_better", "a_or_same")


def wilson_interval(successes, n, *, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion.

    ``(p + z^2/(2n) -/+ z sqrt(p(1-p)/n + z^2/(4n^2))) / (1 + z^2/n)`` with
    ``p = successes / n`` and ``z`` the ``(1+level)/2`` normal quantile
    (Wilson, JASA 1927; recommended by Brown, Cai & DasGupta, Stat. Sci. 2001).
    NaN where ``n == 0``.
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.any(k < 0) or np.any(k > n):
        raise MetricInputError("successes must lie in [0, n]")
    z = norm.ppf(0.5 + level / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        den = 1.0 + z * z / n
        centre = (p + z * z / (2.0 * n)) / den
        half = z * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / den
    low, high = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    return np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)


def _oriented(judgments: pd.DataFrame, method_a: str, method_b: str) -> pd.DataFrame:
    need = ("method_a", "method_b", "outcome")
    missing = [c for c in need if c not in judgments.columns]
    if missing:
        raise MetricInputError(f"judgments lack column(s) {', '.join(missing)} needed for a head-to-head view")
    j = judgments[
        ((judgments["method_a"] == method_a) & (judgments["method_b"] == method_b))
        | ((judgments["method_a"] == method_b) & (judgments["method_b"] == method_a))
    ].copy()
    if j.empty:
        raise MetricInputError(f"no judgments compare {method_a!r} with {method_b!r}")
    outcome = j["outcome"].astype(str).str.strip().str.lower()
    bad = sorted(set(outcome) - {"a", "b", "tie"})
    if bad:
        raise MetricInputError(f"judgments: outcome must be a, b or tie; got {', '.join(map(repr, bad))}")
    shown_first = j["method_a"] == method_a
    winner_a = np.where(shown_first, outcome == "a", outcome == "b")
    winner_b = np.where(shown_first, outcome == "b", outcome == "a")
    j["_a"] = winner_a.astype(int)
    j["_b"] = winner_b.astype(int)
    j["_tie"] = (outcome == "tie").astype(int).to_numpy()
    return j


def head_to_head(
    judgments: pd.DataFrame,
    *,
    method_a: str,
    method_b: str,
    by: Sequence[str] = ("scenario",),
    level: float = 0.95,
    rng: np.random.Generator | None = None,
    n_boot: int = 1000,
    unit: str = "image",
) -> pd.DataFrame:
    """Counts and shares of "A better / same / B better" per group, with CIs.

    Judgments of the two methods are oriented so that ``a_better`` always
    means ``method_a`` won, whichever side it was shown on.  Groups are the
    values of ``by`` plus a final ``"all"`` row.  ``a_or_same`` is the share
    of votes where A was at least as good (the "SUPIR >= HAT in 83.5% of
    votes" number of the SUPIR-vs-HAT study).

    Intervals: Wilson score intervals on the vote counts by default (votes
    treated as independent); with ``rng`` given, percentile cluster-bootstrap
    intervals that resample ``unit`` (images), which accounts for votes on
    the same image being correlated.

    Returns
    -------
    DataFrame
        ``*by, method_a, method_b, a_better, same, b_better, n`` and for each
        share in ``a_better, same, b_better, a_or_same``: ``share_<s>``,
        ``<s>_low``, ``<s>_high``.
    """
    j = _oriented(judgments, method_a, method_b)
    by = [c for c in by]
    missing = [c for c in by if c not in j.columns]
    if missing:
        raise MetricInputError(f"judgments lack group column(s) {', '.join(missing)}")
    parts = list(j.groupby(by, sort=True)) if by else []
    parts.append(((ALL,) * len(by), j))
    rows = []
    for key, part in parts:
        key = key if isinstance(key, tuple) else (key,)
        a, same, b = int(part["_a"].sum()), int(part["_tie"].sum()), int(part["_b"].sum())
        n = a + same + b
        row = {**dict(zip(by, key)), "method_a": method_a, "method_b": method_b,
               "a_better": a, "same": same, "b_better": b, "n": n}
        counts = {"a_better": a, "same": same, "b_better": b, "a_or_same": a + same}
        for s in _SHARES:
            row[f"share_{s}"] = counts[s] / n if n else np.nan
        if rng is None:
            for s in _SHARES:
                low, high = wilson_interval(counts[s], n, level=level)
                row[f"{s}_low"], row[f"{s}_high"] = float(low), float(high)
        else:
            if unit not in part.columns:
                raise MetricInputError(f"bootstrap intervals resample {unit!r}, which the judgments lack")
            va, vt, vb = (part[c].to_numpy(float) for c in ("_a", "_tie", "_b"))

            def stat(idx, va=va, vt=vt, vb=vb):
                m = idx.size
                return {"a_better": va[idx].sum() / m, "same": vt[idx].sum() / m, "b_better": vb[idx].sum() / m,
                        "a_or_same": (va[idx].sum() + vt[idx].sum()) / m}

            cis = bootstrap_many(stat, part[unit].to_numpy(), rng=rng, n_boot=n_boot, level=level)
            for s in _SHARES:
                row[f"{s}_low"], row[f"{s}_high"] = cis[s].ci_low, cis[s].ci_high
        rows.append(row)
    return pd.DataFrame(rows)


def leaderboard(
    frame: pd.DataFrame,
    *,
    value: str,
    higher_is_better: bool = True,
    by: Sequence[str] = ("scenario",),
    method: str = "method",
    unit: str = "image",
    rng: np.random.Generator | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
) -> pd.DataFrame:
    """Per-group ranking of methods by a human scale or a metric.

    ``frame`` has one row per (unit, method) (e.g. MOS per image and method,
    or the rows of one metric from the result table) and group columns
    ``by``.  Each method's mean over units is reported with a CI: the
    percentile bootstrap over units when ``rng`` is given, else the normal
    interval ``mean +- z sd / sqrt(n)``.  If a group has exactly one row per
    method and ``ci_low``/``ci_high`` columns (an already scaled condition
    per method, e.g. a Bradley-Terry scale per scenario), those are kept.
    A final ``"all"`` group pools every row.

    Returns
    -------
    DataFrame
        ``*by, method, mean, ci_low, ci_high, n, rank`` (rank 1 = best given
        ``higher_is_better``; ties share the lower rank).
    """
    need = [value, method, *by]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise MetricInputError(f"leaderboard input lacks column(s) {', '.join(missing)}")
    by = list(by)
    parts = list(frame.groupby(by, sort=True)) if by else []
    if by:
        pooled = frame.drop(columns=by)
        if unit in pooled.columns:  # an image tagged with several scenarios counts once
            pooled = pooled.drop_duplicates([unit, method, value])
        parts.append(((ALL,) * len(by), pooled))
    else:
        parts.append(((), frame))
    z = norm.ppf(0.5 + level / 2.0)
    rows = []
    for key, part in parts:
        key = key if isinstance(key, tuple) else (key,)
        single = part.groupby(method).size().max() == 1 and {"ci_low", "ci_high"} <= set(part.columns)
        for m, sub in part.groupby(method, sort=True):
            v = sub[value].to_numpy(float)
            v = v[np.isfinite(v)]
            if v.size == 0:
                continue
            mean = float(v.mean())
            if single and (not by or key[0] != ALL):  # not the pooled 'all' group
                low, high = float(sub["ci_low"].iloc[0]), float(sub["ci_high"].iloc[0])
            elif rng is not None and unit in sub.columns:
                ok = np.isfinite(sub[value].to_numpy(float))
                ci = bootstrap_many(lambda idx, v=v: {"m": float(v[idx].mean())}, sub[unit].to_numpy()[ok],
                                    rng=rng, n_boot=n_boot, level=level)["m"]
                low, high = ci.ci_low, ci.ci_high
            elif v.size > 1:
                half = z * float(v.std(ddof=1)) / np.sqrt(v.size)
                low, high = mean - half, mean + half
            else:
                low = high = float("nan")
            rows.append({**dict(zip(by, key)), "method": m, "mean": mean, "ci_low": low, "ci_high": high,
                         "n": int(v.size)})
    out = pd.DataFrame(rows, columns=[*by, "method", "mean", "ci_low", "ci_high", "n"])
    signed = out["mean"] if higher_is_better else -out["mean"]
    if by:
        out["rank"] = signed.groupby([out[c] for c in by]).rank(ascending=False, method="min").astype(int)
    else:
        out["rank"] = signed.rank(ascending=False, method="min").astype(int)
    return out.sort_values([*by, "rank", "method"], kind="mergesort").reset_index(drop=True)


def method_dimension_matrix(
    scale: pd.DataFrame, *, value: str = "score", method: str = "method", dimension: str = "dimension"
) -> pd.DataFrame:
    """Method x dimension matrix of mean scores (rows sorted by their mean, best first).

    ``scale`` has one or more rows per (method, dimension) (e.g. per image);
    each cell is the mean of ``value``.  Missing combinations are NaN.
    """
    missing = [c for c in (value, method, dimension) if c not in scale.columns]
    if missing:
        raise MetricInputError(f"scale lacks column(s) {', '.join(missing)} for the method x dimension view")
    matrix = scale.pivot_table(index=method, columns=dimension, values=value, aggfunc="mean")
    order = matrix.mean(axis=1).sort_values(ascending=False, kind="mergesort").index
    matrix = matrix.loc[order]
    matrix.columns.name = dimension
    matrix.index.name = method
    return matrix
