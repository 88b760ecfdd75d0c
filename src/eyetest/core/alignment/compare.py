"""Paired comparison of metrics: does metric A agree with people better than metric B?

Two overlapping confidence intervals do not say whether two metrics differ:
both were measured on the *same* conditions, so their errors are correlated.
For every pair of metrics (A, B) in a group the difference of an agreement
statistic

    d = T_A - T_B

(``T`` = SRCC, PLCC after the logistic mapping, or pairwise agreement, all
oriented so that higher = agrees better with people) is computed on the
conditions both metrics scored, and its interval comes from the *paired*
cluster bootstrap: each replicate resamples the units (images) once and
evaluates both metrics on the same resample, ``d*_b = T_A(rows_b) - T_B(rows_b)``
(:func:`~eyetest.core.alignment.bootstrap.bootstrap_replicates`; Efron &
Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13 for the
percentile interval, ch. 15-16 for bootstrap tests).

Two-sided bootstrap p-value for ``H0: d = 0``, over the ``B'`` finite replicates:

    p = min(1, 2 (1 + min(#{d*_b <= 0}, #{d*_b >= 0})) / (B' + 1))

i.e. twice the smaller share of replicates on either side of 0 (about the
smallest level at which the equal-tailed percentile interval excludes 0;
Efron & Tibshirani 1993, ch. 15-16), with the ``+1`` of a Monte Carlo
p-value (Davison & Hinkley, "Bootstrap Methods and their Application",
1997, eq. 4.11; Phipson & Smyth, "Permutation p-values should never be
zero", SAGMB 2010): a finite number of replicates cannot show ``p = 0``, and
the smallest attainable value, ``2 / (B' + 1)``, tells how many resamples a
multiple-comparison correction needs (``B' + 1 > 2 m / 0.05`` for ``m``
pairs to reach Holm ``p < 0.05``).

Within a group and statistic the p-values of the ``m`` metric pairs are
adjusted by Holm's step-down procedure (Holm, "A simple sequentially rejective multiple
test procedure", Scand. J. Statist. 1979), which controls the family-wise
error rate:

    p_holm(i) = max_{j <= i} min(1, (m - j + 1) p_(j))

for the p-values sorted ascending, ``p_(1) <= ... <= p_(m)``.
"""

from __future__ import annotations

from itertools import combinations
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from eyetest.core.alignment.bootstrap import bootstrap_replicates, percentile_interval
from eyetest.core.alignment.correlation import mapping_sign, plcc, srcc
from eyetest.core.alignment.groups import _groups, _one_per_condition, merge_scores_human
from eyetest.core.alignment.logistic import Model, fit_logistic
from eyetest.core.alignment.pairwise import agreement_statistic, attach_metric
from eyetest.errors import MetricInputError

COLUMNS = ("statistic", "value_a", "value_b", "difference", "ci_low", "ci_high", "p_value", "p_holm", "n",
           "n_valid")


