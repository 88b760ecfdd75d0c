"""Cluster bootstrap confidence intervals.

Rows that share a unit (an image, a condition, a rater) are not independent,
so the bootstrap resamples *units* with replacement and keeps all rows of a
drawn unit together (the cluster or block bootstrap; Davison & Hinkley,
"Bootstrap Methods and their Application", CUP 1997, section 3.8).  The
interval is the percentile interval ``[q_{a/2}, q_{1-a/2}]`` of the statistic
over the resamples (Efron & Tibshirani, "An Introduction to the Bootstrap",
1993, ch. 13).  Resamples on which the statistic is undefined (NaN, e.g. a
constant resample for a correlation) are dropped and counted.  With a single
unit every resample is the data itself, so there is no evidence of spread:
the interval is NaN rather than the zero-width ``[estimate, estimate]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from eyetest.errors import MetricInputError


@dataclass(frozen=True)
class BootstrapCI:
    """Estimate on the full data and its percentile interval.

    ``n_valid`` is the number of resamples with a finite statistic (the
    interval is NaN when fewer than half of them were, and when there is
    only one unit to resample; then no resample is drawn and ``n_valid`` is 0).
    """

    estimate: float
    ci_low: float
    ci_high: float
    n_boot: int
    n_valid: int
    level: float


def _check(n_boot: int, level: float, rng) -> None:
    """Validate the bootstrap arguments (``level=0.5`` when there is no interval to check)."""
    if not isinstance(rng, np.random.Generator):
        raise MetricInputError("rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(seed))")
    if not 0.0 < level < 1.0:
        raise MetricInputError(f"level must be in (0, 1), got {level!r}")
    if n_boot < 1:
        raise MetricInputError(f"n_boot must be >= 1, got {n_boot!r}")


def unit_rows(units) -> list[np.ndarray]:
    """Row indices of each distinct unit label, in order of first appearance."""
    labels = np.asarray(units, dtype=object).ravel()
    _, first, inverse = np.unique(labels.astype(str), return_index=True, return_inverse=True)
    order = np.argsort(first)
    groups = [np.flatnonzero(inverse == k) for k in order]
    return groups


def bootstrap_replicates(
    statistic: Callable[[np.ndarray], dict[str, float]],
    units,
    *,
    rng: np.random.Generator,
    n_boot: int = 1000,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """The statistics on all rows and on each cluster-bootstrap resample.

    ``statistic`` is called with all rows (sorted) for the estimate, then with
    the rows of ``n_boot`` resamples of the units (all rows of a drawn unit
    kept together).  Returns ``(estimate, values)``: the estimate per name and
    an array of ``n_boot`` resampled values per name (NaN where the statistic
    was undefined or missing).  With a single unit no resample is drawn and
    every value is NaN (resampling one unit only reproduces the data).  This
    is the sampling step of :func:`bootstrap_many`; use it when the replicate
    values themselves are needed (e.g. a bootstrap p-value).
    """
    _check(n_boot, 0.5, rng)
    groups = unit_rows(units)
    if not groups:
        raise MetricInputError("bootstrap needs at least one row")
    everything = np.sort(np.concatenate(groups))
    estimate = {name: float(v) for name, v in statistic(everything).items()}
    values = {name: np.full(n_boot, np.nan) for name in estimate}
    k = len(groups)
    for b in range(n_boot if k > 1 else 0):  # one unit: every resample is the data, no spread
        draw = rng.integers(0, k, size=k)
        result = statistic(np.concatenate([groups[i] for i in draw]))
        for name in values:
            values[name][b] = result.get(name, np.nan)
    return estimate, values


def percentile_interval(values: np.ndarray, *, level: float = 0.95) -> tuple[float, float]:
    """``[q_{a/2}, q_{1-a/2}]`` of the finite ``values`` (``a = 1 - level``).

    NaN when fewer than half of the values (and fewer than one) are finite.
    """
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size < max(1, values.size // 2):
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    return float(low), float(high)


def bootstrap_many(
    statistic: Callable[[np.ndarray], dict[str, float]],
    units,
    *,
    rng: np.random.Generator,
    n_boot: int = 1000,
    level: float = 0.95,
) -> dict[str, BootstrapCI]:
    """Percentile CIs of several statistics computed together on each resample.

    Like :func:`bootstrap_ci`, but ``statistic`` returns a dict of named
    floats (e.g. SRCC, KRCC, PLCC and RMSE from one logistic fit), and one
    :class:`BootstrapCI` is returned per name.  The same resamples are used
    for every name (drawn by :func:`bootstrap_replicates`).
    """
    _check(n_boot, level, rng)
    estimate, values = bootstrap_replicates(statistic, units, rng=rng, n_boot=n_boot)
    out = {}
    for name, vals in values.items():
        low, high = percentile_interval(vals, level=level)
        out[name] = BootstrapCI(estimate[name], low, high, n_boot, int(np.isfinite(vals).sum()), level)
    return out


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    units,
    *,
    rng: np.random.Generator,
    n_boot: int = 1000,
    level: float = 0.95,
) -> BootstrapCI:
    """Percentile CI of ``statistic`` under the cluster bootstrap.

    Parameters
    ----------
    statistic : called with an integer array of row indices (rows may
        repeat) and returns a float; called once with all rows (sorted) for
        the estimate.
    units : one unit label per row (e.g. the image of each row).  Units are
        resampled with replacement; every row of a drawn unit is included.
    rng : the random generator (seed it for reproducible intervals).
    n_boot : number of resamples.
    level : coverage of the interval.
    """
    return bootstrap_many(lambda rows: {"value": statistic(rows)}, units, rng=rng, n_boot=n_boot, level=level)["value"]
