"""One call from a judgment (or rating) table to scale tables per slice.

:func:`rank` is what ``eyetest rank`` and the report use: optional rater
exclusion, optional relabelling to methods, one fit per group of the ``by``
column, optional bootstrap, and a tidy result with the columns
``[<by>,] condition, score, se, ci_low, ci_high, rank_low, rank_high,
component, n_judgments, model, unit`` (+ ``tie_parameter, tie_value,
tie_ci_low, tie_ci_high`` for Davidson / Rao-Kupper).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from eyetest.core.judgments.bradley_terry import fit_pairwise
from eyetest.core.judgments.elo import bootstrap_elo, fit_elo
from eyetest.core.judgments.model import method_judgments, validate_pairwise, validate_ratings
from eyetest.core.judgments.mos import bootstrap_mos, fit_mos
from eyetest.core.judgments.uncertainty import bootstrap
from eyetest.errors import ComparisonGraphWarning, JudgmentDataError, UnknownNameError

PAIRWISE_MODELS = ("bradley-terry", "davidson", "rao-kupper", "thurstone", "elo")
RATING_MODELS = ("mos", "zmos")
ALL_MODELS = PAIRWISE_MODELS + RATING_MODELS


def is_rating_table(df: pd.DataFrame) -> bool:
    return "value" in df.columns and "condition" in df.columns and "condition_a" not in df.columns


def fit_one(df: pd.DataFrame, *, model: str, n_boot: int = 0, rng=None, unit: str = "judgment",
            anchor: str | None = None):
    """Fit one slice; returns ``(ScaleFit, warnings list)``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ComparisonGraphWarning)
        if model in RATING_MODELS:
            fit = fit_mos(df, zscore=model == "zmos")
            if n_boot:
                fit = bootstrap_mos(df, fit, n_boot=n_boot, rng=rng)
        elif model == "elo":
            fit = fit_elo(df)
            if n_boot:
                fit = bootstrap_elo(df, fit, n_boot=n_boot, rng=rng)
        else:
            anchor_here = anchor if anchor is not None and anchor in set(df["condition_a"]) | set(df["condition_b"]) else None
            fit = fit_pairwise(df, model=model, anchor=anchor_here)
            if n_boot:
                fit = bootstrap(df, fit, n_boot=n_boot, rng=rng, unit=unit)
    return fit, [str(w.message) for w in caught if issubclass(w.category, ComparisonGraphWarning)]


def rank(table: pd.DataFrame, *, model: str = "bradley-terry", by: str | None = None, n_boot: int = 0,
         rng: np.random.Generator | None = None, unit: str = "judgment", exclude=(),
         anchor: str | None = None, per_method: bool = False, level: float = 0.95,
         include_gold: bool = False):
    """Scale every slice of ``table``; returns ``(scale table, notes)``.

    Parameters
    ----------
    table : DataFrame
        Pairwise judgments (models bradley-terry, davidson, rao-kupper,
        thurstone, elo) or ratings (mos, zmos).
    by : str, optional
        Column to slice by (scenario, dimension, image, ...).
    n_boot : int
        Bootstrap replicates (0: analytic CIs; Elo needs replicates for CIs).
    rng : numpy.random.Generator
        Required when ``n_boot`` > 0.
    exclude : iterable of str
        Raters to drop before fitting (e.g. ``screen_raters(...).excluded``).
    per_method : bool
        Pairwise only: pool images and scale methods (:func:`method_judgments`).
    include_gold : bool
        Training trials (``is_training``) are never scaled; gold trials
        (``is_gold``, known-answer checks) are dropped unless this is true.
    """
    if model not in ALL_MODELS:
        raise UnknownNameError("scaling model", model, ALL_MODELS)
    rating = model in RATING_MODELS
    if rating != is_rating_table(table):
        kind = "rating" if rating else "pairwise"
        raise JudgmentDataError("model", model, f"needs a {kind} table")
    if n_boot and rng is None:
        raise JudgmentDataError("rng", None, "bootstrap needs a numpy Generator")
    df = validate_ratings(table) if rating else validate_pairwise(table)
    exclude = {str(r) for r in exclude}
    df = df[~df["rater"].isin(exclude)]
    notes = []
    for flag, keep in (("is_training", False), ("is_gold", include_gold)):
        if flag in df.columns and not keep and df[flag].any():
            notes.append(f"{int(df[flag].sum())} {flag[3:]} trial(s) not scaled")
            df = df[~df[flag]]
    if df.empty:
        raise JudgmentDataError("raters", len(exclude), "every judgment was excluded")
    if per_method and not rating:
        df = method_judgments(df)
    if by is not None and by not in df.columns:
        raise JudgmentDataError("by", by, f"is not a column; columns: {', '.join(map(str, df.columns))}")
    groups = [(None, df)] if by is None else list(df.groupby(by, sort=True))
    frames = []
    for key, g in groups:
        try:
            fit, warn = fit_one(g, model=model, n_boot=n_boot, rng=rng, unit=unit, anchor=anchor)
        except JudgmentDataError as exc:
            notes.append(f"{by}={key}: skipped ({exc})")
            continue
        notes += [f"{by}={key}: {w}" if by else w for w in warn]
        t = fit.table(level=level)
        t["n_judgments"] = int(fit.info.get("n_judgments", fit.info.get("n_ratings", len(g))))
        t["model"] = model
        t["unit"] = fit.unit
        if fit.tie is not None:
            t["tie_parameter"] = fit.tie["name"]
            t["tie_value"] = fit.tie["value"]
            t["tie_ci_low"] = fit.tie["ci_low"]
            t["tie_ci_high"] = fit.tie["ci_high"]
        if by is not None:
            t.insert(0, by, key)
        frames.append(t)
    if not frames:
        raise JudgmentDataError("judgments", len(df), "no slice could be scaled: " + "; ".join(notes))
    return pd.concat(frames, ignore_index=True), notes


def aggregate_by_method(fit, *, level: float = 0.95) -> pd.DataFrame:
    """Average per-condition scores over images, one row per method.

    For conditions ``image::method`` the method score is the mean of its
    condition scores, ``m = W s`` (``W`` averages each method's conditions),
    with covariance ``W V W^T`` (or ``W`` applied to each bootstrap
    replicate).  Meaningful when every image's scale has the same gauge, e.g.
    within-image designs scaled with ``disconnected="component"`` (each image
    centred) or one connected scale.  The alternative that pools judgments
    before fitting is :func:`eyetest.core.judgments.model.method_judgments`.

    Returns
    -------
    DataFrame
        The scale-table columns with ``condition`` = method, plus ``n_images``.
    """
    from eyetest.core.judgments.model import split_condition_id
    from eyetest.core.judgments.scale import ScaleFit

    methods = [split_condition_id(c)[1] for c in fit.conditions]
    labels = sorted(set(methods))
    w = np.zeros((len(labels), len(methods)))
    for k, m in enumerate(methods):
        w[labels.index(m), k] = 1.0
    n_images = w.sum(axis=1)
    w /= n_images[:, None]
    agg = ScaleFit(conditions=tuple(labels), scores=w @ fit.scores,
                   cov=None if fit.cov is None else w @ fit.cov @ w.T, model=fit.model, unit=fit.unit,
                   replicates=None if fit.replicates is None else fit.replicates @ w.T,
                   component=np.zeros(len(labels), int))
    out = agg.table(level=level)
    out["n_images"] = out["condition"].map(dict(zip(labels, n_images.astype(int))))
    return out
