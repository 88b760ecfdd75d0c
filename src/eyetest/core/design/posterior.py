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

Batch refit over all judgments (Laplace approximation)
------------------------------------------------------
ADF folds each judgment in once, in arrival order, so early judgments are
projected with a poor posterior and never revisited.  With
``inference="laplace"`` the posterior is recomputed from *all* judgments so
far (aggregated per pair: ``n_ij`` wins of ``i``, ``n_ji`` wins of ``j``,
``t_ij`` ties) as the Laplace approximation at the posterior mode (MacKay
2003, ch. 27).  The log posterior

    L(s, eps) = sum_{i<j} [ n_ij log Phi(d - eps) + n_ji log Phi(-d - eps)
                            + t_ij log(Phi(eps - d) - Phi(-eps - d)) ] - |s|^2 / (2 prior_sd^2),
    d = s_i - s_j,

is jointly concave in ``(s, eps)`` (ordered probit: Pratt, "Concavity of
the log likelihood", JASA 1981), so Newton's method with backtracking finds
the unique mode; the draw margin ``eps`` is estimated jointly (maximum
likelihood, no prior), and the covariance is the inverse of the negative
Hessian of ``L`` in ``s`` at the mode.  Per pair the derivatives in ``d``
are the TrueSkill ``v``/``w`` above with ``c = 1``; the ``eps`` derivatives
follow from ``z = d - eps`` (win), ``z = -d - eps`` (loss) and
``Z = Phi(eps - d) - Phi(-eps - d)`` (tie).  This is the "full update" of
ASAP (there by expectation propagation) instead of a single sequential
pass; in the design simulations, with the information gain as utility,
it cut the actively chosen judgments for N(0, 1) qualities from 365 to 320
and was within noise for wider ones (``docs/study-design.md``).

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


def _pair_terms(d, eps, n_win, n_loss, n_tie, with_ties: bool):
    """Log-likelihood of aggregated pair counts and its derivatives in ``d`` and ``eps``.

    Returns ``(loglik, g_d, g_e, h_dd, h_ee, h_de)`` per pair (second
    derivatives of the log-likelihood; see the module docstring).
    """
    z1, z2 = d - eps, -d - eps
    l1, l2 = log_ndtr(z1), log_ndtr(z2)
    r1 = np.exp(log_phi(z1) - l1)
    r2 = np.exp(log_phi(z2) - l2)
    w1, w2 = r1 * (r1 + z1), r2 * (r2 + z2)
    ll = n_win * l1 + n_loss * l2
    g_d = n_win * r1 - n_loss * r2
    g_e = -n_win * r1 - n_loss * r2
    h_dd = -n_win * w1 - n_loss * w2
    h_ee = h_dd.copy()
    h_de = n_win * w1 - n_loss * w2
    if with_ties:
        ax = np.abs(d)
        hi, lo = eps - ax, -eps - ax
        log_hi = log_ndtr(hi)
        log_z = log_hi + np.log1p(-np.exp(np.minimum(log_ndtr(lo) - log_hi, -1e-300)))
        r_hi, r_lo = np.exp(log_phi(hi) - log_z), np.exp(log_phi(lo) - log_z)
        pos = d >= 0            # u = eps - d and l = -eps - d are (hi, lo) for d >= 0, (-lo, -hi) else
        r_u, r_l = np.where(pos, r_hi, r_lo), np.where(pos, r_lo, r_hi)
        u, low = eps - d, -eps - d
        td, te = r_l - r_u, r_u + r_l                      # d log Z / dd, d log Z / d eps
        zdd = low * r_l - u * r_u                          # Z_dd / Z = Z_ee / Z
        zde = u * r_u + low * r_l                          # Z_de / Z
        ll = ll + n_tie * log_z
        g_d = g_d + n_tie * td
        g_e = g_e + n_tie * te
        h_dd = h_dd + n_tie * (zdd - td**2)
        h_ee = h_ee + n_tie * (zdd - te**2)
        h_de = h_de + n_tie * (zde - td * te)
    return ll, g_d, g_e, h_dd, h_ee, h_de


def _laplacian(n, i, j, h):
    """``sum_k h_k (e_i - e_j)(e_i - e_j)^T`` for pairs ``(i[k], j[k])``."""
    out = np.zeros((n, n))
    diag = np.bincount(i, h, n) + np.bincount(j, h, n)
    out[i, j] -= h
    out[j, i] -= h
    out[np.arange(n), np.arange(n)] += diag
    return out


class BlockLayout:
    """Conditions grouped by block, the blocks of one size stacked, for batched block-diagonal algebra.

    When pairs never cross blocks and the prior is independent, every
    matrix of the Laplace fit (negative Hessian, its inverse) and of the
    ranking utility is block-diagonal.  ``members[g]`` is a ``(k, m)``
    array: the conditions of the ``k`` blocks of size ``m`` (each block in
    index order), so one batched LAPACK call handles all blocks of a size
    and nothing of size ``n x n`` is formed per Newton step (``block=None``:
    one block of all ``n`` conditions).  ``group``, ``slot``, ``local``:
    per condition, its stack, its block in the stack and its place in the
    block.
    """

    def __init__(self, n: int, block=None):
        self.n = int(n)
        labels = np.zeros(self.n, dtype=np.int64) if block is None else np.asarray(block)
        _, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
        order = np.argsort(inverse, kind="stable")            # conditions by block, in index order
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.group = np.empty(self.n, dtype=np.int64)
        self.slot = np.empty(self.n, dtype=np.int64)
        self.local = np.empty(self.n, dtype=np.int64)
        self.members: list[np.ndarray] = []
        for g, m in enumerate(np.unique(sizes)):
            which = np.flatnonzero(sizes == m)
            members = order[starts[which][:, None] + np.arange(m)]
            self.members.append(members)
            self.group[members] = g
            self.slot[members] = np.arange(len(which))[:, None]
            self.local[members] = np.arange(m)
        self.whole = len(self.members) == 1 and self.members[0].shape[0] == 1

    def pair_index(self, i, j) -> list[tuple]:
        """Per stack: the pairs ``(i[k], j[k])`` in it and their flat offsets in its ``(k, m, m)`` array."""
        i = np.asarray(i, dtype=np.int64)
        j = np.asarray(j, dtype=np.int64)
        cross = (self.group[i] != self.group[j]) | (self.slot[i] != self.slot[j])
        if cross.any():
            k = int(np.flatnonzero(cross)[0])
            raise SpecError("block", f"pair ({i[k]}, {j[k]}) joins two blocks; a block-wise fit needs "
                                     "every pair inside one block")
        out = []
        for g, members in enumerate(self.members):
            m = members.shape[1]
            sel = np.flatnonzero(self.group[i] == g)
            base = self.slot[i[sel]] * m * m
            li, lj = self.local[i[sel]], self.local[j[sel]]
            out.append((sel, base + li * (m + 1), base + lj * (m + 1), base + li * m + lj, base + lj * m + li))
        return out

    def laplacian(self, index: list[tuple], h, diag: float = 0.0) -> list[np.ndarray]:
        """Per stack ``(k, m, m)``: ``sum_p h_p (e_i - e_j)(e_i - e_j)^T + diag I`` (``index``: :meth:`pair_index`)."""
        h = np.asarray(h, float)
        out = []
        for members, (sel, ii, jj, ij, ji) in zip(self.members, index):
            k, m = members.shape
            size, hs = k * m * m, h[sel]
            flat = (np.bincount(ii, hs, size) + np.bincount(jj, hs, size)
                    - np.bincount(ij, hs, size) - np.bincount(ji, hs, size))
            mat = flat.astype(float, copy=False).reshape(k, m, m)    # (bincount of nothing is int)
            if diag:
                mat[:, np.arange(m), np.arange(m)] += diag
            out.append(mat)
        return out

    def solve(self, mats: list[np.ndarray], rhs) -> np.ndarray:
        """``x`` with ``mat x = rhs`` for the block-diagonal ``mat`` given by stacks (``rhs``: ``(n,)`` or ``(n, r)``)."""
        rhs = np.asarray(rhs, float)
        if self.whole:
            return np.linalg.solve(mats[0][0], rhs)
        cols = rhs.reshape(self.n, -1)
        out = np.empty_like(cols)
        for members, mat in zip(self.members, mats):
            out[members] = np.linalg.solve(mat, cols[members])
        return out.reshape(rhs.shape)

    def dense(self, stacks: list[np.ndarray]) -> np.ndarray:
        """The ``n x n`` block-diagonal matrix of the stacks (zero across blocks)."""
        if self.whole:
            return stacks[0][0]
        out = np.zeros((self.n, self.n))
        for members, mat in zip(self.members, stacks):
            out[members[:, :, None], members[:, None, :]] = mat
        return out

    def stacks(self, mat) -> list[np.ndarray]:
        """The diagonal blocks of an ``n x n`` matrix, stacked by size (inverse of :meth:`dense`)."""
        mat = np.asarray(mat, float)
        return [mat[members[:, :, None], members[:, None, :]] for members in self.members]


def fit_laplace(n: int, i, j, n_win, n_loss, n_tie, *, prior_sd: float = 1.0, eps: float = 0.25,
                ties: bool = True, learn_margin: bool = True, start=None, max_iter: int = 50,
                tol: float = 1e-9, block=None):
    """Posterior mode and Laplace covariance of the tie-aware Thurstone model.

    Parameters
    ----------
    n : int
        Number of conditions.
    i, j : int arrays
        The distinct compared pairs.
    n_win, n_loss, n_tie : arrays
        Per pair: judgments preferring ``i``, preferring ``j``, and ties.
    prior_sd : float
        Sd of the N(0, prior_sd^2) prior of every quality.
    eps : float
        Draw margin (starting value if ``learn_margin``); ignored without ties.
    start : array, optional
        Starting point of Newton's method (e.g. the previous mode).
    block : int array or :class:`BlockLayout`, optional
        Block of each condition when pairs never cross blocks: the Hessian
        in ``s`` is then block-diagonal and every solve costs
        ``sum_b n_b^3`` (the shared margin by a Schur complement), in one
        batched call per block size.

    Returns
    -------
    mean : (n,) posterior mode
    cov : (n, n) inverse negative Hessian at the mode
    eps : float, the (estimated) draw margin; 0 without ties

    Notes
    -----
    Maximises ``L(s, eps)`` of the module docstring by Newton steps with
    step halving (the objective is concave, so the mode is unique).
    """
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    counts = [np.asarray(c, float) for c in (n_win, n_loss, n_tie)]
    with_ties = bool(ties)
    eps = max(float(eps), 0.01) if with_ties else 0.0
    learn = with_ties and learn_margin and counts[2].sum() > 0 and (counts[0] + counts[1]).sum() > 0
    prec = 1.0 / float(prior_sd) ** 2
    s = np.zeros(n) if start is None else np.array(start, float)
    layout = block if isinstance(block, BlockLayout) else BlockLayout(n, block)
    index = layout.pair_index(i, j)

    def objective(s_, e_):
        return float(_pair_terms(s_[i] - s_[j], e_, *counts, with_ties)[0].sum()) - 0.5 * prec * float(s_ @ s_)

    f = objective(s, eps)
    for _ in range(int(max_iter)):
        _, g_d, g_e, h_dd, h_ee, h_de = _pair_terms(s[i] - s[j], eps, *counts, with_ties)
        grad = np.bincount(i, g_d, n) - np.bincount(j, g_d, n) - prec * s
        neg_h = layout.laplacian(index, -h_dd, prec)
        if learn:
            # [[H, b], [b', h]] [x; y] = [grad; g_e] by the Schur complement of H (block-diagonal)
            cross = -(np.bincount(i, h_de, n) - np.bincount(j, h_de, n))
            sol = layout.solve(neg_h, np.column_stack([grad, cross]))
            schur = -float(h_ee.sum()) + 1e-9 - float(cross @ sol[:, 1])
            y = (float(g_e.sum()) - float(cross @ sol[:, 0])) / schur
            step = np.append(sol[:, 0] - sol[:, 1] * y, y)
        else:
            step = np.append(layout.solve(neg_h, grad), 0.0)
        t = 1.0
        while True:
            e_new = eps + t * step[n]
            if e_new > 1e-3 or not with_ties:
                s_new = s + t * step[:n]
                f_new = objective(s_new, e_new)
                if f_new >= f - 1e-12:
                    break
            t *= 0.5
            if t < 1e-8:
                s_new, e_new, f_new = s, eps, f
                break
        converged = abs(f_new - f) <= tol * (1.0 + abs(f))
        s, eps, f = s_new, e_new, f_new
        if converged:
            break
    h_dd = _pair_terms(s[i] - s[j], eps, *counts, with_ties)[3]
    inverses = [np.linalg.inv(mat) for mat in layout.laplacian(index, -h_dd, prec)]
    cov = layout.dense([0.5 * (inv + inv.transpose(0, 2, 1)) for inv in inverses])   # exactly symmetric
    return s, cov, (float(eps) if with_ties else 0.0)
