"""Pairwise significance with Holm correction, and rank intervals.

Two sources of uncertainty are supported everywhere:

* analytic: a score vector with its covariance matrix (inverse observed
  information of a maximum-likelihood fit, or ``diag(se^2)`` for MOS);
  the difference ``s_i - s_j`` is tested with ``z = (s_i - s_j) /
  sqrt(V_ii + V_jj - 2 V_ij)``, two-sided normal p-value;
* bootstrap: an array of replicate scale vectors (B, n); the two-sided
  p-value of ``s_i - s_j`` is ``min(1, 2 min((#{diff <= 0} + 1)/(B + 1),
  (#{diff >= 0} + 1)/(B + 1)))``.

Holm's step-down procedure (Holm 1979, "A simple sequentially rejective
multiple test procedure", Scand. J. Statist. 6:65-70) controls the
family-wise error rate over all n(n-1)/2 pairs.

Rank intervals (rank 1 = best = highest score):

* analytic: ``rank_low = 1 + #{j significantly better than i}`` and
  ``rank_high = n - #{j significantly worse than i}`` with Holm-adjusted
  p < alpha (the "ranks compatible with the significant differences"
  construction used by arena leaderboards);
* bootstrap: the alpha/2 and 1 - alpha/2 quantiles of each condition's rank
  over the replicates.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm, rankdata


def holm(pvalues) -> np.ndarray:
    """Holm-adjusted p-values (same shape as the input; NaN entries are ignored).

    ``p_(k)^adj = max_{m <= k} min(1, (M - m + 1) p_(m))`` for the sorted
    p-values ``p_(1) <= ... <= p_(M)``.
    """
    p = np.asarray(pvalues, dtype=float)
    flat = p.ravel()
    ok = np.flatnonzero(~np.isnan(flat))
    out = np.full(flat.shape, np.nan)
    m = len(ok)
    if m == 0:
        return out.reshape(p.shape)
    order = ok[np.argsort(flat[ok], kind="stable")]
    adj = np.minimum(1.0, (m - np.arange(m)) * flat[order])
    out[order] = np.maximum.accumulate(adj)
    return out.reshape(p.shape)


def pairwise_pvalues(*, scores=None, cov=None, replicates=None) -> np.ndarray:
    """Unadjusted two-sided p-values of ``s_i != s_j`` as an (n, n) matrix (NaN on the diagonal)."""
    if replicates is not None:
        r = np.asarray(replicates, dtype=float)
        b, n = r.shape
        p = np.full((n, n), np.nan)
        for a in range(n):
            diff = r[:, [a]] - r
            le = ((diff <= 0).sum(axis=0) + 1) / (b + 1)
            ge = ((diff >= 0).sum(axis=0) + 1) / (b + 1)
            p[a] = np.minimum(1.0, 2 * np.minimum(le, ge))
        np.fill_diagonal(p, np.nan)
        return p
    s = np.asarray(scores, dtype=float)
    v = np.asarray(cov, dtype=float)
    var = np.diag(v)[:, None] + np.diag(v)[None, :] - 2 * v
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (s[:, None] - s[None, :]) / np.sqrt(np.maximum(var, 0.0))
    p = 2 * norm.sf(np.abs(z))
    np.fill_diagonal(p, np.nan)
    return p


def significance_matrix(*, scores=None, cov=None, replicates=None) -> np.ndarray:
    """Holm-adjusted pairwise p-values (symmetric (n, n), NaN diagonal)."""
    p = pairwise_pvalues(scores=scores, cov=cov, replicates=replicates)
    n = p.shape[0]
    iu = np.triu_indices(n, 1)
    adj = np.full_like(p, np.nan)
    adj[iu] = holm(p[iu])
    adj.T[iu] = adj[iu]
    return adj


def rank_intervals(*, scores=None, cov=None, replicates=None, alpha=0.05):
    """``(rank_low, rank_high)`` integer arrays, rank 1 = highest score (see module notes)."""
    if replicates is not None:
        r = np.asarray(replicates, dtype=float)
        ranks = rankdata(-r, axis=1, method="min")
        lo = np.floor(np.quantile(ranks, alpha / 2, axis=0, method="lower")).astype(int)
        hi = np.ceil(np.quantile(ranks, 1 - alpha / 2, axis=0, method="higher")).astype(int)
        return lo, hi
    s = np.asarray(scores, dtype=float)
    adj = significance_matrix(scores=s, cov=cov)
    sig = np.nan_to_num(adj, nan=1.0) < alpha
    better = sig & (s[None, :] > s[:, None])  # [i, j]: j significantly better than i
    worse = sig & (s[None, :] < s[:, None])
    n = len(s)
    return 1 + better.sum(axis=1), n - worse.sum(axis=1)
