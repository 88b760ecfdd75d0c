"""Batch refit of the tie-aware Thurstone posterior (Laplace approximation), block-wise.

Batch refit over all judgments (Laplace approximation)
------------------------------------------------------
ADF (:mod:`eyetest.core.design.posterior`) folds each judgment in once, in
arrival order, so early judgments are projected with a poor posterior and
never revisited.  With ``inference="laplace"`` the posterior is recomputed
from *all* judgments so far (aggregated per pair: ``n_ij`` wins of ``i``,
``n_ji`` wins of ``j``, ``t_ij`` ties) as the Laplace approximation at the
posterior mode (MacKay 2003, ch. 27).  The log posterior (model and draw
margin ``eps`` as in :mod:`eyetest.core.design.tie_model`)

    L(s, eps) = sum_{i<j} [ n_ij log Phi(d - eps) + n_ji log Phi(-d - eps)
                            + t_ij log(Phi(eps - d) - Phi(-eps - d)) ] - |s|^2 / (2 prior_sd^2),
    d = s_i - s_j,

is jointly concave in ``(s, eps)`` (ordered probit: Pratt, "Concavity of
the log likelihood", JASA 1981), so Newton's method with backtracking finds
the unique mode; the draw margin ``eps`` is estimated jointly (maximum
likelihood, no prior), and the covariance is the inverse of the negative
Hessian of ``L`` in ``s`` at the mode.  Per pair the derivatives in ``d``
are the TrueSkill ``v``/``w`` (:mod:`eyetest.core.design.tie_model`) with
``c = 1``; the ``eps`` derivatives follow from ``z = d - eps`` (win),
``z = -d - eps`` (loss) and ``Z = Phi(eps - d) - Phi(-eps - d)`` (tie).
This is the "full update" of ASAP (Mikhailiuk et al., ICPR 2020; there by
expectation propagation) instead of a single sequential pass; in the
design simulations, with the information gain as utility, it cut the
actively chosen judgments for N(0, 1) qualities from 365 to 320 and was
within noise for wider ones (``docs/study-design.md``).

When pairs never cross blocks, every matrix of the fit is block-diagonal;
:class:`BlockLayout` stacks the blocks of one size for batched algebra.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr

from eyetest.core.design.tie_model import log_phi
from eyetest.errors import SpecError


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
