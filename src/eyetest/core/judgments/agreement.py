"""Agreement between raters: Krippendorff's alpha, Kendall's W, split-half reliability, percent agreement.

Krippendorff's alpha (Krippendorff 2011, "Computing Krippendorff's
Alpha-Reliability", Annenberg School for Communication, U. Pennsylvania;
Hayes & Krippendorff 2007, Communication Methods and Measures 1:77-89)
from the coincidence matrix: every unit u with m_u >= 2 values adds
``1 / (m_u - 1)`` to ``o_ck`` for each ordered pair of values (c, k) given by
different raters; ``n_c = sum_k o_ck``, ``n = sum_c n_c``, and

    alpha = 1 - (n - 1) sum_ck o_ck delta2_ck / sum_ck n_c n_k delta2_ck

with ``delta2`` nominal ``[c != k]``, interval ``(c - k)^2``, ratio
``((c - k)/(c + k))^2`` and ordinal ``(sum_{g=c..k} n_g - (n_c + n_k)/2)^2``.

Kendall's W (Kendall & Babington Smith 1939, Ann. Math. Statist. 10:275-287)
for m raters ranking n items, with tie correction:

    W = 12 S / (m^2 (n^3 - n) - m sum_j T_j),  S = sum_i (R_i - mean R)^2,
    T_j = sum over tie groups of rater j of (t^3 - t).

Split-half reliability: raters are split at random into two halves, each
half is scaled on its own, and the Pearson correlation r of the two scales
is stepped up with Spearman-Brown, ``2 r / (1 + r)`` (Spearman 1910; Brown
1910), averaged over splits.

Pairwise percent agreement: for every pair of conditions judged m >= 2
times with c_k judgments in each answer, ``sum_k c_k (c_k - 1)`` agreeing
ordered judgment pairs out of ``m (m - 1)``, pooled over pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from eyetest.core.judgments.model import validate_pairwise
from eyetest.errors import JudgmentDataError, UnknownNameError

LEVELS = ("nominal", "ordinal", "interval", "ratio")


def krippendorff_alpha(reliability_data, *, level: str = "interval") -> float:
    """Krippendorff's alpha of a (raters, units) array with NaN for missing values."""
    if level not in LEVELS:
        raise UnknownNameError("measurement level", level, LEVELS)
    data = np.asarray(reliability_data, dtype=float)
    if data.ndim != 2:
        raise JudgmentDataError("reliability_data", data.shape, "must be 2-D (raters, units)")
    values = np.unique(data[~np.isnan(data)])
    v = len(values)
    if v < 2:
        raise JudgmentDataError("reliability_data", v, "needs at least two distinct values")
    o = np.zeros((v, v))
    for unit in data.T:
        x = unit[~np.isnan(unit)]
        m = len(x)
        if m < 2:
            continue
        counts = np.bincount(np.searchsorted(values, x), minlength=v).astype(float)
        o += (np.outer(counts, counts) - np.diag(counts)) / (m - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if level == "nominal":
        d2 = 1.0 - np.eye(v)
    elif level == "interval":
        d2 = (values[:, None] - values[None, :]) ** 2
    elif level == "ratio":
        s = values[:, None] + values[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            d2 = np.where(s == 0, 0.0, ((values[:, None] - values[None, :]) / s) ** 2)
    else:
        cum = np.cumsum(n_c)
        lo = np.minimum.outer(np.arange(v), np.arange(v))
        hi = np.maximum.outer(np.arange(v), np.arange(v))
        between = cum[hi] - np.where(lo > 0, cum[lo - 1], 0.0)
        d2 = (between - (n_c[:, None] + n_c[None, :]) / 2) ** 2
    expected = (np.outer(n_c, n_c) * d2).sum()
    if expected == 0:
        return float("nan")
    return float(1.0 - (n - 1) * (o * d2).sum() / expected)


def reliability_matrix(ratings: pd.DataFrame, *, unit: str = "condition") -> pd.DataFrame:
    """Long ratings (rater, <unit>, value) -> (raters x units) matrix (mean of repeats)."""
    return ratings.pivot_table(index="rater", columns=unit, values="value", aggfunc="mean")


def kendalls_w(scores) -> float:
    """Kendall's W of an (m raters, n items) array of scores or ranks (higher = better)."""
    x = np.asarray(scores, dtype=float)
    if x.ndim != 2 or np.isnan(x).any():
        raise JudgmentDataError("scores", x.shape, "must be a complete 2-D (raters, items) array")
    m, n = x.shape
    r = rankdata(x, axis=1)
    s = ((r.sum(axis=0) - m * (n + 1) / 2) ** 2).sum()
    ties = 0.0
    for row in x:
        _, t = np.unique(row, return_counts=True)
        ties += (t**3 - t).sum()
    return float(12 * s / (m**2 * (n**3 - n) - m * ties))


def percent_agreement(judgments: pd.DataFrame) -> dict:
    """Pooled pairwise percent agreement (module docstring) and the number of pairs used."""
    df = validate_pairwise(judgments)
    swap = df["condition_a"] > df["condition_b"]
    lo = np.where(swap, df["condition_b"], df["condition_a"])
    hi = np.where(swap, df["condition_a"], df["condition_b"])
    sign = np.where(df["outcome"] == "tie", 0, np.where(df["outcome"] == "a", 1, -1))
    pref = np.where(swap, -sign, sign)
    dim = df["dimension"].astype(str) if "dimension" in df.columns else pd.Series("", index=df.index)
    c = pd.DataFrame({"dim": dim.to_numpy(), "lo": lo, "hi": hi, "pref": pref}).groupby(
        ["dim", "lo", "hi", "pref"]).size()
    agree = (c * (c - 1)).groupby(level=[0, 1, 2]).sum()
    m = c.groupby(level=[0, 1, 2]).sum()
    keep = m >= 2
    total = (m[keep] * (m[keep] - 1)).sum()
    return {"agreement": float(agree[keep].sum() / total) if total else float("nan"), "n_pairs": int(keep.sum())}


def split_half(table: pd.DataFrame, fit, *, n_splits: int = 20, rng: np.random.Generator) -> dict:
    """Split-half reliability of a scale.

    Parameters
    ----------
    table : DataFrame
        Judgments or ratings with a ``rater`` column.
    fit : callable
        ``fit(sub_table) -> ScaleFit`` (e.g. ``lambda t: fit_pairwise(t, warn=False)``).
        A half often has conditions that never lose, so the fit falls back
        to a prior; its messages (``info["warnings"]``) are returned as
        ``notes``.  Whether the fit also *warns* is the fit's choice (pass
        ``warn=False`` to :func:`~eyetest.core.judgments.bradley_terry.fit_pairwise`):
        nothing here silences warnings, because ``warnings.catch_warnings``
        changes the process's filters and is not thread-safe (it would
        swallow other threads' warnings).
    rng : numpy.random.Generator

    Returns
    -------
    dict
        ``r`` (mean Pearson r), ``spearman_brown`` (mean 2r/(1+r)), ``values`` (per split),
        ``notes`` (the distinct fallback messages of the half fits, in order of appearance).
    """
    raters = np.array(sorted(table["rater"].astype(str).unique()))
    if len(raters) < 2:
        raise JudgmentDataError("raters", len(raters), "split-half needs at least two raters")
    rs = []
    notes: dict[str, None] = {}
    for _ in range(n_splits):
        perm = rng.permutation(raters)
        half = set(perm[: len(raters) // 2])
        mask = table["rater"].astype(str).isin(half)
        f1, f2 = fit(table[mask]), fit(table[~mask])
        for f in (f1, f2):
            notes.update(dict.fromkeys(f.info.get("warnings", ())))
        s1 = pd.Series(f1.scores, index=list(f1.conditions))
        s2 = pd.Series(f2.scores, index=list(f2.conditions))
        common = s1.index.intersection(s2.index)
        if len(common) >= 3:
            rs.append(float(np.corrcoef(s1[common], s2[common])[0, 1]))
    r = np.array(rs)
    return {"r": float(r.mean()) if len(r) else float("nan"),
            "spearman_brown": float((2 * r / (1 + r)).mean()) if len(r) else float("nan"),
            "values": r.tolist(), "notes": list(notes)}
