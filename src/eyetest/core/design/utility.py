"""Ranking utility of a pair: expected reduction of the number of misordered pairs.

Expected information gain (ASAP, :mod:`eyetest.core.design.posterior`)
rewards learning *any* score better; a study is judged by its *ranking*.
This utility targets the ranking directly.

Criterion
    With true differences ``Delta_p`` and the (approximately Gaussian)
    estimate of every comparable pair ``p`` having variance ``v_p``, the
    expected number of misordered pairs is

        E = sum_p Phi(-|Delta_p| / sqrt(v_p)).

    One more judgment of pair ``q``, carrying Fisher information ``I_q``
    about ``d_q``, adds ``I_q a_q a_q^T`` to the precision (``a_q = e_i - e_j``),
    so by the Sherman-Morrison formula ``v_p`` falls by
    ``I_q (a_p^T C a_q)^2 / (1 + I_q v_q)`` (``C`` the posterior covariance).
    To first order ``E`` then falls by

        U(q) = I_q / (1 + I_q v_q) * sum_p c_p (a_p^T C a_q)^2
             = I_q / (1 + I_q v_q) * a_q^T (C K C) a_q,
        K = sum_p c_p a_p a_p^T,     c_p = E[ phi(|Delta_p| / s_p) |Delta_p| ] / (2 s_p^3),

    with ``s_p^2 = v_p`` and the expectation over the posterior
    ``Delta_p ~ N(mu_p, v_p)``, in closed form (product of two Gaussians and
    the folded-normal mean, Leone, Nelson & Nottingham, Technometrics 1961):

        E[phi(|D|/s)|D|] = k * ( t sqrt(2/pi) exp(-m^2 / (2 t^2)) + m (1 - 2 Phi(-m/t)) ),
        t^2 = (1/v + 1/s^2)^-1,  m = mu t^2 / v,
        k = sqrt(s^2 / (s^2 + v)) exp(-mu^2 / (2 (s^2 + v))) / sqrt(2 pi).

    Because ``K`` is a weighted graph Laplacian, ``U`` of all pairs costs one
    ``n x n`` product (``O(n^3 + pairs)``), as cheap as the information gain.
    This is the linearisation, around the current posterior, of the
    A-optimal-type design criterion for ranking; the same objective with the
    truth plugged in gives the oracle bound of
    ``benchmarks/design_efficiency.py``.
Misorder weighting (the sampler's default, ``utility="misorder"``)
    A study is scored by its ranking *when it is read out*, so a judgment is
    worth most where it can correct an ordering that is wrong now. The
    default multiplies ``U(q)`` by the posterior probability that the
    current estimate orders pair ``q`` itself wrongly,

        P_q = Phi(-|mu_q| / sqrt(v_q)),

    a heuristic, measured rather than derived: over 100 simulated studies
    (``benchmarks/design_efficiency.py``) it needs 295 instead of 340
    judgments for N(0, 1) qualities (280 instead of 315 before the
    replay-exact batches) and fewer or the same in the other scenarios
    (``docs/study-design.md``).
Fisher information of one judgment
    For ``t = d + N(0, 1)`` cut at ``+-eps`` (three outcomes):

        I(d) = phi(d - eps)^2 / Phi(d - eps) + phi(d + eps)^2 / Phi(-d - eps)
               + (phi(d - eps) - phi(d + eps))^2 / P(tie),
        P(tie) = Phi(eps - |d|) - Phi(-eps - |d|)

    (the sum over outcomes of ``(dP_o / dd)^2 / P_o``).  ``I`` is even in ``d``
    and falls to 0 as ``|d|`` grows; it is computed at ``|d|`` with ``P(tie)``
    in log space, because ``1 - P(A) - P(B)`` cancels to 0 (or to a floor,
    making the tie term explode) once ``Phi(|d| - eps)`` rounds to 1.
    It is taken at the predictive (``d = mu_q``, noise sd ``sqrt(1 + v_q)``):
    ``I_q = I(mu_q / c; eps / c) / c^2`` with ``c^2 = 1 + v_q``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr, ndtr

from eyetest.core.design.posterior import BlockLayout, log1mexp, log_phi

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


def fisher_information(d, eps):
    """Fisher information about ``d`` of one three-outcome judgment (module docstring).

    ``I`` is even in ``d`` (swapping ``A`` and ``B``), so it is computed at
    ``a = |d|``, where both normal CDFs of the tie probability lie in the
    lower tail: ``P(tie) = Phi(eps - a) - Phi(-eps - a)`` is taken in log
    space, ``log Phi(eps - a) + log(1 - exp(log Phi(-eps - a) - log Phi(eps - a)))``
    (:func:`~eyetest.core.design.posterior.log1mexp`), and
    the tie term's numerator as ``phi(a - eps)^2 (1 - exp(-2 a eps))^2``
    (``phi(a + eps) = phi(a - eps) exp(-2 a eps)``).  Nothing cancels, so
    ``I(d)`` stays accurate to the last digits and falls smoothly to 0 as
    ``|d|`` grows (underflowing to 0 once below ~1e-308, near ``|d| = 37``).
    """
    a, eps = np.broadcast_arrays(np.abs(np.asarray(d, float)), np.asarray(eps, float))
    log_phi_lo = log_phi(a - eps)
    log_cdf_lo = log_ndtr(-a - eps)                    # P(B), and the lower end of P(tie)
    info = np.exp(2.0 * log_phi_lo - log_ndtr(a - eps)) + np.exp(2.0 * log_phi(a + eps) - log_cdf_lo)
    if not np.any(eps > 0):
        return info                                    # the tie term is 0 when eps = 0
    log_cdf_hi = log_ndtr(eps - a)
    log_tie = log_cdf_hi + log1mexp(log_cdf_lo - log_cdf_hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        # log 0 = -inf at a = 0 (numerator) and at eps = 0 (both): the term is 0 there
        log_num = 2.0 * (log_phi_lo + np.log(-np.expm1(-2.0 * a * eps)))
        tie = np.exp(log_num - log_tie)
    return info + np.where(eps > 0, tie, 0.0)


def misorder_weight(mu, var):
    """``c_p``: posterior-averaged sensitivity of a pair's misordering probability to its variance."""
    mu = np.asarray(mu, float)
    v = np.maximum(np.asarray(var, float), 1e-12)
    s2 = v                                    # the pair's variance now
    t2 = 1.0 / (1.0 / v + 1.0 / s2)
    t = np.sqrt(t2)
    m = mu * t2 / v
    k = np.sqrt(s2 / (s2 + v)) * np.exp(-mu**2 / (2.0 * (s2 + v)) - _LOG_SQRT_2PI)
    folded = t * np.sqrt(2.0 / np.pi) * np.exp(-m**2 / (2.0 * t2)) + m * (1.0 - 2.0 * ndtr(-m / t))
    return k * folded / (2.0 * s2**1.5)


