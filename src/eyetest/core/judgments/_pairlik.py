"""Per-pair log-likelihoods of the paired-comparison models and a batched Newton solver.

Every model is written in terms of the score difference ``d = s_i - s_j`` of
an unordered pair (i, j), the counts ``w`` (i preferred), ``l`` (j preferred),
``t`` (ties) and at most one tie parameter ``tau``.  For each model we return
the log-likelihood and its first and second derivatives in ``d`` and ``tau``
(all arrays of shape (B, P): B replicates, P pairs), so one Newton solver
serves every model and bootstrap replicates are solved together.

Models
------
bradley-terry : ``P(i>j) = 1 / (1 + exp(-d))``; a tie counts 1/2 for each side.
thurstone     : ``P(i>j) = Phi(d / sigma)`` with ``sigma = 1 / Phi^-1(0.75)`` so
                that d = 1 gives 75 % preference (JOD units); ties count 1/2.
davidson      : ``P(i>j) = e^{d/2} / Z``, ``P(tie) = nu / Z``,
                ``Z = e^{d/2} + e^{-d/2} + nu``, ``tau = log nu`` (Davidson 1970).
rao-kupper    : ``P(i>j) = 1 / (1 + theta e^{-d})`` with ``theta = e^eta``,
                ``P(tie) = (theta^2 - 1) / ((1 + theta e^{-d})(1 + theta e^{d}))``,
                ``tau = eta > 0`` (Rao & Kupper 1967).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.special import expit, log_ndtr, ndtri

#: probit scale that makes 1 JOD = 75 % preference (Perez-Ortiz & Mantiuk 2017)
JOD_SIGMA = float(1.0 / ndtri(0.75))
TIE_MODELS = ("davidson", "rao-kupper")
MODELS = ("bradley-terry", "thurstone", "davidson", "rao-kupper")
_D_CLIP = 60.0


def _softplus(x):
    return np.logaddexp(0.0, x)


def _mills(x):
    """phi(x) / Phi(x), computed in log space for stability."""
    return np.exp(-0.5 * x * x - 0.5 * np.log(2 * np.pi) - log_ndtr(x))


def pair_derivatives(model: str, d, tau, w, l, t):
    """Log-likelihood and derivatives per pair.

    Returns ``(ll, l_d, l_dd, l_t, l_tt, l_dt)``; the tau terms are ``None``
    for models without a tie parameter.  ``tau`` has shape (B, 1).
    """
    d = np.clip(d, -_D_CLIP, _D_CLIP)
    if model in ("bradley-terry", "thurstone"):
        wh = w + 0.5 * t
        lh = l + 0.5 * t
        if model == "bradley-terry":
            ll = -wh * _softplus(-d) - lh * _softplus(d)
            p = expit(d)
            l_d = wh - (wh + lh) * p
            l_dd = -(wh + lh) * p * (1.0 - p)
        else:
            x = d / JOD_SIGMA
            ll = wh * log_ndtr(x) + lh * log_ndtr(-x)
            mp, mn = _mills(x), _mills(-x)
            l_d = (wh * mp - lh * mn) / JOD_SIGMA
            l_dd = (-wh * mp * (x + mp) - lh * mn * (-x + mn)) / JOD_SIGMA**2
        return ll, l_d, l_dd, None, None, None
    if model == "davidson":
        n = w + l + t
        # log Z = log(e^{d/2} + e^{-d/2} + e^tau), evaluated stably
        h = 0.5 * d
        lz = np.logaddexp(np.logaddexp(h, -h), tau)
        pa, pb, pt = np.exp(h - lz), np.exp(-h - lz), np.exp(tau - lz)
        ll = w * (h - lz) + l * (-h - lz) + t * (tau - lz)
        z_d = 0.5 * (pa - pb)  # d log Z / dd
        l_d = 0.5 * (w - l) - n * z_d
        l_dd = -n * (0.25 * (pa + pb) - z_d * z_d)
        l_t = t - n * pt
        l_tt = -n * (pt - pt * pt)
        l_dt = n * z_d * pt
        return ll, l_d, l_dd, l_t, l_tt, l_dt
    if model == "rao-kupper":
        eta = tau
        wt, lt = w + t, l + t
        s1, s2 = expit(eta - d), expit(eta + d)
        e2 = np.exp(-2.0 * eta)
        g = 2.0 * eta + np.log1p(-e2)  # log(e^{2 eta} - 1)
        ll = -wt * _softplus(eta - d) - lt * _softplus(eta + d) + t * g
        v1, v2 = s1 * (1 - s1), s2 * (1 - s2)
        l_d = wt * s1 - lt * s2
        l_dd = -wt * v1 - lt * v2
        l_t = -wt * s1 - lt * s2 + t * 2.0 / (1.0 - e2)
        l_tt = -wt * v1 - lt * v2 - t * 4.0 * e2 / (1.0 - e2) ** 2
        l_dt = wt * v1 - lt * v2
        return ll, l_d, l_dd, l_t, l_tt, l_dt
    raise ValueError(model)  # callers check the name first


def _incidence(i, j, n):
    p = len(i)
    rows = np.concatenate([np.arange(p), np.arange(p)])
    cols = np.concatenate([i, j])
    vals = np.concatenate([np.ones(p), -np.ones(p)])
    return csr_matrix((vals, (rows, cols)), shape=(p, n))


def loglik_and_derivs(model, i, j, n, s, tau, w, l, t, prior_sd, inc=None, tau_prior_sd=None):
    """Total log-likelihood (B,), gradient (B, K) and negative Hessian (B, K, K).

    ``K = n + 1`` when the model has a tie parameter, else ``n``.  The
    optional Gaussian priors are ``s ~ N(0, prior_sd^2)`` and ``tau ~ N(0,
    tau_prior_sd^2)`` (the latter keeps the tie parameter finite when a
    block has only ties).
    """
    inc = _incidence(i, j, n) if inc is None else inc
    d = s[:, i] - s[:, j]
    ll, l_d, l_dd, l_t, l_tt, l_dt = pair_derivatives(model, d, tau, w, l, t)
    b = s.shape[0]
    has_tau = l_t is not None
    k = n + 1 if has_tau else n
    grad = np.zeros((b, k))
    grad[:, :n] = np.asarray(inc.T @ l_d.T).T
    neg_h = np.zeros((b, k, k))
    c = -l_dd
    off = np.zeros((b, n, n))
    off[:, i, j] = c
    off = off + off.transpose(0, 2, 1)
    neg_h[:, :n, :n] = -off
    diag = off.sum(axis=2)
    idx = np.arange(n)
    neg_h[:, idx, idx] = diag
    total = ll.sum(axis=1)
    if has_tau:
        grad[:, n] = l_t.sum(axis=1)
        cross = np.asarray(inc.T @ (-l_dt).T).T
        neg_h[:, :n, n] = cross
        neg_h[:, n, :n] = cross
        neg_h[:, n, n] = -l_tt.sum(axis=1)
    if prior_sd is not None:
        total = total - 0.5 * (s * s).sum(axis=1) / prior_sd**2
        grad[:, :n] -= s / prior_sd**2
        neg_h[:, idx, idx] += 1.0 / prior_sd**2
    if has_tau and tau_prior_sd is not None:
        total = total - 0.5 * tau[:, 0] ** 2 / tau_prior_sd**2
        grad[:, n] -= tau[:, 0] / tau_prior_sd**2
        neg_h[:, n, n] += 1.0 / tau_prior_sd**2
    return total, grad, neg_h


def newton(model, i, j, n, w, l, t, *, s0, tau0, prior_sd, fit_tau=True,
           max_iter=100, tol=1e-10, tau_prior_sd=None):
    """Maximise the log-likelihood of B count sets at once by damped Newton.

    Without a prior the scale is identified only up to a shift; the step is
    computed with ``J/n`` added to the negative Hessian's score block, which
    keeps ``sum(s)`` fixed (at 0 when ``s0`` is centred).  Steps are halved
    while the log-likelihood decreases (per replicate), and the tie
    parameter of Rao-Kupper is kept positive.

    Returns ``s (B, n)``, ``tau (B,)``, ``loglik (B,)``, ``neg_hessian
    (B, K, K)``, ``converged (B,)``, ``iterations``.
    """
    inc = _incidence(i, j, n)
    s = np.array(s0, dtype=float, copy=True)
    b = s.shape[0]
    has_tau = model in TIE_MODELS
    tau = np.broadcast_to(np.asarray(tau0, float).reshape(-1, 1), (b, 1)).copy() if has_tau else None
    gauge = np.zeros((n + int(has_tau),) * 2)
    if prior_sd is None:
        gauge[:n, :n] = 1.0 / n
    active = np.ones(b, bool)
    converged = np.zeros(b, bool)
    ll, grad, neg_h = loglik_and_derivs(model, i, j, n, s, tau, w, l, t, prior_sd, inc, tau_prior_sd)
    it = 0
    for it in range(1, max_iter + 1):
        if has_tau and not fit_tau:
            grad[:, n] = 0.0
            neg_h[:, n, :] = 0.0
            neg_h[:, :, n] = 0.0
            neg_h[:, n, n] = 1.0
        a = np.flatnonzero(active)
        try:
            step = np.linalg.solve(neg_h[a] + gauge, grad[a][..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.stack([np.linalg.lstsq(h + gauge, g, rcond=None)[0] for h, g in zip(neg_h[a], grad[a])])
        big = np.abs(step).max(axis=1, keepdims=True)
        step = step * np.minimum(1.0, 5.0 / np.maximum(big, 1e-300))
        scale = np.ones(len(a))
        s_a, tau_a, ll_a = s[a], (tau[a] if has_tau else None), ll[a]
        if has_tau and model == "rao-kupper":
            new_eta = tau_a[:, 0] + step[:, n]
            lim = np.where(new_eta <= 0.0, 0.5 * tau_a[:, 0] / np.maximum(-step[:, n], 1e-300), 1.0)
            scale = np.minimum(scale, lim)
        for _ in range(30):
            s_new = s_a + scale[:, None] * step[:, :n]
            tau_new = tau_a + scale[:, None] * step[:, n:] if has_tau else None
            ll_new, g_new, h_new = loglik_and_derivs(model, i, j, n, s_new, tau_new, w[a], l[a], t[a], prior_sd, inc,
                                                     tau_prior_sd)
            worse = ll_new < ll_a - 1e-12 * np.maximum(1.0, np.abs(ll_a))
            if not worse.any():
                break
            scale = np.where(worse, scale * 0.5, scale)
        s[a], ll[a], grad[a], neg_h[a] = s_new, ll_new, g_new, h_new
        if has_tau:
            tau[a] = tau_new
        done = np.abs(scale[:, None] * step).max(axis=1) < tol
        converged[a[done]] = True
        active[a[done]] = False
        if not active.any():
            break
    tau_out = tau[:, 0] if has_tau else np.full(b, np.nan)
    return s, tau_out, ll, neg_h, converged, it


def _gradient_prep(model, w, l, t):
    """Count combinations the gradient needs, computed once per chord solve."""
    if model in ("bradley-terry", "thurstone"):
        return (w + 0.5 * t, l + 0.5 * t, w + l + t)
    if model == "davidson":
        return (0.5 * (w - l), w + l + t, t)
    return (w + t, l + t, t)


def _gradient_terms(model, d, tau, prep):
    """Only ``(l_d, l_t)`` of :func:`pair_derivatives` (cheaper, for the chord iterations)."""
    if model == "bradley-terry":
        wh, _, ntot = prep
        return wh - ntot * expit(d), None
    if model == "thurstone":
        wh, lh, _ = prep
        x = d / JOD_SIGMA
        return (wh * _mills(x) - lh * _mills(-x)) / JOD_SIGMA, None
    if model == "davidson":
        half_diff, ntot, t = prep
        h = 0.5 * np.clip(d, -_D_CLIP, _D_CLIP)
        lz = np.logaddexp(np.logaddexp(h, -h), tau)
        pa, pb, pt = np.exp(h - lz), np.exp(-h - lz), np.exp(tau - lz)
        return half_diff - ntot * 0.5 * (pa - pb), t - ntot * pt
    wt, lt, t = prep
    s1, s2 = expit(tau - d), expit(tau + d)
    return wt * s1 - lt * s2, -wt * s1 - lt * s2 + t * 2.0 / (1.0 - np.exp(-2.0 * tau))


def chord(model, i, j, n, w, l, t, *, s0, tau0, neg_h0, prior_sd, fit_tau=True,
          max_iter=30, tol=1e-8, tau_prior_sd=None):
    """Solve B nearby problems with the fixed Hessian of the point fit (chord method).

    Each iteration is ``theta <- theta + M^-1 grad_b(theta)`` with ``M`` the
    (gauge-fixed) negative Hessian at the point estimate, inverted once.
    Bootstrap replicates differ from the data by O(1/sqrt(N)), so the
    iteration contracts quickly; replicates that do not reach ``tol`` are
    reported as not converged (callers re-solve them with :func:`newton`).
    """
    inc_t = _incidence(i, j, n).T.tocsr()
    has_tau = model in TIE_MODELS
    k = n + int(has_tau)
    m = np.array(neg_h0, dtype=float, copy=True)
    if prior_sd is None:
        m[:n, :n] += 1.0 / n
    if has_tau and not fit_tau:
        m[n, :] = 0.0
        m[:, n] = 0.0
        m[n, n] = 1.0
    m_inv_t = np.ascontiguousarray(np.linalg.inv(m).T)
    b = w.shape[0]
    theta = np.zeros((b, k))
    theta[:, :n] = s0
    if has_tau:
        theta[:, n] = tau0
    prep = _gradient_prep(model, w, l, t)
    grad = np.zeros((b, k))
    converged = np.zeros(b, bool)
    for _ in range(max_iter):
        tau = theta[:, n:] if has_tau else None
        g_d, g_t = _gradient_terms(model, theta[:, i] - theta[:, j], tau, prep)
        grad[:, :n] = (inc_t @ g_d.T).T
        if prior_sd is not None:
            grad[:, :n] -= theta[:, :n] / prior_sd**2
        if has_tau:
            grad[:, n] = g_t.sum(axis=1) if fit_tau else 0.0
            if fit_tau and tau_prior_sd is not None:
                grad[:, n] -= theta[:, n] / tau_prior_sd**2
        step = grad @ m_inv_t
        theta += step
        if has_tau and model == "rao-kupper":
            np.maximum(theta[:, n], 1e-9, out=theta[:, n])
        converged = np.abs(step).max(axis=1) < tol
        if converged.all():
            break
    s = theta[:, :n]
    tau_out = theta[:, n] if has_tau else np.full(b, np.nan)
    return s, tau_out, converged
