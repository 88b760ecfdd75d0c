"""Online full-covariance Gaussian posterior of the tie-aware Thurstone model.

Posterior (assumed density filtering, Minka 2001)
--------------------------------------------------
The model, the draw margin ``eps`` and the correction functions ``(v, w)``
are in :mod:`eyetest.core.design.tie_model`.  The prior is
``s ~ N(0, prior_sd^2 I)``.  After each judgment the exact posterior
``N(mu, Sigma) * L(a^T s)`` with ``a = e_i - e_j`` is projected back onto a
Gaussian by matching moments.  With ``mu_d = a^T mu``,
``var_d = a^T Sigma a``, ``c = sqrt(var_d + 1)`` and ``x = mu_d / c``:

    mu    <- mu    + Sigma a * v / c
    Sigma <- Sigma - (Sigma a)(Sigma a)^T * w / c^2

with the TrueSkill ``(v, w)`` (Herbrich, Minka & Graepel, NIPS 2007).
Unlike the factorised TrueSkill update this keeps the full covariance, like
the message-passing posterior of ASAP (Mikhailiuk, Wilmot, Perez-Ortiz,
Yue & Mantiuk, "Active sampling for pairwise comparisons via approximate
message passing and information gain maximization", ICPR 2020).

Batch refit
-----------
:meth:`ThurstonePosterior.refit` replaces the online state by the Laplace
approximation at the posterior mode of all judgments so far
(:func:`~eyetest.core.design.laplace.fit_laplace`; the objective, its
concavity and the references are in :mod:`eyetest.core.design.laplace`).

The model primitives (:mod:`~eyetest.core.design.tie_model`) and the Laplace
fit (:mod:`~eyetest.core.design.laplace`) are re-exported here.
"""

from __future__ import annotations

import numpy as np

from eyetest.core.design.laplace import BlockLayout, fit_laplace
from eyetest.core.design.tie_model import (
    JOD, draw_correction, expected_information_gain, log1mexp, log_phi, outcome_probabilities,
    win_correction,
)
from eyetest.errors import SpecError

__all__ = [
    "JOD", "BlockLayout", "ThurstonePosterior", "draw_correction", "expected_information_gain",
    "fit_laplace", "log1mexp", "log_phi", "outcome_probabilities", "win_correction",
]