def misorder_probability(mu, var):
    """``P_q = Phi(-|mu_q| / sqrt(v_q))``: posterior probability that the estimate orders the pair wrongly."""
    mu = np.asarray(mu, float)
    return ndtr(-np.abs(mu) / np.sqrt(np.maximum(np.asarray(var, float), 1e-12)))


def _quad_form(cov, c, pair_i, pair_j):
    """``a_q^T C K C a_q`` for every pair, ``K = sum_p c_p a_p a_p^T``."""
    n = cov.shape[0]
    lap = np.zeros((n, n))
    lap[pair_i, pair_j] -= c
    lap[pair_j, pair_i] -= c
    lap[np.arange(n), np.arange(n)] += np.bincount(pair_i, c, n) + np.bincount(pair_j, c, n)
    b = cov @ lap @ cov
    return b[pair_i, pair_i] + b[pair_j, pair_j] - 2.0 * b[pair_i, pair_j]


def ranking_utility(mean, cov, pair_i, pair_j, eps, *, block=None, misorder_weighted: bool = False):
    """``U(q)`` of every pair ``(pair_i[q], pair_j[q])``: first-order fall in misordered pairs.

    ``misorder_weighted``: times :func:`misorder_probability` of the pair (module docstring).

    ``block`` (block index per condition, or its
    :class:`~eyetest.core.design.posterior.BlockLayout`; pairs never cross
    blocks) makes the cost ``sum_b n_b^3`` instead of ``n^3`` (one batched
    product per block size), assuming, as for any
    posterior of within-block judgments and an independent prior, that
    ``cov`` has no covariance between blocks.
    """
    mean = np.asarray(mean, float)
    cov = np.asarray(cov, float)
    pair_i = np.asarray(pair_i, dtype=np.int64)
    pair_j = np.asarray(pair_j, dtype=np.int64)
    mu = mean[pair_i] - mean[pair_j]
    var = np.maximum(cov[pair_i, pair_i] + cov[pair_j, pair_j] - 2.0 * cov[pair_i, pair_j], 1e-12)
    c = misorder_weight(mu, var)
    if block is None or (not isinstance(block, BlockLayout) and int(np.max(block)) == 0):
        quad = _quad_form(cov, c, pair_i, pair_j)
    else:
        layout = block if isinstance(block, BlockLayout) else BlockLayout(len(mean), block)
        index = layout.pair_index(pair_i, pair_j)
        quad = np.empty(len(pair_i))
        for cov_b, lap_b, (sel, ii, jj, ij, _) in zip(layout.stacks(cov), layout.laplacian(index, c), index):
            b = (cov_b @ lap_b @ cov_b).ravel()              # C K C of every block of the stack
            quad[sel] = b[ii] + b[jj] - 2.0 * b[ij]
    scale = np.sqrt(1.0 + var)
    info = fisher_information(mu / scale, eps / scale) / scale**2
    util = info * np.maximum(quad, 0.0) / (1.0 + info * var)
    return util * misorder_probability(mu, var) if misorder_weighted else util
