"""The online Thurstone posterior against numerical integration of the exact model."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from eyetest.core.design.posterior import (
    JOD, ThurstonePosterior, expected_information_gain, outcome_probabilities,
)


def _likelihood(d, outcome, eps):
    # exact model: t = d + N(0, 1); i preferred if t > eps, j if t < -eps, tie otherwise
    if outcome == 1:
        return norm.cdf(d - eps)
    if outcome == -1:
        return norm.cdf(-d - eps)
    return norm.cdf(eps - d) - norm.cdf(-eps - d)


def _quadrature_moments(m, v, outcome, eps):
    d = np.linspace(m - 12 * np.sqrt(v), m + 12 * np.sqrt(v), 40001)
    w = norm.pdf(d, m, np.sqrt(v)) * _likelihood(d, outcome, eps)
    z = np.trapezoid(w, d)
    mean = np.trapezoid(w * d, d) / z
    var = np.trapezoid(w * (d - mean) ** 2, d) / z
    return z, mean, var


def test_jod_is_75_percent():
    assert norm.cdf(JOD) == pytest.approx(0.75)


@pytest.mark.parametrize("outcome", [1, -1, 0])
@pytest.mark.parametrize("mean", [0.0, 1.3, -4.0])
def test_update_matches_quadrature(outcome, mean):
    # two conditions: d = s0 - s1 has prior N(mean, 2 * 0.8^2)
    post = ThurstonePosterior(2, prior_sd=0.8, draw_margin=0.4, learn_margin=False)
    post.mean = np.array([mean / 2, -mean / 2])
    m0, v0 = post.difference(0, 1)
    z, m1, v1 = _quadrature_moments(m0, v0, outcome, 0.4)
    p = outcome_probabilities(m0, v0, 0.4)
    assert p[{1: 0, -1: 1, 0: 2}[outcome]] == pytest.approx(z, rel=1e-6)
    post.update(0, 1, outcome)
    m, v = post.difference(0, 1)
    assert m == pytest.approx(m1, abs=1e-6)
    assert v == pytest.approx(v1, rel=1e-5)


def test_information_gain_matches_quadrature():
    eps = 0.3
    for m0, v0 in [(0.0, 2.0), (1.5, 0.4), (-3.0, 1.0)]:
        gain = 0.0
        for outcome in (1, -1, 0):
            z, m1, v1 = _quadrature_moments(m0, v0, outcome, eps)
            gain += z * 0.5 * (np.log(v0 / v1) + (v1 + (m1 - m0) ** 2) / v0 - 1)
        assert expected_information_gain(m0, v0, eps) == pytest.approx(gain, rel=1e-5)


def test_gain_prefers_uncertain_close_pairs():
    g = expected_information_gain(np.array([0.0, 3.0, 0.0]), np.array([2.0, 2.0, 0.1]), 0.3)
    assert g[0] > g[1] and g[0] > g[2]


def test_full_covariance_update_matches_importance_sampling():
    # three conditions with correlated prior; exact moment matching of p(s) L(s0 - s2)
    rng = np.random.default_rng(0)
    post = ThurstonePosterior(3, draw_margin=0.5, learn_margin=False)
    post.mean = np.array([0.3, -0.2, 0.1])
    post.cov = np.array([[1.0, 0.4, 0.2], [0.4, 1.2, 0.3], [0.2, 0.3, 0.9]])
    s = rng.multivariate_normal(post.mean, post.cov, size=400_000)
    w = _likelihood(s[:, 0] - s[:, 2], 0, 0.5)
    w /= w.sum()
    mean = w @ s
    cov = (s - mean).T @ ((s - mean) * w[:, None])
    post.update(0, 2, 0)
    np.testing.assert_allclose(post.mean, mean, atol=1e-2)
    np.testing.assert_allclose(post.cov, cov, atol=1e-2)


def test_extreme_differences_stay_finite():
    post = ThurstonePosterior(2, draw_margin=0.3, learn_margin=False)
    post.mean = np.array([40.0, -40.0])
    for outcome in (1, -1, 0):
        p = ThurstonePosterior(2, draw_margin=0.3, learn_margin=False)
        p.mean = post.mean.copy()
        p.update(0, 1, outcome)
        assert np.all(np.isfinite(p.mean)) and np.all(np.isfinite(p.cov))
        assert np.all(np.linalg.eigvalsh(p.cov) > -1e-12)
    assert np.isfinite(expected_information_gain(np.array([80.0, -80.0]), np.array([2.0, 2.0]), 0.3)).all()


def test_learned_margin_tracks_tie_rate():
    # equal conditions, 40 % ties: eps should approach Phi^-1(0.7) * sqrt(1 + var_d) ~ Phi^-1(0.7)
    rng = np.random.default_rng(3)
    post = ThurstonePosterior(2, ties=True)
    for _ in range(4000):
        t = rng.normal()
        eps_true = norm.ppf(0.7)
        post.update(0, 1, 0 if abs(t) < eps_true else (1 if t > 0 else -1))
    assert post.eps == pytest.approx(norm.ppf(0.7), rel=0.1)