class ThurstonePosterior:
    """Full-covariance Gaussian posterior over condition qualities, updated online.

    Parameters
    ----------
    n : int
        Number of conditions.
    prior_sd : float
        Standard deviation of the N(0, prior_sd^2) prior of every quality.
    ties : bool
        Whether ties are possible.  With ties the draw margin ``eps`` is
        learned online by stochastic approximation (Robbins & Monro 1951):
        after each judgment ``eps <- eps * exp(g_n * (1[tie] - P(tie)))`` with
        ``g_n = 2 / (n + 20)``, where ``P(tie)`` is the model's predicted tie
        probability of that pair just before the update; it is therefore a
        function of the judgments only (deterministic).
    draw_margin : float
        Starting (or, with ``learn_margin=False``, fixed) margin ``eps``.
        The default ``0.25`` gives a pair of equal quality a 20 % tie
        probability (``2 Phi(eps) - 1 = 0.2``).
    """

    def __init__(self, n: int, *, prior_sd: float = 1.0, ties: bool = True,
                 draw_margin: float = 0.25, learn_margin: bool = True):
        self.n = int(n)
        self.mean = np.zeros(self.n)
        self.cov = np.eye(self.n) * float(prior_sd) ** 2
        self.ties = bool(ties)
        self.eps = float(draw_margin) if ties else 0.0
        self.draw_margin = self.eps               # the starting margin
        self.learn_margin = bool(learn_margin) and self.ties
        self.prior_sd = float(prior_sd)
        self.n_observed = 0
        self.wins = np.zeros((self.n, self.n))    # wins[i, j]: judgments preferring i over j
        self.draws = np.zeros((self.n, self.n))   # draws[i, j] (i < j): ties of the pair
        self.n_refit = 0                          # n_observed at the last :meth:`refit`
        self._pairs = np.empty(0, dtype=np.int64)  # i * n + j (i < j) of every judged pair, sorted
        self._pair_set: set[int] = set()

    def difference(self, i, j):
        """Mean and variance of ``s_i - s_j`` (vectorised over index arrays)."""
        i = np.asarray(i)
        j = np.asarray(j)
        cov = self.cov
        return self.mean[i] - self.mean[j], cov[i, i] + cov[j, j] - 2.0 * cov[i, j]

    def information_gain(self, i, j):
        """Expected information gain of judging each pair ``(i[k], j[k])``."""
        mu_d, var_d = self.difference(i, j)
        return expected_information_gain(mu_d, var_d, self.eps)

    def update(self, i: int, j: int, outcome: int) -> None:
        """Fold in one judgment: ``outcome`` = +1 (i preferred), -1 (j preferred), 0 (tie)."""
        mu_d, var_d = self.difference(i, j)
        c = np.sqrt(var_d + 1.0)
        x = mu_d / c
        e = self.eps / c
        if self.learn_margin:
            p_tie = outcome_probabilities(mu_d, var_d, self.eps)[2]
        if outcome == 0:
            if self.eps <= 0:
                raise SpecError("outcome", "a tie cannot be observed by a model made with ties=False")
            v, w = draw_correction(x, e)
        else:
            v, w = win_correction(outcome * x, e)
            v = outcome * v
        sa = self.cov[:, i] - self.cov[:, j]
        self.mean = self.mean + sa * (float(v) / c)
        self.cov = self.cov - np.outer(sa, sa) * (float(w) / c**2)
        self.record(i, j, outcome)
        if self.learn_margin:
            gain = 2.0 / (self.n_observed + 20.0)
            self.eps = min(max(self.eps * float(np.exp(gain * ((outcome == 0) - p_tie))), 0.01), 3.0)

    def record(self, i: int, j: int, outcome: int) -> None:
        """Count one judgment for :meth:`refit` without the online update (mean, cov, eps unchanged).

        For a caller that refits before every use of the posterior (the
        ``active`` sampler with ``inference="laplace"``): the ``O(n^2)``
        online update would be overwritten unread.  :meth:`update` counts
        through this too.
        """
        i, j = int(i), int(j)
        if outcome == 0:
            if not self.ties:
                raise SpecError("outcome", "a tie cannot be observed by a model made with ties=False")
            self.draws[min(i, j), max(i, j)] += 1
        else:
            self.wins[(i, j) if outcome > 0 else (j, i)] += 1
        self.n_observed += 1
        key = min(i, j) * self.n + max(i, j)
        if key not in self._pair_set:
            self._pair_set.add(key)
            self._pairs = np.insert(self._pairs, np.searchsorted(self._pairs, key), key)

    def refit(self, *, min_for_margin: int = 20, block=None, warm: bool = True) -> None:
        """Replace the ADF state by the Laplace posterior of all judgments so far.

        See "Batch refit" in the module docstring (:func:`fit_laplace`).  The
        draw margin is re-estimated (maximum likelihood, clipped to [0.01, 3])
        once ``min_for_margin`` judgments were seen.  ``warm=True``: Newton
        starts at the previous mean and margin, and before ``min_for_margin``
        judgments the online margin is kept.  ``warm=False``: Newton starts at
        zero and the starting ``draw_margin`` (kept as the margin before
        ``min_for_margin`` judgments), so the result is a function of the
        judgment counts per pair alone, bit for bit, whatever the order of
        the judgments and the earlier refits.
        ``block`` (block per condition, or its :class:`BlockLayout`; no
        judgment across blocks) makes the refit block-wise (see
        :func:`fit_laplace`).  The judged pairs are kept as they come in
        (:meth:`record`), so a refit costs nothing of order ``n^2`` beyond
        the covariance it returns.
        """
        i, j = np.divmod(self._pairs, self.n)            # the judged pairs, in np.triu_indices order
        if len(i):
            learn = self.learn_margin and self.n_observed >= min_for_margin
            mean, cov, eps = fit_laplace(self.n, i, j, self.wins[i, j], self.wins[j, i], self.draws[i, j],
                                         prior_sd=self.prior_sd, eps=self.eps if warm else self.draw_margin,
                                         ties=self.ties, learn_margin=learn, start=self.mean if warm else None,
                                         block=block)
            self.mean, self.cov = mean, cov
            if self.ties:
                self.eps = min(max(eps, 0.01), 3.0)
        self.n_refit = self.n_observed

    def centred_sd(self) -> np.ndarray:
        """Posterior sd of ``s_i - mean(s)``: the uncertainty of each score on a free-offset scale."""
        cov = self.cov
        row = cov.mean(axis=1)
        return np.sqrt(np.maximum(np.diag(cov) - 2.0 * row + cov.mean(), 0.0))
