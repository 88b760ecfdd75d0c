"""Online Gaussian posterior of a tie-aware Thurstone model, and information gain.

Model (Thurstone Case V with a draw margin, as in TrueSkill)
-------------------------------------------------------------
Every condition ``i`` has a latent quality ``s_i``.  A judgment of the pair
``(i, j)`` observes ``t = s_i - s_j + n`` with ``n ~ N(0, 1)``, so one unit of
the scale is the standard deviation of a perceived difference
(``P(i > j | s_i - s_j = 1) = Phi(1) = 0.84`` without ties; one JOD, the
difference 75 % of observers see, is ``Phi^-1(0.75) = 0.674`` units).  The
answer is

* ``i`` preferred if ``t > eps``, ``j`` preferred if ``t < -eps``,
* a tie if ``|t| <= eps`` (``eps`` = draw margin; ``eps = 0``: no ties).

Posterior (assumed density filtering, Minka 2001)
--------------------------------------------------
The prior is ``s ~ N(0, prior_sd^2 I)``.  After each judgment the exact
posterior ``N(mu, Sigma) * L(a^T s)`` with ``a = e_i - e_j`` is projected back
onto a Gaussian by matching moments.  With ``mu_d = a^T mu``,
``var_d = a^T Sigma a``, ``c = sqrt(var_d + 1)`` and ``x = mu_d / c``:

    mu    <- mu    + Sigma a * v / c
    Sigma <- Sigma - (Sigma a)(Sigma a)^T * w / c^2

where ``(v, w)`` are the TrueSkill truncated-Gaussian correction functions
(Herbrich, Minka & Graepel, "TrueSkill: a Bayesian skill rating system",
NIPS 2007), with ``e = eps / c``:

    win : v = phi(x - e) / Phi(x - e),              w = v (v + x - e)
    draw: v = (phi(-e - x) - phi(e - x)) / Z,       Z = Phi(e - x) - Phi(-e - x)
          w = v^2 + ((e - x) phi(e - x) + (e + x) phi(e + x)) / Z

Unlike the factorised TrueSkill update this keeps the full covariance, like
the message-passing posterior of ASAP (Mikhailiuk, Wilmot, Perez-Ortiz,
Yue & Mantiuk, "Active sampling for pairwise comparisons via approximate
message passing and information gain maximization", ICPR 2020).

Expected information gain
-------------------------
Because the likelihood depends on ``s`` only through ``d = a^T s``, the
update leaves ``p(s | d)`` unchanged, so the Kullback-Leibler divergence
between the updated and the current posterior equals the 1-D divergence of
the marginal of ``d``.  The expected information gain of asking ``(i, j)`` is

    EIG(i, j) = sum_o P(o) KL( N(mu_d', var_d'(o)) || N(mu_d, var_d) ),
    KL(N(m1, v1) || N(m0, v0)) = (log(v0 / v1) + (v1 + (m1 - m0)^2) / v0 - 1) / 2

over the outcomes ``o`` in {i, j, tie}; ``P(i) = Phi((mu_d - eps) / c)``,
``P(j) = Phi((-mu_d - eps) / c)``, ``P(tie) = 1 - P(i) - P(j)``.  This is the
ASAP criterion (expected KL between posterior and prior) made tie-aware.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr, ndtr, ndtri

from eyetest.errors import SpecError

#: one just-objectionable difference in model units (75 % preference)
JOD = float(ndtri(0.75))
_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
_W_MIN, _W_MAX = 1e-12, 1.0 - 1e-9


def _log_phi(x):
    return -0.5 * np.square(x) - _LOG_SQRT_2PI


def win_correction(x, e):
    """TrueSkill ``(v, w)`` for a win: ``x = mu_d / c``, ``e = eps / c`` (arrays)."""
    z = np.asarray(x, float) - np.asarray(e, float)
    v = np.exp(_log_phi(z) - log_ndtr(z))
    w = np.minimum(np.maximum(v * (v + z), _W_MIN), _W_MAX)
    return v, w


def draw_correction(x, e):
    """TrueSkill ``(v, w)`` for a draw (tie); ``e > 0`` required.

    Computed through ``|x|`` (``v`` is odd in ``x``, ``w`` even) with log-space
    differences of normal CDFs so that far-apart pairs do not underflow.
    """
    x = np.asarray(x, float)
    e = np.broadcast_to(np.asarray(e, float), x.shape)
    ax = np.abs(x)
    hi, lo = e - ax, -e - ax  # Z = Phi(hi) - Phi(lo), lo < hi
    log_hi = log_ndtr(hi)
    log_z = log_hi + np.log1p(-np.exp(np.minimum(log_ndtr(lo) - log_hi, -1e-300)))
    phi_hi = np.exp(_log_phi(hi) - log_z)
    phi_lo = np.exp(_log_phi(lo) - log_z)
    v_abs = phi_lo - phi_hi  # <= 0: a tie pulls the difference towards 0
    w = np.minimum(np.maximum(v_abs**2 + hi * phi_hi - lo * phi_lo, _W_MIN), _W_MAX)
    return np.sign(x) * v_abs, w


def outcome_probabilities(mu_d, var_d, eps):
    """``(P(i preferred), P(j preferred), P(tie))`` under the predictive of ``d``."""
    c = np.sqrt(np.asarray(var_d, float) + 1.0)
    p_i = ndtr((mu_d - eps) / c)
    p_j = ndtr((-mu_d - eps) / c)
    return p_i, p_j, np.maximum(1.0 - p_i - p_j, 0.0)


def _gauss_kl(m1, v1, m0, v0):
    return 0.5 * (np.log(v0 / v1) + (v1 + (m1 - m0) ** 2) / v0 - 1.0)


def expected_information_gain(mu_d, var_d, eps):
    """Expected KL gain of judging pairs with difference marginal ``N(mu_d, var_d)``.

    Vectorised over pairs; see the module docstring for the formula.
    """
    mu_d = np.asarray(mu_d, float)
    var_d = np.maximum(np.asarray(var_d, float), 1e-12)
    c = np.sqrt(var_d + 1.0)
    x = mu_d / c
    e = eps / c
    p_i, p_j, p_t = outcome_probabilities(mu_d, var_d, eps)
    gain = np.zeros_like(mu_d)
    for sign, p in ((1.0, p_i), (-1.0, p_j)):
        v, w = win_correction(sign * x, e)
        m1 = mu_d + sign * var_d * v / c
        v1 = var_d * (1.0 - var_d * w / c**2)
        gain += p * _gauss_kl(m1, v1, mu_d, var_d)
    if eps > 0:
        v, w = draw_correction(x, e)
        m1 = mu_d + var_d * v / c
        v1 = var_d * (1.0 - var_d * w / c**2)
        gain += p_t * _gauss_kl(m1, v1, mu_d, var_d)
    return gain


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
        self.learn_margin = bool(learn_margin) and self.ties
        self.n_observed = 0

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
        self.n_observed += 1
        if self.learn_margin:
            gain = 2.0 / (self.n_observed + 20.0)
            self.eps = min(max(self.eps * float(np.exp(gain * ((outcome == 0) - p_tie))), 0.01), 3.0)

    def centred_sd(self) -> np.ndarray:
        """Posterior sd of ``s_i - mean(s)``: the uncertainty of each score on a free-offset scale."""
        cov = self.cov
        row = cov.mean(axis=1)
        return np.sqrt(np.maximum(np.diag(cov) - 2.0 * row + cov.mean(), 0.0))
