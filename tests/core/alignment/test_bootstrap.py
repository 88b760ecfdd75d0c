"""Cluster bootstrap: reproducibility, clusters kept together, coverage sanity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from eyetest.core.alignment.bootstrap import bootstrap_ci, bootstrap_many, unit_rows
from eyetest.errors import MetricInputError


def test_same_seed_same_interval_and_estimate_on_all_rows():
    values = np.random.default_rng(0).normal(size=50)
    stat = lambda rows: float(values[rows].mean())  # noqa: E731
    a = bootstrap_ci(stat, np.arange(50), rng=np.random.default_rng(7), n_boot=300)
    b = bootstrap_ci(stat, np.arange(50), rng=np.random.default_rng(7), n_boot=300)
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert a.estimate == pytest.approx(values.mean())
    assert a.ci_low < a.estimate < a.ci_high and a.n_valid == 300


def test_mean_interval_close_to_t_interval():
    values = np.random.default_rng(1).normal(loc=3.0, scale=2.0, size=400)
    ci = bootstrap_ci(lambda r: float(values[r].mean()), np.arange(400), rng=np.random.default_rng(2),
                      n_boot=2000)
    low, high = stats.t.interval(0.95, df=399, loc=values.mean(), scale=stats.sem(values))
    assert ci.ci_low == pytest.approx(low, abs=0.05) and ci.ci_high == pytest.approx(high, abs=0.05)


def test_units_are_resampled_whole():
    units = np.repeat(["a", "b", "c", "d", "e"], [1, 2, 3, 4, 5])
    seen = []

    def stat(rows):
        # every drawn unit contributes all its rows: the multiset of rows per
        # unit is a multiple of that unit's size
        labels, counts = np.unique(units[rows], return_counts=True)
        sizes = dict(zip(*np.unique(units, return_counts=True)))
        seen.append(all(c % sizes[l] == 0 for l, c in zip(labels, counts)))
        return float(len(rows))

    bootstrap_ci(stat, units, rng=np.random.default_rng(3), n_boot=200)
    assert all(seen)


def test_many_uses_same_resamples_and_drops_nan():
    values = np.arange(10.0)

    def stat(rows):
        return {"mean": float(values[rows].mean()), "twice": float(2 * values[rows].mean()), "nan": np.nan}

    out = bootstrap_many(stat, np.arange(10), rng=np.random.default_rng(4), n_boot=200)
    assert out["twice"].ci_low == pytest.approx(2 * out["mean"].ci_low)
    assert out["twice"].ci_high == pytest.approx(2 * out["mean"].ci_high)
    assert np.isnan(out["nan"].ci_low) and out["nan"].n_valid == 0


def test_unit_rows_groups_by_label():
    groups = unit_rows(["x", "y", "x", "z", "y"])
    assert [g.tolist() for g in groups] == [[0, 2], [1, 4], [3]]


def test_requires_a_generator():
    with pytest.raises(MetricInputError, match="Generator"):
        bootstrap_ci(lambda r: 0.0, [1, 2], rng=7)
    with pytest.raises(MetricInputError, match="level"):
        bootstrap_ci(lambda r: 0.0, [1, 2], rng=np.random.default_rng(), level=95)


def test_single_unit_gives_no_interval():
    # With one unit (e.g. a scenario with a single image) every cluster resample is
    # the data itself; the percentile interval would be the zero-width
    # [estimate, estimate], claiming certainty the data cannot give.
    values = np.arange(5.0)
    ci = bootstrap_ci(lambda r: float(values[r].mean()), ["img"] * 5, rng=np.random.default_rng(0), n_boot=100)
    assert ci.estimate == pytest.approx(2.0)
    assert np.isnan(ci.ci_low) and np.isnan(ci.ci_high) and ci.n_valid == 0
    two = bootstrap_ci(lambda r: float(values[r].mean()), ["a", "a", "b", "b", "b"], rng=np.random.default_rng(0),
                       n_boot=100)
    assert two.ci_low < two.ci_high  # two units: 0.5 and 3.0 per unit, resamples differ
