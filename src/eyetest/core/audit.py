"""Summary statistics of a metric audit (pure; tables in, tables out).

The audit table is tidy, one row per (image, metric, manipulation, strength)
with the metric's ``value`` on the manipulated image, its ``baseline`` on the
untouched image, ``delta = value - baseline`` and ``improved``.

Definitions
-----------
``delta``
    ``value - baseline``; exactly 0 when the two are equal (also when both are
    ``inf``, e.g. PSNR of an unchanged image).
``improved``
    The score moved in the metric's direction of "better":
    ``delta > tol`` if higher is better, ``delta < -tol`` otherwise, with
    ``tol = 1e-9 * max(1, |baseline|)`` so floating-point noise never counts.
``share_improved``
    Fraction of images whose score improved, among the images where the two
    scores can be compared: a ``NaN`` value or baseline (a score that could
    not be computed, an imported ``nan``) is left out of the denominator, as
    it is left out of the mean, and counted in ``n_nonfinite``; an infinite
    delta (finite PSNR against an ``inf`` baseline) is a comparison and stays
    in.  NaN when no image of the group can be compared.
``share_above``
    Fraction of images whose manipulated score is numerically above the
    untouched one (``delta > tol``), whatever the direction, over the same
    images: for a higher-is-better metric it equals ``share_improved``; for a
    lower-is-better one (NIQE, BRISQUE, PIQE) it is the share made *worse*.
``mean_delta`` with ``ci_low``/``ci_high``
    Mean of the finite deltas over images and its percentile bootstrap
    interval (images resampled with replacement; B. Efron, R. Tibshirani,
    *An Introduction to the Bootstrap*, Chapman & Hall 1993, ch. 13).
    Non-finite deltas (a PSNR of ``inf``) cannot enter a mean; they are
    counted in ``n_nonfinite``.
``gameable``
    A metric is *gameable* by a manipulation when the manipulation is
    fidelity-reducing (a trick or a degradation, see
    :mod:`eyetest.core.manipulate.registry`) and, at some strength of the
    grid, it improves the metric on **more than half** of the images
    (``share_improved > threshold``, default 0.5).  "Most images" is a
    strict majority so that a metric that is indifferent (improves half,
    worsens half) is not flagged; the strength at which the share peaks is
    reported as ``at_strength``.
``significant``
    At ``at_strength`` the bootstrap interval of the mean delta lies entirely
    on the "better" side of 0: the improvement is not only frequent but also
    clear on average.  Reported beside the flag, not part of it.
"""

from __future__ import annotations

import zlib

from typing import Mapping

import numpy as np
import pandas as pd

from eyetest.errors import MetricInputError

#: Relative tolerance below which a change of score is treated as none.
RTOL = 1e-9

SUMMARY_KEYS = ("metric", "manipulation", "strength")
SUMMARY_COLUMNS = (
    "metric", "manipulation", "strength", "n_images", "mean_baseline", "mean_value",
    "mean_delta", "ci_low", "ci_high", "share_improved", "share_above", "n_nonfinite",
)
GAMEABILITY_COLUMNS = (
    "metric", "manipulation", "kind", "fidelity_reducing", "max_share_improved",
    "at_strength", "mean_delta_at", "ci_low_at", "ci_high_at", "significant", "gameable",
)


