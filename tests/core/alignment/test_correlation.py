"""SRCC, KRCC, PLCC, RMSE against scipy; direction handling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from eyetest.core.alignment.correlation import alignment_stats, krcc, plcc, rmse, srcc
from eyetest.core.alignment.logistic import logistic5
from eyetest.errors import MetricInputError

# small integer ranges force many ties, the hard case for rank statistics
pairs = st.integers(3, 40).flatmap(
    lambda n: st.tuples(st.lists(st.integers(-4, 4), min_size=n, max_size=n),
                        st.lists(st.integers(-4, 4), min_size=n, max_size=n)))


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")
@settings(max_examples=60, deadline=None)
@given(pairs)
def test_rank_statistics_equal_scipy_with_ties(xy):
    x, y = (np.array(v, dtype=float) for v in xy)
    expected_s = stats.spearmanr(x, y).statistic
    expected_k = stats.kendalltau(x, y, variant="b").statistic
    expected_p = stats.pearsonr(x, y).statistic if x.std() > 0 and y.std() > 0 else np.nan
    np.testing.assert_allclose(srcc(x, y), expected_s, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(krcc(x, y), expected_k, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(krcc(x, y, block=3), expected_k, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(plcc(x, y), expected_p, atol=1e-12, equal_nan=True)


def test_continuous_data_equal_scipy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    y = x + rng.normal(size=500)
    assert srcc(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert krcc(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)
    assert plcc(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)
    assert rmse(x, y) == pytest.approx(np.sqrt(np.mean((x - y) ** 2)))


def test_direction_adjusted_statistics():
    rng = np.random.default_rng(1)
    human = rng.normal(size=60)
    lower_better = -human + 0.2 * rng.normal(size=60)  # e.g. NIQE
    s = alignment_stats(lower_better, human, higher_is_better=False)
    assert s.srcc == pytest.approx(-stats.spearmanr(lower_better, human).statistic, abs=1e-12)
    assert s.krcc == pytest.approx(-stats.kendalltau(lower_better, human).statistic, abs=1e-12)
    assert s.plcc_raw == pytest.approx(-stats.pearsonr(lower_better, human).statistic, abs=1e-12)
    assert s.srcc > 0.8 and s.plcc > 0.8
    # declared the wrong way round, the metric disagrees on every statistic
    wrong = alignment_stats(lower_better, human, higher_is_better=True)
    assert wrong.srcc == pytest.approx(-s.srcc) and wrong.plcc < 0
    assert wrong.rmse == pytest.approx(s.rmse, rel=1e-3)


def test_plcc_after_fit_is_pearson_of_mapped_values():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, 150)
    y = logistic5(x, 4.0, 10.0, 0.5, 0.5, 2.0) + 0.1 * rng.normal(size=150)
    s = alignment_stats(x, y, higher_is_better=True)
    mapped = s.fit.predict(x)
    assert s.plcc == pytest.approx(stats.pearsonr(mapped, y).statistic, abs=1e-12)
    assert s.rmse == pytest.approx(np.sqrt(np.mean((mapped - y) ** 2)))
    assert s.plcc > s.plcc_raw  # the nonlinearity is real, the fit must help
    d = s.as_dict()
    assert d["fit_status"] == "ok" and d["n"] == 150 and "fit" not in d


def test_constant_input_gives_nan_not_error():
    assert np.isnan(srcc([1, 1, 1], [1, 2, 3]))
    assert np.isnan(krcc([1, 1, 1], [1, 2, 3]))
    assert np.isnan(plcc([1, 2, 3], [5, 5, 5]))


def test_bad_lengths_named():
    with pytest.raises(MetricInputError, match="lengths differ"):
        srcc([1, 2, 3], [1, 2])
    with pytest.raises(MetricInputError, match="at least 2"):
        alignment_stats([1.0], [1.0], higher_is_better=True)


def test_krcc_large_n_path_agrees_with_pairwise_count(monkeypatch):
    # above 3000 values krcc switches to scipy's O(n log n) tau-b; the exact
    # pairwise count must give the same number on the same data
    import eyetest.core.alignment.correlation as corr

    rng = np.random.default_rng(4)
    x = rng.integers(0, 50, 3001).astype(float)
    y = x + rng.integers(0, 30, 3001)
    fast = krcc(x, y)
    monkeypatch.setattr(corr, "_KRCC_EXACT_MAX", 10**9)
    assert krcc(x, y) == pytest.approx(fast, abs=1e-12)