def bootstrap_p_value(replicates) -> float:
    """Two-sided bootstrap p-value of ``H0: d = 0`` from replicates of ``d``.

    ``p = min(1, 2 (1 + min(#{d* <= 0}, #{d* >= 0})) / (B' + 1))`` over the
    ``B'`` finite replicates (Efron & Tibshirani 1993, ch. 15-16; the ``+1``
    as in Davison & Hinkley 1997, eq. 4.11, so ``p > 0``).  NaN when fewer
    than half of them (or none) are finite, as for the interval.
    """
    d = np.asarray(replicates, dtype=float)
    finite = d[np.isfinite(d)]
    if finite.size < max(1, d.size // 2):
        return float("nan")
    tail = min(int(np.sum(finite <= 0.0)), int(np.sum(finite >= 0.0)))
    return float(min(1.0, 2.0 * (1 + tail) / (finite.size + 1)))


def holm(p_values) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values; NaN entries stay NaN and are not counted in ``m``.

    ``p_holm(i) = max_{j <= i} min(1, (m - j + 1) p_(j))`` over the finite
    p-values sorted ascending.
    """
    p = np.asarray(p_values, dtype=float).ravel()
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    if idx.size == 0:
        return out
    if np.any((p[idx] < 0) | (p[idx] > 1)):
        raise MetricInputError("p-values must lie in [0, 1]")
    order = idx[np.argsort(p[idx], kind="mergesort")]
    m = order.size
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(stepped)
    return out


def _with_holm(rows: list[dict], by: Sequence[str]) -> pd.DataFrame:
    columns = ["metric_a", "metric_b", *by, *COLUMNS]
    table = pd.DataFrame(rows, columns=columns)
    if table.empty:
        return table
    family = [*by, "statistic"]
    table["p_holm"] = np.nan
    for _, part in table.groupby(family, sort=False, dropna=False):
        table.loc[part.index, "p_holm"] = holm(part["p_value"].to_numpy(float))
    return table


def _correlations(signed, mapped, sign, y, idx) -> tuple[float, float]:
    """Oriented SRCC and PLCC (after the fixed mapping) on rows ``idx``; NaN if x or y is constant."""
    if np.ptp(signed[idx]) == 0 or np.ptp(y[idx]) == 0:
        return float("nan"), float("nan")
    return srcc(signed[idx], y[idx]), sign * plcc(mapped[idx], y[idx])


def compare_metrics(
    scores: pd.DataFrame,
    human: pd.DataFrame,
    *,
    metrics: Mapping[str, bool],
    rng: np.random.Generator,
    by: Sequence[str] = (),
    keys: Sequence[str] = ("image", "method"),
    human_value: str = "score",
    unit: str | None = "image",
    model: Model = "5pl",
    n_boot: int = 1000,
    level: float = 0.95,
) -> pd.DataFrame:
    """Paired differences of SRCC and PLCC between every two metrics, per group.

    For each group (as in :func:`~eyetest.core.alignment.groups.alignment_table`)
    and each pair of metrics (A, B) in the order of ``metrics``, on the
    conditions both scored: ``difference = T_A - T_B`` with ``T`` the SRCC of
    the direction-adjusted metric (lower-is-better metrics negated) and the
    PLCC after each metric's logistic mapping (fitted once on the metric's
    whole group and held fixed, with the sign of its slope), so a positive
    difference means A agrees better with people.  The interval and the
    two-sided p-value come from the paired cluster bootstrap over ``unit``
    and ``p_holm`` is Holm-adjusted over the pairs of the group (see the
    module docstring for the formulas and references).

    Parameters
    ----------
    scores, human, metrics, by, keys, human_value, unit, model :
        as for :func:`~eyetest.core.alignment.groups.alignment_table`.
    rng : generator for the bootstrap (consumed pair by pair, group by group).
    n_boot, level : resamples and interval coverage.

    Returns
    -------
    DataFrame
        ``metric_a, metric_b, *by, statistic, value_a, value_b, difference,
        ci_low, ci_high, p_value, p_holm, n, n_valid`` (statistic ``srcc`` or
        ``plcc``; ``n`` conditions in common; ``n_valid`` finite replicates).
        Groups where a pair has fewer than 3 common conditions are skipped;
        with a single unit the interval and p-value are NaN.
    """
    prepared: dict[str, dict] = {}
    for metric, higher in metrics.items():
        merged = merge_scores_human(scores, human, metric=metric, keys=keys, human_value=human_value)
        if unit and unit not in merged.columns:
            raise MetricInputError(
                f"bootstrap unit column {unit!r} is in neither the scores nor the human scale "
                f"(joined columns: {', '.join(map(str, merged.columns))}); pass unit=None to resample conditions"
            )
        groups = {}
        for key, part in _groups(merged, by):
            where = "the data" if not by else ", ".join(f"{c}={v!r}" for c, v in zip(by, key))
            part = _one_per_condition(part, keys, where).reset_index(drop=True)
            if len(part) < 3:
                continue
            x = part["value"].to_numpy(float)
            signed = x if higher else -x
            fit = fit_logistic(signed, part["human"].to_numpy(float), model=model)
            cols = list(dict.fromkeys([*keys, *([unit] if unit else []), "human"]))
            groups[key] = (part[cols].assign(signed=signed, mapped=fit.predict(signed)), mapping_sign(fit, signed))
        prepared[metric] = groups

    rows = []
    for a, b in combinations(metrics, 2):
        for key, (fa, sign_a) in prepared[a].items():
            if key not in prepared[b]:
                continue
            fb, sign_b = prepared[b][key]
            both = fa.merge(fb[list(keys) + ["signed", "mapped"]], on=list(keys), suffixes=("_a", "_b"))
            if len(both) < 3:
                continue
            y = both["human"].to_numpy(float)
            sa, ma = both["signed_a"].to_numpy(float), both["mapped_a"].to_numpy(float)
            sb, mb = both["signed_b"].to_numpy(float), both["mapped_b"].to_numpy(float)

            def stat(idx, y=y, sa=sa, ma=ma, sb=sb, mb=mb, sign_a=sign_a, sign_b=sign_b):
                (sr_a, pl_a), (sr_b, pl_b) = (_correlations(sa, ma, sign_a, y, idx),
                                              _correlations(sb, mb, sign_b, y, idx))
                return {"srcc": sr_a - sr_b, "plcc": pl_a - pl_b, "srcc_a": sr_a, "srcc_b": sr_b,
                        "plcc_a": pl_a, "plcc_b": pl_b}

            units = both[unit].to_numpy() if unit else np.arange(len(both))
            estimate, values = bootstrap_replicates(stat, units, rng=rng, n_boot=n_boot)
            for s in ("srcc", "plcc"):
                low, high = percentile_interval(values[s], level=level)
                rows.append({"metric_a": a, "metric_b": b, **dict(zip(by, key)), "statistic": s,
                             "value_a": estimate[f"{s}_a"], "value_b": estimate[f"{s}_b"],
                             "difference": estimate[s], "ci_low": low, "ci_high": high,
                             "p_value": bootstrap_p_value(values[s]), "n": len(both),
                             "n_valid": int(np.isfinite(values[s]).sum())})
    return _with_holm(rows, by)


def compare_agreement(
    pairs: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    metrics: Mapping[str, bool],
    rng: np.random.Generator,
    by: Sequence[str] = (),
    unit: str | None = "image",
    metric_ties: str = "half",
    tie_tolerance: float = 0.0,
    weighting: str = "pair",
    n_boot: int = 1000,
    level: float = 0.95,
) -> pd.DataFrame:
    """Paired differences of pairwise agreement between every two metrics, per group.

    For each group of ``pairs`` and each pair of metrics (A, B), on the
    compared pairs both metrics scored: ``difference = agreement_A -
    agreement_B`` (the share of human-decided pairs each metric orders like
    people, :func:`~eyetest.core.alignment.pairwise.pairwise_agreement`), with
    a paired cluster-bootstrap interval over ``unit`` (pairs when ``None`` or
    absent), a two-sided bootstrap p-value and Holm-adjusted p-values over the
    metric pairs of the group (see the module docstring).

    Parameters are those of :func:`~eyetest.core.alignment.groups.agreement_table`.

    Returns
    -------
    DataFrame
        Same columns as :func:`compare_metrics` with statistic ``agreement``
        and ``n`` the number of compared pairs that entered either share.
    """
    with_metric = {m: attach_metric(pairs, scores, metric=m) for m in metrics}
    rows = []
    for a, b in combinations(metrics, 2):
        va, vb = with_metric[a], with_metric[b]
        both = va.assign(other_a_=vb["metric_a"].to_numpy(float), other_b_=vb["metric_b"].to_numpy(float))
        finite = np.isfinite(both[["metric_a", "metric_b", "other_a_", "other_b_"]].to_numpy(float)).all(axis=1)
        both = both[finite]
        for key, part in _groups(both, by):
            part = part.reset_index(drop=True)
            other = part.drop(columns=["metric_a", "metric_b"]).rename(
                columns={"other_a_": "metric_a", "other_b_": "metric_b"})
            kw = dict(metric_ties=metric_ties, tie_tolerance=tie_tolerance, weighting=weighting)
            stat_a, _, w_a = agreement_statistic(part, higher_is_better=metrics[a], **kw)
            stat_b, _, w_b = agreement_statistic(other, higher_is_better=metrics[b], **kw)
            if not (w_a > 0).any() or not (w_b > 0).any():
                continue

            def stat(idx, stat_a=stat_a, stat_b=stat_b):
                ta, tb = stat_a(idx), stat_b(idx)
                return {"agreement": ta - tb, "a": ta, "b": tb}

            units = part[unit].to_numpy() if unit and unit in part.columns else np.arange(len(part))
            estimate, values = bootstrap_replicates(stat, units, rng=rng, n_boot=n_boot)
            low, high = percentile_interval(values["agreement"], level=level)
            rows.append({"metric_a": a, "metric_b": b, **dict(zip(by, key)), "statistic": "agreement",
                         "value_a": estimate["a"], "value_b": estimate["b"], "difference": estimate["agreement"],
                         "ci_low": low, "ci_high": high, "p_value": bootstrap_p_value(values["agreement"]),
                         "n": int(np.sum((w_a > 0) | (w_b > 0))),
                         "n_valid": int(np.isfinite(values["agreement"]).sum())})
    return _with_holm(rows, by)
