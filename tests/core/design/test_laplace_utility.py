"""Laplace refit and ranking utility against independent references (optimiser, quadrature, inverses)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import minimize
from scipy.stats import norm

from eyetest.core.design import make_scheduler
from eyetest.core.design.evaluate import simulate_study
from eyetest.core.design.posterior import ThurstonePosterior, fit_laplace
from eyetest.core.design.simulator import truth_from_scores
from eyetest.core.design.utility import fisher_information, misorder_probability, misorder_weight, ranking_utility
from eyetest.errors import SpecError, UnknownNameError


def _judgments(seed, n=5, m=300, eps=0.4):
    rng = np.random.default_rng(seed)
    q = rng.normal(0.0, 1.0, n)
    i = rng.integers(0, n, m)
    j = (i + rng.integers(1, n, m)) % n
    t = q[i] - q[j] + rng.normal(size=m)
    return i, j, np.where(np.abs(t) < eps, 0, np.sign(t)).astype(int)


def _pair_counts(i, j, o, n):
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    key, inv = np.unique(lo * n + hi, return_inverse=True)
    lo_wins = ((o == 1) & (i == lo)) | ((o == -1) & (j == lo))
    tie = o == 0
    return (key // n, key % n, np.bincount(inv, lo_wins, len(key)),
            np.bincount(inv, ~lo_wins & ~tie, len(key)), np.bincount(inv, tie, len(key)))


def _neg_log_post(x, pi, pj, nw, nl, nt, prior_sd):
    s, e = x[:-1], x[-1]
    d = s[pi] - s[pj]
    ll = nw * norm.logcdf(d - e) + nl * norm.logcdf(-d - e) + nt * np.log(norm.cdf(e - d) - norm.cdf(-e - d))
    return -ll.sum() + 0.5 * s @ s / prior_sd**2


@pytest.mark.parametrize("seed", [0, 1])
def test_fit_laplace_is_the_posterior_mode_and_curvature(seed):
    n, prior_sd = 5, 1.5
    pi, pj, nw, nl, nt = _pair_counts(*_judgments(seed), n)
    mean, cov, eps = fit_laplace(n, pi, pj, nw, nl, nt, prior_sd=prior_sd, eps=0.2)
    ref = minimize(_neg_log_post, np.append(np.zeros(n), 0.3), args=(pi, pj, nw, nl, nt, prior_sd),
                   method="Nelder-Mead", options={"maxiter": 40000, "xatol": 1e-10, "fatol": 1e-13})
    np.testing.assert_allclose(mean, ref.x[:n], atol=2e-5)
    assert eps == pytest.approx(ref.x[n], abs=2e-5)
    # covariance = inverse of the finite-difference Hessian of -log posterior in s (eps held at the mode)
    x0, h = np.append(mean, eps), 1e-4
    hess = np.zeros((n, n))
    for a in range(n):
        for b in range(n):
            def f(da, db):
                x = x0.copy()
                x[a] += da
                x[b] += db
                return _neg_log_post(x, pi, pj, nw, nl, nt, prior_sd)
            hess[a, b] = (f(h, h) - f(h, -h) - f(-h, h) + f(-h, -h)) / (4 * h * h)
    np.testing.assert_allclose(cov, np.linalg.inv(hess), atol=1e-5)


def test_refit_ignores_judgment_order_and_matches_fit():
    i, j, o = _judgments(3, n=4, m=120)
    fits = []
    for perm in (np.arange(len(o)), np.random.default_rng(0).permutation(len(o))):
        post = ThurstonePosterior(4, prior_sd=1.0, ties=True)
        for k in perm:
            post.update(int(i[k]), int(j[k]), int(o[k]))
        post.refit()
        fits.append((post.mean.copy(), post.cov.copy(), post.eps))
    np.testing.assert_allclose(fits[0][0], fits[1][0], atol=1e-8)
    np.testing.assert_allclose(fits[0][1], fits[1][1], atol=1e-8)
    mean, cov, eps = fit_laplace(4, *_pair_counts(i, j, o, 4), prior_sd=1.0)
    np.testing.assert_allclose(fits[0][0], mean, atol=1e-8)
    assert fits[0][2] == pytest.approx(eps, abs=1e-8)


def test_fit_without_ties_is_probit_map():
    # two conditions, 30 wins and 10 losses, no ties
    mean, _, eps = fit_laplace(2, [0], [1], [30], [10], [0], prior_sd=10.0, ties=False)
    assert eps == 0.0
    d = mean[0] - mean[1]
    # with a flat-ish prior the MLE is Phi(d) = 30 / 40
    assert d == pytest.approx(norm.ppf(0.75), abs=0.01)


def test_fisher_information_closed_forms():
    # probit without ties at d = 0: 2 phi(0)^2 / (1/2) = 2 / pi
    assert fisher_information(np.array([0.0]), 0.0)[0] == pytest.approx(2 / np.pi)
    # definition sum_o (dP_o/dd)^2 / P_o by central differences
    for d, eps in [(0.3, 0.4), (-1.2, 0.25), (2.0, 0.8)]:
        probs = lambda x: np.array([norm.cdf(x - eps), norm.cdf(-x - eps), norm.cdf(eps - x) - norm.cdf(-eps - x)])
        dp = (probs(d + 1e-5) - probs(d - 1e-5)) / 2e-5
        assert fisher_information(np.array([d]), eps)[0] == pytest.approx((dp**2 / probs(d)).sum(), rel=1e-6)


def _fisher_mp(d, eps):
    """Three-outcome Fisher information sum_o (dP_o/dd)^2 / P_o at 60 digits (mpmath)."""
    mp = pytest.importorskip("mpmath")
    with mp.workdps(60):
        d, eps = mp.mpf(d), mp.mpf(eps)
        pa, pb = mp.npdf(d - eps), mp.npdf(d + eps)
        out = pa**2 / mp.ncdf(d - eps) + pb**2 / mp.ncdf(-d - eps)
        if eps > 0:
            out += (pa - pb) ** 2 / (mp.ncdf(eps - d) - mp.ncdf(-eps - d))
        return out


@pytest.mark.parametrize("eps", [0.0, 0.25, 1.0])
def test_fisher_information_matches_mpmath_in_the_tails(eps):
    # 1 - P(A) - P(B) cancels once Phi(|d| - eps) rounds to 1 (|d| > ~8.3): the tie term then exploded
    d = np.array([0.0, 0.5, 2.0, 5.0, 7.0, 7.5, 8.0, 8.5, 9.0, 10.0, 12.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0])
    for sign in (1.0, -1.0):
        got = fisher_information(sign * d, eps)
        for x, g in zip(d, got):
            ref = _fisher_mp(x, eps)
            if ref > 1e-300:
                assert g == pytest.approx(float(ref), rel=1e-9, abs=0), (x, eps)
            else:                                    # below the double range: 0 (or a subnormal)
                assert 0.0 <= g <= 1e-300
    # the per-pair form used by the ranking utility (array eps) agrees with the scalar one
    np.testing.assert_array_equal(fisher_information(d, np.full(len(d), eps)), fisher_information(d, eps))


def test_tie_probabilities_do_not_cancel_for_far_pairs():
    from eyetest.core.design.posterior import outcome_probabilities
    from eyetest.core.design.simulator import tie_probability

    mp = pytest.importorskip("mpmath")
    for delta in (-30.0, -12.0, -9.0, 9.0, 12.0, 30.0):
        with mp.workdps(250):                        # 1 - 1e-194 needs ~200 digits
            exact = float(mp.ncdf(mp.mpf(0.3) - delta) - mp.ncdf(mp.mpf(-0.3) - delta))
            # predictive with var_d = 3: c = 2
            exact_c = float(mp.ncdf((mp.mpf(0.3) - delta) / 2) - mp.ncdf((mp.mpf(-0.3) - delta) / 2))
        assert tie_probability(delta, threshold=0.3) == pytest.approx(exact, rel=1e-9, abs=0)
        p_tie = outcome_probabilities(np.array(delta), np.array(3.0), 0.3)[2]
        assert p_tie == pytest.approx(exact_c, rel=1e-9, abs=0)


def test_ranking_utility_gives_far_pairs_nearly_nothing():
    # two close conditions and one 12 units away: judging the far pairs cannot change the ranking
    mean = np.array([0.0, 0.3, 12.0])
    cov = np.diag([0.3, 0.3, 0.3])
    util = ranking_utility(mean, cov, np.array([0, 0, 1]), np.array([1, 2, 2]), 0.25)
    assert np.argmax(util) == 0
    assert util[1] < 1e-12 * util[0] and util[2] < 1e-12 * util[0]


def test_ranking_sampler_stops_judging_obvious_pairs():
    # 8 conditions 2 units apart (14 units end to end): once the order is clear, the unweighted ranking
    # utility must not pour judgments into pairs whose answer is certain (it used to give 175 of
    # judgments 400-600 to them, once their Fisher information had overflowed to ~1e268)
    conds = [f"c{k}" for k in range(8)]
    q = np.linspace(-7, 7, 8)
    s = make_scheduler("active", conds, seed=0, utility="ranking")
    rng = np.random.default_rng(0)
    far = 0
    for t in range(600):
        (a, b), = s.propose(1)
        i, j = int(a[1:]), int(b[1:])
        far += t >= 400 and abs(i - j) >= 4           # pairs >= 8 units apart
        x = q[i] - q[j] + rng.normal()
        s.observe(a, b, "tie" if abs(x) < 0.25 else ("A" if x > 0 else "B"))
    assert far <= 5


@pytest.mark.parametrize("mu,var", [(0.0, 1.0), (0.7, 0.3), (-2.0, 0.5)])
def test_misorder_weight_matches_quadrature(mu, var):
    s = np.sqrt(var)
    ref = quad(lambda d: norm.pdf(abs(d) / s) * abs(d) * norm.pdf(d, mu, s), -40, 40, points=[0.0])[0]
    assert misorder_weight(np.array(mu), np.array(var)) == pytest.approx(ref / (2 * s**3), rel=1e-8)


def test_ranking_utility_is_sherman_morrison_fall():
    # U(q) = I_q / (1 + I_q v_q) sum_p c_p (a_p' C a_q)^2 equals sum_p c_p (v_p - v_p') / I_q * I_q
    # with v_p' the variance after adding I_q a_q a_q' to the precision (explicit inverse)
    rng = np.random.default_rng(2)
    n, eps = 6, 0.3
    x = rng.normal(size=(n, n))
    cov = x @ x.T / n + 0.2 * np.eye(n)
    mean = rng.normal(size=n)
    pi, pj = np.triu_indices(n, 1)
    util = ranking_utility(mean, cov, pi, pj, eps)
    var = cov[pi, pi] + cov[pj, pj] - 2 * cov[pi, pj]
    c = misorder_weight(mean[pi] - mean[pj], var)
    for q in (0, 7, 14):
        a = np.zeros(n)
        a[pi[q]], a[pj[q]] = 1.0, -1.0
        scale = np.sqrt(1 + var[q])
        info = fisher_information(np.array([(mean[pi[q]] - mean[pj[q]]) / scale]), eps / scale)[0] / scale**2
        new = np.linalg.inv(np.linalg.inv(cov) + info * np.outer(a, a))
        var_new = new[pi, pi] + new[pj, pj] - 2 * new[pi, pj]
        assert util[q] == pytest.approx(float(c @ (var - var_new)), rel=1e-8)


def test_misorder_weighting_is_the_pairs_own_misorder_probability():
    # P_q = P(sign(s_i - s_j) != sign(mu_i - mu_j)) under the Gaussian posterior, checked by sampling it
    rng = np.random.default_rng(4)
    n, eps = 5, 0.3
    x = rng.normal(size=(n, n))
    cov = x @ x.T / n + 0.1 * np.eye(n)
    mean = rng.normal(scale=0.6, size=n)
    pi, pj = np.triu_indices(n, 1)
    draws = rng.multivariate_normal(mean, cov, size=200_000)
    wrong = (np.sign(draws[:, pi] - draws[:, pj]) != np.sign(mean[pi] - mean[pj])).mean(axis=0)
    var = cov[pi, pi] + cov[pj, pj] - 2 * cov[pi, pj]
    np.testing.assert_allclose(misorder_probability(mean[pi] - mean[pj], var), wrong, atol=4e-3)
    plain = ranking_utility(mean, cov, pi, pj, eps)
    weighted = ranking_utility(mean, cov, pi, pj, eps, misorder_weighted=True)
    np.testing.assert_allclose(weighted / plain, misorder_probability(mean[pi] - mean[pj], var), rtol=1e-12)


def test_misorder_weighting_drops_pairs_whose_order_is_settled():
    # two pairs with the same variance: the one whose estimated order is far beyond its sd is not worth a judgment
    mean = np.array([0.0, 0.1, 5.0])
    cov = np.diag([0.2, 0.2, 0.2])
    util = ranking_utility(mean, cov, np.array([0, 0]), np.array([1, 2]), 0.3, misorder_weighted=True)
    assert util[1] < 1e-6 * util[0]


def test_active_options_and_determinism():
    conds = [f"m{k}" for k in range(6)]
    for opts in ({}, {"utility": "ranking"}, {"utility": "eig"}, {"inference": "adf"}):
        runs = []
        for _ in range(2):
            s = make_scheduler("active", conds, seed=5, **opts)
            log = []
            for step in range(30):
                a, b = s.propose(1)[0]
                s.observe(a, b, ("A", "B", "tie")[step % 3])
                log.append((a, b))
            runs.append(log)
        assert runs[0] == runs[1]
    with pytest.raises(UnknownNameError):
        make_scheduler("active", conds, seed=0, inference="ep")
    with pytest.raises(UnknownNameError):
        make_scheduler("active", conds, seed=0, utility="entropy")


def test_simulate_study_laplace_estimator():
    truth = truth_from_scores({f"m{k}": 0.8 * k for k in range(6)})
    tr = simulate_study("random", truth, tie_share=0.2, rng=np.random.default_rng(1), seed=1, budget=300,
                        checkpoints=range(30, 301, 30), estimator="laplace")
    assert tr.tau[-1] >= 0.85
    with pytest.raises(UnknownNameError):
        simulate_study("random", truth, tie_share=0.2, rng=np.random.default_rng(1), seed=1, budget=30,
                       checkpoints=[30], estimator="mle")


def test_ranking_utility_blockwise_equals_full():
    # a block-diagonal covariance: the per-block computation must equal the full one
    rng = np.random.default_rng(4)
    block = np.array([0, 0, 0, 1, 1, 1, 1])
    cov = np.zeros((7, 7))
    for b in (0, 1):
        idx = np.flatnonzero(block == b)
        x = rng.normal(size=(len(idx), len(idx)))
        cov[np.ix_(idx, idx)] = x @ x.T / len(idx) + 0.3 * np.eye(len(idx))
    mean = rng.normal(size=7)
    pi, pj = np.triu_indices(7, 1)
    keep = block[pi] == block[pj]
    full = ranking_utility(mean, cov, pi[keep], pj[keep], 0.3)
    np.testing.assert_allclose(ranking_utility(mean, cov, pi[keep], pj[keep], 0.3, block=block), full, rtol=1e-12)


def test_blockwise_refit_equals_full():
    # two blocks never compared with each other: the block-wise Newton (Schur complement for the
    # shared margin) must give the same mode, margin and covariance as the dense solve
    i1, j1, o1 = _judgments(5, n=4, m=150)
    i2, j2, o2 = _judgments(6, n=3, m=100)
    i, j, o = np.concatenate([i1, i2 + 4]), np.concatenate([j1, j2 + 4]), np.concatenate([o1, o2])
    counts = _pair_counts(i, j, o, 7)
    block = np.array([0, 0, 0, 0, 1, 1, 1])
    dense = fit_laplace(7, *counts, prior_sd=1.0)
    blocked = fit_laplace(7, *counts, prior_sd=1.0, block=block)
    np.testing.assert_allclose(blocked[0], dense[0], atol=1e-9)
    np.testing.assert_allclose(blocked[1], dense[1], atol=1e-9)
    assert blocked[2] == pytest.approx(dense[2], abs=1e-9)


@pytest.mark.parametrize("tie_share,blocks", [(0.0, None), (0.2, "image")])
def test_active_default_recovers_order_without_ties_and_in_blocks(tie_share, blocks):
    # a clear truth (0.8 units apart) in two images: the refitted sampler ranks it within 400 judgments
    from eyetest.core.design.simulator import make_truth

    truth = make_truth(images=["i1", "i2"], methods=[f"m{k}" for k in range(5)], rng=np.random.default_rng(0),
                       method_quality={f"m{k}": 0.8 * k for k in range(5)}, image_sd=0.0, residual_sd=0.0,
                       scenario_sd=0.0)
    tr = simulate_study("active", truth, tie_share=tie_share, rng=np.random.default_rng(2), seed=2, budget=400,
                        checkpoints=range(40, 401, 40), blocks=blocks, keep_judgments=True, estimator="laplace")
    assert tr.tau[-1] >= 0.8
    assert (tr.outcome == 0).any() == (tie_share > 0)
    if blocks == "image":
        assert np.all((tr.first < 5) == (tr.second < 5))


def _blocked_counts(sizes, seed):
    """Judgment counts of blocks of the given sizes (pairs only within blocks), and the block labels."""
    rng = np.random.default_rng(seed)
    block = np.repeat(np.arange(len(sizes)), sizes)
    n = len(block)
    i, j = np.triu_indices(n, 1)
    keep = (block[i] == block[j]) & (rng.random(len(i)) < 0.8)
    i, j = i[keep], j[keep]
    q = rng.normal(size=n)
    t = q[i][:, None] - q[j][:, None] + rng.normal(size=(len(i), 4))
    return n, block, (i, j, (t > 0.3).sum(1), (t < -0.3).sum(1), (np.abs(t) <= 0.3).sum(1))


def test_blockwise_refit_with_many_blocks_of_mixed_sizes_equals_full():
    # singletons, pairs, odd and even blocks, in shuffled label order: the block-wise fit is the dense fit
    sizes = [3, 1, 6, 2, 3, 6, 1, 5, 2, 3]
    n, block, counts = _blocked_counts(sizes, 0)
    block = np.random.default_rng(1).permutation(len(sizes))[block]       # labels not in index order
    for learn in (True, False):
        dense = fit_laplace(n, *counts, learn_margin=learn)
        blocked = fit_laplace(n, *counts, learn_margin=learn, block=block)
        np.testing.assert_allclose(blocked[0], dense[0], atol=1e-9)
        np.testing.assert_allclose(blocked[1], dense[1], atol=1e-9)
        assert blocked[2] == pytest.approx(dense[2], abs=1e-9)
    with pytest.raises(SpecError, match="joins two blocks"):
        fit_laplace(n, *[np.append(c, x) for c, x in zip(counts, (0, n - 1, 1, 0, 0))], block=block)
    mean, cov = dense[0], dense[1]
    pi, pj = counts[0], counts[1]
    full = ranking_utility(mean, cov, pi, pj, 0.3, misorder_weighted=True)
    np.testing.assert_allclose(ranking_utility(mean, cov, pi, pj, 0.3, block=block, misorder_weighted=True),
                               full, rtol=1e-9, atol=1e-15)


def test_blockwise_refit_solves_all_blocks_of_one_size_in_one_call(monkeypatch):
    # 100 images x 6 methods (blocks="image"): the active sampler refits before every proposal that
    # follows a judgment, so a refit must not cost one LAPACK call (and an n x n pass) per block
    # per Newton step; before, 100 blocks made ~25 ms per proposal (now ~1-2 ms)
    n, block, counts = _blocked_counts([6] * 100 + [4] * 30, 2)
    calls = {"solve": 0, "inv": 0}
    for name in calls:
        real = getattr(np.linalg, name)

        def counted(*args, _real=real, _name=name, **kw):
            calls[_name] += 1
            return _real(*args, **kw)
        monkeypatch.setattr(np.linalg, name, counted)
    mean, cov, _ = fit_laplace(n, *counts, block=block, max_iter=5)
    assert calls["solve"] <= 2 * 5          # one batched call per block size (2 sizes) and Newton step
    assert calls["inv"] == 2
    monkeypatch.undo()
    dense = fit_laplace(n, *counts, max_iter=5)
    np.testing.assert_allclose(mean, dense[0], atol=1e-8)
    np.testing.assert_allclose(cov, dense[1], atol=1e-8)


def test_laplace_sampler_counts_judgments_and_refits_before_use():
    # inference="laplace" refits from the counts before every use, so observe() only counts: an
    # online O(n^2) covariance update per judgment (12 ms at 2000 conditions) would be overwritten
    # unread; the scores are still the Laplace mode of all judgments
    conds = [f"m{k}" for k in range(12)]
    s = make_scheduler("active", conds, seed=0)
    rng = np.random.default_rng(5)
    q = rng.normal(size=12)
    first, second, outcome = [], [], []
    for _ in range(45):
        (a, b), = s.propose(1)
        i, j = conds.index(a), conds.index(b)
        t = q[i] - q[j] + rng.normal()
        o = 0 if abs(t) < 0.3 else int(np.sign(t))
        cov = s.posterior.cov
        s.observe(a, b, {1: "A", -1: "B", 0: "tie"}[o])
        assert s.posterior.cov is cov
        first.append(i), second.append(j), outcome.append(o)
    mean, _, _ = fit_laplace(12, *_pair_counts(np.array(first), np.array(second), np.array(outcome), 12))
    np.testing.assert_allclose(list(s.scores().values()), mean, atol=1e-12)