def delta(value, baseline) -> np.ndarray:
    """``value - baseline``, exactly 0 where the two are equal (``inf == inf`` included)."""
    v = np.asarray(value, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(v == b, 0.0, v - b)


def _tol(baseline) -> np.ndarray:
    b = np.abs(np.asarray(baseline, dtype=np.float64))
    return RTOL * np.where(np.isfinite(b), np.maximum(1.0, b), 1.0)


def improved(value, baseline, *, higher_is_better: bool) -> np.ndarray:
    """Boolean array: the score moved in the metric's direction of better (see module doc)."""
    d = delta(value, baseline)
    tol = _tol(baseline)
    with np.errstate(invalid="ignore"):
        return (d > tol) if higher_is_better else (d < -tol)


def above(value, baseline) -> np.ndarray:
    """Boolean array: the manipulated score is numerically above the untouched one."""
    with np.errstate(invalid="ignore"):
        return delta(value, baseline) > _tol(baseline)


def bootstrap_mean_ci(
    values, *, rng: np.random.Generator, n_boot: int = 2000, level: float = 0.95
) -> tuple[float, float, float, int]:
    """Mean of the finite ``values`` and its percentile bootstrap interval.

    .. math::  \\bar x^{*}_b = \\frac1n \\sum_i x_{I_{bi}},\\quad
               I_{bi} \\sim U\\{1..n\\},\\qquad
               CI = [q_{\\alpha/2}(\\bar x^*), q_{1-\\alpha/2}(\\bar x^*)]

    (Efron & Tibshirani 1993, ch. 13), all ``n_boot`` resamples drawn at once.
    Returns ``(mean, low, high, n_nonfinite)``; mean and interval are NaN
    without finite values; with one finite value the mean is that value and
    the interval is NaN (one image gives no evidence of spread, and a
    zero-width interval would make ``significant`` true on a single image).
    """
    if not isinstance(rng, np.random.Generator):
        raise MetricInputError("rng must be a numpy.random.Generator")
    if not 0 < level < 1 or n_boot < 1:
        raise MetricInputError(f"need 0 < level < 1 and n_boot >= 1, got {level!r}, {n_boot!r}")
    x = np.asarray(values, dtype=np.float64).ravel()
    finite = x[np.isfinite(x)]
    n_bad = int(x.size - finite.size)
    if finite.size == 0:
        return float("nan"), float("nan"), float("nan"), n_bad
    mean = float(finite.mean())
    if finite.size == 1:
        return mean, float("nan"), float("nan"), n_bad
    draws = finite[rng.integers(0, finite.size, size=(n_boot, finite.size))].mean(axis=1)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(draws, [a, 1.0 - a])
    return mean, float(lo), float(hi), n_bad


def _finite_mean(x: np.ndarray) -> float:
    f = x[np.isfinite(x)]
    return float(f.mean()) if f.size else float("nan")


def _share(flags: np.ndarray, comparable: np.ndarray) -> float:
    """Mean of ``flags`` over the ``comparable`` entries (NaN when there are none)."""
    return float(flags[comparable].mean()) if comparable.any() else float("nan")


def summarize(
    table: pd.DataFrame,
    *,
    higher_is_better: Mapping[str, bool],
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
) -> pd.DataFrame:
    """One row per (metric, manipulation, strength): the statistics of the module doc.

    ``table`` needs the columns ``image, metric, manipulation, strength, value,
    baseline``; ``delta`` and ``improved`` are recomputed from them (so a table
    read back from CSV summarises identically).  ``higher_is_better`` maps every
    metric name to its direction.  ``rng`` is drawn from once for a base seed;
    each group resamples with its own generator seeded from that base and the
    group's (manipulation, strength), so a group's CI depends only on its own
    data and ``rng``, never on which other metrics share the run or on the
    metric's name; metrics of one cell get the same resampled image indices
    (a paired bootstrap when their images coincide).
    """
    need = {"image", "metric", "manipulation", "strength", "value", "baseline"}
    missing = need - set(table.columns)
    if missing:
        raise MetricInputError(f"audit table lacks columns: {', '.join(sorted(missing))}")
    unknown = set(table["metric"]) - set(higher_is_better)
    if unknown:
        raise MetricInputError(f"no direction (higher_is_better) for metrics: {sorted(unknown)}")
    if not isinstance(rng, np.random.Generator):
        raise MetricInputError("rng must be a numpy.random.Generator")
    base = int(rng.integers(0, 2**63))
    rows = []
    for (metric, manip, strength), g in table.groupby(list(SUMMARY_KEYS), sort=True):
        v = g["value"].to_numpy(np.float64)
        b = g["baseline"].to_numpy(np.float64)
        d = delta(v, b)
        comparable = ~np.isnan(d)
        group_rng = np.random.default_rng(
            [base, *(zlib.crc32(str(k).encode()) for k in (manip, float(strength)))])
        mean, lo, hi, n_bad = bootstrap_mean_ci(d, rng=group_rng, n_boot=n_boot, level=level)
        rows.append({
            "metric": metric, "manipulation": manip, "strength": float(strength),
            "n_images": int(g["image"].nunique()),
            "mean_baseline": _finite_mean(b), "mean_value": _finite_mean(v),
            "mean_delta": mean, "ci_low": lo, "ci_high": hi,
            "share_improved": _share(improved(v, b, higher_is_better=higher_is_better[metric]),
                                     comparable),
            "share_above": _share(above(v, b), comparable),
            "n_nonfinite": n_bad,
        })
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def gameability(
    summary: pd.DataFrame,
    *,
    kinds: Mapping[str, str],
    higher_is_better: Mapping[str, bool] | None = None,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """One row per (metric, manipulation): the strength where most images improve, and the flag.

    ``kinds`` maps each manipulation name to its kind (``trick``,
    ``degradation``, ``enhancement``, ``identity``); tricks and degradations
    are fidelity-reducing.  ``gameable = fidelity_reducing and
    max_share_improved > threshold``.  Ties in the share are broken by the
    lowest strength (the cheapest trick); a NaN share (no comparable image)
    never wins, and a group with only NaN shares is not flagged.
    ``higher_is_better`` (metric -> direction) is needed for ``significant``
    (False without it).
    """
    if not 0 <= threshold < 1:
        raise MetricInputError(f"threshold must be in [0, 1), got {threshold!r}")
    rows = []
    for (metric, manip), g in summary.groupby(["metric", "manipulation"], sort=True):
        if manip not in kinds:
            raise MetricInputError(f"no kind known for manipulation {manip!r}")
        g = g.sort_values("strength", kind="stable")
        shares = g["share_improved"].to_numpy(np.float64)
        # np.argmax would pick a NaN share (no comparable image) as the maximum
        best = g.iloc[int(np.argmax(np.where(np.isnan(shares), -np.inf, shares)))]
        fr = kinds[manip] in ("trick", "degradation")
        share = float(best["share_improved"])
        lo, hi = float(best["ci_low"]), float(best["ci_high"])
        hib = higher_is_better.get(metric) if higher_is_better is not None else None
        sig = bool(hib is not None and ((lo > 0) if hib else (hi < 0)))
        rows.append({
            "metric": metric, "manipulation": manip, "kind": kinds[manip],
            "fidelity_reducing": fr, "max_share_improved": share,
            "at_strength": float(best["strength"]), "mean_delta_at": float(best["mean_delta"]),
            "ci_low_at": lo, "ci_high_at": hi, "significant": sig,
            "gameable": bool(fr and share > threshold),
        })
    return pd.DataFrame(rows, columns=list(GAMEABILITY_COLUMNS))
