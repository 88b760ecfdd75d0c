"""The tie-aware Thurstone pair model: scale, outcome probabilities, Gaussian corrections, information gain.

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

Gaussian correction functions (assumed density filtering, Minka 2001)
----------------------------------------------------------------------
With the difference ``d = a^T s`` (``a = e_i - e_j``) distributed
``N(mu_d, var_d)``, ``c = sqrt(var_d + 1)`` and ``x = mu_d / c``, the exact
update ``N(mu_d, var_d) * L(d)`` projected back onto a Gaussian by matching
moments has

    mean     mu_d + var_d * v / c,    variance  var_d * (1 - var_d * w / c^2)

(the full-covariance form is in :mod:`eyetest.core.design.posterior`), where
``(v, w)`` are the TrueSkill truncated-Gaussian correction functions
(Herbrich, Minka & Graepel, "TrueSkill: a Bayesian skill rating system",
NIPS 2007), with ``e = eps / c``:

    win : v = phi(x - e) / Phi(x - e),              w = v (v + x - e)
    draw: v = (phi(-e - x) - phi(e - x)) / Z,       Z = Phi(e - x) - Phi(-e - x)
          w = v^2 + ((e - x) phi(e - x) + (e + x) phi(e + x)) / Z

Expected information gain
-------------------------
Because the likelihood depends on ``s`` only through ``d = a^T s``, the
update leaves ``p(s | d)`` unchanged, so the Kullback-Leibler divergence
between the updated and the current posterior equals the 1-D divergence of
the marginal of ``d``.  The expected information gain of asking ``(i, j)`` is

    EIG(i, j) = sum_o P(o) KL( N(mu_d', var_d'(o)) || N(mu_d, var_d) ),
    KL(N(m1, v1) || N(m0, v0)) = (log(v0 / v1) + (v1 + (m1 - m0)^2) / v0 - 1) / 2

over the outcomes ``o`` in {i, j, tie}; ``P(i) = Phi((mu_d - eps) / c)``,
``P(j) = Phi((-mu_d - eps) / c)``, ``P(tie) = 1 - P(i) - P(j)`` (computed as
``Phi((eps - |mu_d|) / c) - Phi((-eps - |mu_d|) / c)``, which does not cancel).  This is the
ASAP criterion (expected KL between posterior and prior) made tie-aware
(Mikhailiuk, Wilmot, Perez-Ortiz, Yue & Mantiuk, "Active sampling for
pairwise comparisons via approximate message passing and information gain
maximization", ICPR 2020).
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr, ndtr, ndtri

#: one just-objectionable difference in model units (75 % preference)
JOD = float(ndtri(0.75))
_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
_W_MIN, _W_MAX = 1e-12, 1.0 - 1e-9
_LOG2 = float(np.log(2.0))


def log_phi(x):
    """log of the standard normal density, ``-x^2 / 2 - log sqrt(2 pi)``."""
    return -0.5 * np.square(x) - _LOG_SQRT_2PI


def win_correction(x, e):
    """TrueSkill ``(v, w)`` for a win: ``x = mu_d / c``, ``e = eps / c`` (arrays)."""
    z = np.asarray(x, float) - np.asarray(e, float)
    v = np.exp(log_phi(z) - log_ndtr(z))
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
    phi_hi = np.exp(log_phi(hi) - log_z)
    phi_lo = np.exp(log_phi(lo) - log_z)
    v_abs = phi_lo - phi_hi  # <= 0: a tie pulls the difference towards 0
    w = np.minimum(np.maximum(v_abs**2 + hi * phi_hi - lo * phi_lo, _W_MIN), _W_MAX)
    return np.sign(x) * v_abs, w


def log1mexp(r):
    """``log(1 - exp(r))`` for ``r <= 0`` (``-inf`` at 0), accurate near 0 and far below it.

    ``log(-expm1(r))`` for ``r > -log 2``, ``log1p(-exp(r))`` below (Maechler,
    "Accurately computing log(1 - exp(-|a|))", Rmpfr package vignette, 2012).
    With ``r = log Phi(lo) - log Phi(hi)`` it gives ``log(Phi(hi) - Phi(lo))``
    from log-CDFs, which keep full relative accuracy in the lower tail.
    """
    r = np.minimum(np.asarray(r, float), 0.0)
    with np.errstate(divide="ignore"):
        return np.where(r > -_LOG2, np.log(-np.expm1(r)), np.log1p(-np.exp(np.minimum(r, -_LOG2))))


def outcome_probabilities(mu_d, var_d, eps):
    """``(P(i preferred), P(j preferred), P(tie))`` under the predictive of ``d``.

    ``P(tie) = Phi(e - |x|) - Phi(-e - |x|)`` (``x = mu_d / c``, ``e = eps / c``):
    a difference of two lower-tail CDFs, accurate where ``1 - P(i) - P(j)``
    would cancel.
    """
    c = np.sqrt(np.asarray(var_d, float) + 1.0)
    p_i = ndtr((mu_d - eps) / c)
    p_j = ndtr((-mu_d - eps) / c)
    ax, e = np.abs(np.asarray(mu_d, float)) / c, eps / c
    return p_i, p_j, ndtr(e - ax) - ndtr(-e - ax)


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
