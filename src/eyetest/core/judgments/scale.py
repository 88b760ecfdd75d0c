"""The result of any scaling model: :class:`ScaleFit` and its table.

The table every consumer reads (report, CLI) has one row per condition and
the columns ``condition, score, se, ci_low, ci_high, rank_low, rank_high,
component`` (plus ``n`` for MOS).  CIs are Wald intervals ``score -+
z_{1-alpha/2} se`` from the covariance, or bootstrap percentile intervals
when replicates are attached (:func:`eyetest.core.judgments.uncertainty.bootstrap`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata
from scipy.stats import t as student_t

from eyetest.core.judgments.significance import rank_intervals, significance_matrix
from eyetest.errors import JudgmentDataError


@dataclass(frozen=True)
class ScaleFit:
    """A fitted scale.

    Attributes
    ----------
    conditions : tuple of str
    scores : ndarray (n,)
        Anchored (``anchor`` scores 0) or centred (mean 0 per component).
    cov : ndarray (n, n) or None
        Covariance of ``scores`` in the same gauge (inverse observed information).
    model : str
    unit : str
        ``logit`` (Bradley-Terry family), ``JOD`` (Thurstone), ``elo``, or the rating scale.
    tie : dict or None
        Tie parameter (``name``, ``value``, ``se``, ``ci_low``, ``ci_high``):
        Davidson ``nu`` or Rao-Kupper ``theta``.
    component : ndarray (n,) of int
        Connected component of each condition in the comparison graph.
    replicates : ndarray (B, n) or None
        Bootstrap replicates in the same gauge.
    n : ndarray (n,) or None
        Number of judgments/ratings per condition (MOS).
    dof : ndarray (n,) or None
        Degrees of freedom per condition: Student-t instead of normal CIs (MOS).
    info : dict
        Fit diagnostics (log-likelihood, iterations, prior, warnings).
    """

    conditions: tuple
    scores: np.ndarray
    cov: np.ndarray | None
    model: str
    unit: str
    anchor: str | None = None
    tie: dict | None = None
    component: np.ndarray | None = None
    replicates: np.ndarray | None = None
    n: np.ndarray | None = None
    dof: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    @property
    def se(self) -> np.ndarray:
        if self.replicates is not None:
            return self.replicates.std(axis=0, ddof=1)
        if self.cov is None:
            return np.full(len(self.scores), np.nan)
        return np.sqrt(np.maximum(np.diag(self.cov), 0.0))

    def with_replicates(self, replicates) -> "ScaleFit":
        return replace(self, replicates=np.asarray(replicates, dtype=float))

    def anchored(self, anchor: str) -> "ScaleFit":
        """The scale relative to ``anchor``: ``s - s_anchor`` (covariance ``A V A^T``, replicates shifted)."""
        if anchor not in self.conditions:
            raise JudgmentDataError("anchor", anchor, "is not a condition of this scale")
        k = self.conditions.index(anchor)
        a = np.eye(len(self.scores))
        a[:, k] -= 1.0
        return replace(self, anchor=anchor, scores=a @ self.scores,
                       cov=None if self.cov is None else a @ self.cov @ a.T,
                       replicates=None if self.replicates is None else self.replicates - self.replicates[:, [k]])

    def significance(self) -> pd.DataFrame:
        """Holm-adjusted pairwise p-values as a labelled DataFrame."""
        if self.replicates is not None:
            adj = significance_matrix(replicates=self.replicates)
        else:
            adj = significance_matrix(scores=self.scores, cov=self._cov_or_raise())
        return pd.DataFrame(adj, index=list(self.conditions), columns=list(self.conditions))

    def _cov_or_raise(self):
        if self.cov is None:
            raise JudgmentDataError("model", self.model, "has no analytic covariance; attach bootstrap replicates")
        return self.cov

    def table(self, *, level: float = 0.95) -> pd.DataFrame:
        """One row per condition, sorted by score (best first)."""
        alpha = 1.0 - level
        if self.replicates is not None:
            ci_low = np.quantile(self.replicates, alpha / 2, axis=0)
            ci_high = np.quantile(self.replicates, 1 - alpha / 2, axis=0)
            rank_low, rank_high = rank_intervals(replicates=self.replicates, alpha=alpha)
        elif self.cov is not None:
            z = norm.ppf(1 - alpha / 2)
            if self.dof is not None:
                z = student_t.ppf(1 - alpha / 2, np.maximum(self.dof, 1))
            ci_low, ci_high = self.scores - z * self.se, self.scores + z * self.se
            rank_low, rank_high = rank_intervals(scores=self.scores, cov=self.cov, alpha=alpha)
        else:
            nan = np.full(len(self.scores), np.nan)
            ci_low, ci_high = nan, nan
            # no uncertainty at all (e.g. Elo without replicates): equal scores share their ranks
            rank_low, rank_high = rankdata(-self.scores, method="min"), rankdata(-self.scores, method="max")
        out = pd.DataFrame({
            "condition": list(self.conditions),
            "score": self.scores,
            "se": self.se,
            "ci_low": ci_low,
            "ci_high": ci_high,
            "rank_low": np.asarray(rank_low, dtype=int),
            "rank_high": np.asarray(rank_high, dtype=int),
        })
        if self.n is not None:
            out["n"] = self.n
        out["component"] = self.component if self.component is not None else 0
        return out.sort_values(["score", "condition"], ascending=[False, True]).reset_index(drop=True)


def gauge_matrix(n: int, component: np.ndarray, anchor_index: int | None) -> np.ndarray:
    """Linear map taking any scale to the reported gauge.

    Within the anchor's component the anchor gets 0 (``s - s_anchor``); every
    other component is centred (``s - mean(s over the component)``).
    """
    a = np.eye(n)
    for comp in np.unique(component):
        members = np.flatnonzero(component == comp)
        if anchor_index is not None and component[anchor_index] == comp:
            a[np.ix_(members, [anchor_index])] -= 1.0
        else:
            a[np.ix_(members, members)] -= 1.0 / len(members)
    return a
