"""Likelihood-based outlier observers, leave-one-out (as pwcmp does).

Procedure (Perez-Ortiz & Mantiuk 2017, arXiv:1712.03686, Sec. 9; pwcmp's
``pw_outlier_analysis``): for each group g (a scene, or any slice scaled on
its own) and each observer o,

1. scale the group's conditions by Thurstone Case V (JOD) from the
   judgments of all *other* observers;
2. ``L_og = sum_pairs log Binom(k; n, Phi((q_i - q_j) / 1.4826))`` with k of
   the observer's n judgments of the pair preferring i (ties count 1/2;
   pairs with a condition no other observer saw are skipped);

then ``L_o = sum_g L_og`` and ``dist_L = (Q1 - L_o) / IQR`` when ``L_o < Q1``
(else 0), Q1 and IQR over observers.  With fewer than ``min_raters`` (8)
observers the quartiles are too noisy to fence anyone, and ``dist_L`` is NaN.  An observer is flagged when
``dist_L > fence`` (default 1.5, Tukey's outer-fence factor: Tukey 1977,
"Exploratory Data Analysis").  pwcmp reports the same ``dist_L``.

The leave-one-out fits of one group are solved together as one batch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import gammaln, log_ndtr

from eyetest.core.judgments._pairlik import JOD_SIGMA
from eyetest.core.judgments.bradley_terry import fit_block
from eyetest.core.judgments.model import components, mle_exists, pair_counts, validate_pairwise
from eyetest.core.judgments.uncertainty import rater_cell_counts
from eyetest.errors import JudgmentDataError


def _group_loglik(df: pd.DataFrame, fallback_prior_sd: float):
    counts = pair_counts(df)
    raters, cells = rater_cell_counts(df, counts)  # (R, 3, P)
    total = cells.sum(axis=0)
    loo = total[None] - cells  # (R, 3, P): everyone but rater r
    w, l, t = loo[:, 0], loo[:, 1], loo[:, 2]
    n = counts.n_conditions
    seen = np.zeros((len(raters), n), bool)  # condition compared by someone else
    has = (w + l + t) > 0
    for r in range(len(raters)):
        seen[r, counts.i[has[r]]] = True
        seen[r, counts.j[has[r]]] = True
    ok = np.array([mle_exists(counts.with_counts(w[r], l[r], t[r])) for r in range(len(raters))])
    scores = np.zeros((len(raters), n))
    for flag, psd in ((True, None), (False, fallback_prior_sd)):
        sel = np.flatnonzero(ok == flag)
        if len(sel) == 0:
            continue
        batch = counts.with_counts(w[sel], l[sel], t[sel])
        scores[sel] = fit_block("thurstone", batch, prior_sd=psd)[0]
    own = cells
    k = own[:, 0] + 0.5 * own[:, 2]
    m = own.sum(axis=1)
    d = (scores[:, counts.i] - scores[:, counts.j]) / JOD_SIGMA
    use = (m > 0) & seen[:, counts.i] & seen[:, counts.j]
    ll = gammaln(m + 1) - gammaln(k + 1) - gammaln(m - k + 1) + k * log_ndtr(d) + (m - k) * log_ndtr(-d)
    ll = np.maximum(ll, np.log(1e-200))
    return raters, np.where(use, ll, 0.0).sum(axis=1), np.where(use, m, 0).sum(axis=1)


def outlier_observers(judgments: pd.DataFrame, *, by: str | None = None, fence: float = 1.5,
                      fallback_prior_sd: float = 3.0, min_raters: int = 8) -> pd.DataFrame:
    """Leave-one-out likelihood per rater (module docstring).

    Parameters
    ----------
    judgments : DataFrame
        Pairwise table.
    by : str, optional
        Column defining the groups scaled separately (e.g. ``"image"`` for
        per-scene scaling); default: the connected components of the
        comparison graph (for within-image designs: one group per image).
    min_raters : int
        Fewest observers with a leave-one-out likelihood for which the fence is computed.

    Returns
    -------
    DataFrame
        ``rater, loo_loglik, loo_n, loo_loglik_per_judgment, dist_L, outlier``
    """
    df = validate_pairwise(judgments)
    if by is None:
        counts = pair_counts(df)
        comp = dict(zip(counts.conditions, components(counts)))
        key = df["condition_a"].map(comp)
    else:
        if by not in df.columns:
            raise JudgmentDataError("by", by, "is not a column of the judgments")
        key = df[by]
    groups = [g for _, g in df.groupby(key, sort=True)]
    total = {}
    count = {}
    for g in groups:
        if g["rater"].nunique() < 2:
            continue
        raters, ll, m = _group_loglik(g, fallback_prior_sd)
        for r, v, c in zip(raters, ll, m):
            total[r] = total.get(r, 0.0) + float(v)
            count[r] = count.get(r, 0) + int(c)
    raters = sorted(df["rater"].unique())
    out = pd.DataFrame({"rater": raters})
    out["loo_loglik"] = out["rater"].map(total)
    out["loo_n"] = out["rater"].map(count).fillna(0).astype(int)
    out["loo_loglik_per_judgment"] = out["loo_loglik"] / out["loo_n"].replace(0, np.nan)
    vals = out["loo_loglik"].dropna()
    if len(vals) >= max(min_raters, 2):
        q1, q3 = np.quantile(vals, [0.25, 0.75])
        iqr = q3 - q1
        dist = np.where(out["loo_loglik"] < q1, (q1 - out["loo_loglik"]) / (iqr if iqr > 0 else np.nan), 0.0)
        out["dist_L"] = dist
    else:
        out["dist_L"] = np.nan
    out["outlier"] = out["dist_L"] > fence
    return out
