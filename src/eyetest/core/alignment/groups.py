"""Metric-human alignment tables, overall and per group, with bootstrap CIs.

Groups are any columns of the merged data: ``scenario`` (from the result
table or the scale), ``dimension`` (from the human scale or judgments),
``family`` (method family from the result table).  An image tagged with
several scenarios appears (once) in each of its scenario groups.  Every
table is tidy (long): one row per (metric, group, statistic) with the
estimate on all the data of the group and a percentile cluster-bootstrap
interval that resamples ``unit`` (images by default) within the group.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from eyetest.core.alignment.bootstrap import bootstrap_ci, bootstrap_many
from eyetest.core.alignment.correlation import alignment_stats, krcc, mapping_sign, plcc, rmse, srcc
from eyetest.core.alignment.logistic import Model
from eyetest.core.alignment.pairwise import (
    agreement_statistic,
    attach_metric,
    pairwise_agreement,
    rank_disagreements,
)
from eyetest.errors import MetricInputError

GROUP_COLUMNS = ("scenario", "family", "dimension")
STATISTICS = ("srcc", "krcc", "plcc", "rmse")


def _groups(frame: pd.DataFrame, by: Sequence[str]):
    if not by:
        yield (), frame
        return
    missing = [c for c in by if c not in frame.columns]
    if missing:
        raise MetricInputError(f"cannot group by {', '.join(missing)}: column not in the data")
    for key, part in frame.groupby(list(by), sort=True, dropna=True):
        yield (key if isinstance(key, tuple) else (key,)), part


def merge_scores_human(
    scores: pd.DataFrame,
    human: pd.DataFrame,
    *,
    metric: str,
    keys: Sequence[str] = ("image", "method"),
    human_value: str = "score",
) -> pd.DataFrame:
    """Rows of one metric from the tidy ``scores`` joined to the human scale.

    Joined on ``keys`` plus any of ``scenario, family, dimension`` present in
    both.  Returns the joined frame with ``value`` (metric) and ``human``
    columns; rows with a missing value on either side are dropped.
    """
    for frame, what, cols in ((scores, "scores", list(keys) + ["metric", "value"]),
                              (human, "human scale", list(keys) + [human_value])):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise MetricInputError(f"{what} lacks column(s) {', '.join(missing)}")
    s = scores[scores["metric"] == metric]
    if s.empty:
        known = sorted(map(str, scores["metric"].unique()))
        raise MetricInputError(f"no scores for metric {metric!r}; the table has {', '.join(known)}")
    on = list(keys) + [c for c in GROUP_COLUMNS if c in s.columns and c in human.columns]
    h = human.rename(columns={human_value: "human"})
    merged = s.drop(columns=["metric"]).merge(h, on=on, how="inner")
    return merged[np.isfinite(merged["value"].astype(float)) & np.isfinite(merged["human"].astype(float))]


def _one_per_condition(part: pd.DataFrame, keys: Sequence[str], where: str) -> pd.DataFrame:
    part = part.drop_duplicates(list(keys) + ["value", "human"])
    dup = part.duplicated(list(keys))
    if dup.any():
        row = part.loc[dup].iloc[0]
        key = ", ".join(f"{k}={row[k]!r}" for k in keys)
        raise MetricInputError(
            f"several different scores for {key} in {where}; group by the column that separates them "
            "(e.g. by=('dimension',))"
        )
    return part


def alignment_table(
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
    refit: bool = False,
    n_boot: int = 1000,
    level: float = 0.95,
) -> pd.DataFrame:
    """SRCC, KRCC, PLCC and RMSE of each metric against a human scale, per group.

    Parameters
    ----------
    scores : tidy result table ``image, method, metric, value`` (+ groups).
    human : human scale: ``keys`` + ``human_value`` (+ ``dimension``, ...),
        e.g. MOS per (image, method) or a pairwise-comparison scale per
        condition (then ``keys=("condition",)``).
    metrics : metric name -> ``higher_is_better``.
    rng : generator for the bootstrap.
    by : group columns (``()`` for overall).
    unit : column resampled by the bootstrap (``None``: the conditions).
    model : logistic mapping before PLCC/RMSE (see :func:`alignment_stats`).
    refit : re-fit the logistic mapping on every bootstrap resample (warm
        started from the full-data fit; slower, and the interval then also
        carries the fit's uncertainty).  By default the mapping fitted on the
        whole group is held fixed and only the conditions are resampled.

    Returns
    -------
    DataFrame
        ``metric, *by, statistic, value, ci_low, ci_high, n, fit_model,
        fit_status`` (statistic in ``srcc, krcc, plcc, rmse``).  Groups with
        fewer than 3 conditions are skipped.
    """
    rows = []
    for metric, higher in metrics.items():
        merged = merge_scores_human(scores, human, metric=metric, keys=keys, human_value=human_value)
        if unit and unit not in merged.columns:
            raise MetricInputError(
                f"bootstrap unit column {unit!r} is in neither the scores nor the human scale "
                f"(joined columns: {', '.join(map(str, merged.columns))}); pass unit=None to resample conditions"
            )
        for key, part in _groups(merged, by):
            where = "the data" if not by else ", ".join(f"{c}={v!r}" for c, v in zip(by, key))
            part = _one_per_condition(part, keys, where).reset_index(drop=True)
            if len(part) < 3:
                continue
            x = part["value"].to_numpy(float)
            y = part["human"].to_numpy(float)
            full = alignment_stats(x, y, higher_is_better=higher, model=model)

            signed = x if higher else -x
            mapped = full.fit.predict(signed)
            slope_sign = mapping_sign(full.fit, signed)

            def stat(idx, x=x, y=y, higher=higher, full=full, signed=signed, mapped=mapped, slope_sign=slope_sign):
                if np.unique(x[idx]).size < 2 or np.unique(y[idx]).size < 2:
                    return {s: np.nan for s in STATISTICS}
                if refit:
                    st = alignment_stats(x[idx], y[idx], higher_is_better=higher, model=model, start=full.fit)
                    return {s: getattr(st, s) for s in STATISTICS}
                return {"srcc": srcc(signed[idx], y[idx]), "krcc": krcc(signed[idx], y[idx]),
                        "plcc": slope_sign * plcc(mapped[idx], y[idx]), "rmse": rmse(mapped[idx], y[idx])}

            units = part[unit].to_numpy() if unit else np.arange(len(part))
            cis = bootstrap_many(stat, units, rng=rng, n_boot=n_boot, level=level)
            for s in STATISTICS:
                rows.append({"metric": metric, **dict(zip(by, key)), "statistic": s,
                             "value": getattr(full, s), "ci_low": cis[s].ci_low, "ci_high": cis[s].ci_high,
                             "n": full.n, "fit_model": full.fit.model, "fit_status": full.fit.status})
    columns = ["metric", *by, "statistic", "value", "ci_low", "ci_high", "n", "fit_model", "fit_status"]
    return pd.DataFrame(rows, columns=columns)


def agreement_table(
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
    """Pairwise agreement of each metric with people, per group, with CIs.

    Parameters
    ----------
    pairs : from :func:`aggregate_judgments` or :func:`pairs_from_scale`.
    scores : tidy result table (see :func:`attach_metric` for the matching).
    metrics : metric name -> ``higher_is_better``.
    by : group columns of ``pairs`` (e.g. ``("scenario",)``, ``("dimension",)``).
    unit : column resampled by the bootstrap (``None`` or absent: pairs).
    metric_ties, tie_tolerance, weighting : see :func:`pairwise_agreement`.

    Returns
    -------
    DataFrame
        ``metric, *by, agreement, ci_low, ci_high, n_pairs, n_metric_ties``.
    """
    rows = []
    for metric, higher in metrics.items():
        with_metric = attach_metric(pairs, scores, metric=metric)
        for key, part in _groups(with_metric, by):
            part = part.reset_index(drop=True)
            summary = pairwise_agreement(part, higher_is_better=higher, metric_ties=metric_ties,
                                         tie_tolerance=tie_tolerance, weighting=weighting)
            if summary["n_pairs"] == 0:
                continue
            statistic, _, _ = agreement_statistic(part, higher_is_better=higher, metric_ties=metric_ties,
                                                  tie_tolerance=tie_tolerance, weighting=weighting)
            units = part[unit].to_numpy() if unit and unit in part.columns else np.arange(len(part))
            ci = bootstrap_ci(statistic, units, rng=rng, n_boot=n_boot, level=level)
            rows.append({"metric": metric, **dict(zip(by, key)), "agreement": summary["agreement"],
                         "ci_low": ci.ci_low, "ci_high": ci.ci_high, "n_pairs": summary["n_pairs"],
                         "n_metric_ties": summary["n_metric_ties"]})
    columns = ["metric", *by, "agreement", "ci_low", "ci_high", "n_pairs", "n_metric_ties"]
    return pd.DataFrame(rows, columns=columns)


def disagreement_gallery(
    pairs: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    metrics: Mapping[str, bool],
    k: int = 12,
) -> pd.DataFrame:
    """The ``k`` strongest metric-human disagreements of each metric, in one table.

    For each metric the pairs get its values (:func:`attach_metric`) and are
    ranked by :func:`rank_disagreements`.  The result keeps the pair's
    identifiers (``image``, ``method_a``, ``method_b`` and/or
    ``condition_a``, ``condition_b``), votes or scale scores, ``metric_a``,
    ``metric_b`` and ``disagreement``, plus ``metric`` and ``rank`` (1 =
    worst).  The caller maps the identifiers to image files for thumbnails.
    """
    parts = []
    for metric, higher in metrics.items():
        ranked = rank_disagreements(attach_metric(pairs, scores, metric=metric), higher_is_better=higher, k=k)
        parts.append(ranked.assign(metric=metric, rank=np.arange(1, len(ranked) + 1)))
    if not parts:
        raise MetricInputError("disagreement gallery: no metrics given")
    return pd.concat(parts, ignore_index=True)
