"""mean_ci_t against scipy's t-interval and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from eyetest.core.stats import mean_ci_t


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=40),
       st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_matches_scipy_t_interval(values, confidence):
    x = np.asarray(values)
    ci = mean_ci_t(x, confidence=confidence)
    sem = stats.sem(x)
    if sem == 0:
        assert ci.low == pytest.approx(ci.mean) and ci.high == pytest.approx(ci.mean)
        return
    lo, hi = stats.t.interval(confidence, len(x) - 1, loc=x.mean(), scale=sem)
    assert ci.mean == pytest.approx(x.mean(), rel=1e-12, abs=1e-9)
    assert ci.low == pytest.approx(lo, rel=1e-9, abs=1e-6)
    assert ci.high == pytest.approx(hi, rel=1e-9, abs=1e-6)
    assert ci.n == len(x) and ci.excluded == 0


def test_closed_form_two_points():
    # n=2, values 0 and 2: mean 1, s = sqrt(2), sem = 1, t_{0.975,1} = 12.7062047...
    ci = mean_ci_t([0.0, 2.0])
    assert ci.mean == 1.0
    assert ci.high - 1.0 == pytest.approx(12.706204736174698, rel=1e-12)


def test_non_finite_excluded_and_small_n():
    ci = mean_ci_t([1.0, math.inf, 3.0, math.nan])
    assert ci.mean == 2.0 and ci.n == 2 and ci.excluded == 2
    one = mean_ci_t([5.0])
    assert one.mean == 5.0 and math.isnan(one.low) and one.n == 1
    none = mean_ci_t([math.inf])
    assert math.isnan(none.mean) and none.n == 0 and none.excluded == 1
    with pytest.raises(ValueError, match="confidence"):
        mean_ci_t([1.0, 2.0], confidence=1.5)
