"""One call from a judgment (or rating) table to scale tables per slice.

:func:`rank` is what ``eyetest rank`` and the report use: optional rater
exclusion, optional relabelling to methods, one fit per group of the ``by``
column, optional bootstrap, and a tidy result with the columns
``[<by>,] condition, score, se, ci_low, ci_high, rank_low, rank_high,
component, n_judgments, model, unit`` (+ ``tie_parameter, tie_value,
tie_ci_low, tie_ci_high`` for Davidson / Rao-Kupper).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eyetest.core.judgments.bradley_terry import fit_pairwise
from eyetest.core.judgments.elo import bootstrap_elo, fit_elo
from eyetest.core.judgments.model import (
    CONDITION_SEP, method_judgments, split_condition_id, validate_pairwise, validate_ratings,
)
from eyetest.core.judgments.mos import bootstrap_mos, fit_mos
from eyetest.core.judgments.uncertainty import bootstrap
from eyetest.errors import JudgmentDataError, UnknownNameError

PAIRWISE_MODELS = ("bradley-terry", "davidson", "rao-kupper", "thurstone", "elo")
RATING_MODELS = ("mos", "zmos")
ALL_MODELS = PAIRWISE_MODELS + RATING_MODELS


def is_rating_table(df: pd.DataFrame) -> bool:
    return "value" in df.columns and "condition" in df.columns and "condition_a" not in df.columns


def fit_one(df: pd.DataFrame, *, model: str, n_boot: int = 0, rng=None, unit: str = "judgment",
            anchor: str | None = None, disconnected: str = "prior"):
    """Fit one slice; returns ``(ScaleFit, notes)``.

    ``anchor`` must be a condition of the slice (or None: centred scale); the
    notes are the messages of the fit's fallbacks (what
    :func:`~eyetest.core.judgments.bradley_terry.fit_pairwise` would issue
    as :class:`~eyetest.errors.ComparisonGraphWarning`, taken from its
    ``info["warnings"]``) and the bootstrap's ``info["notes"]``.  Nothing
    here touches the process's warning filters (``warnings.catch_warnings``
    is not thread-safe: it would take other threads' warnings as notes and
    swallow them); any other warning of the fit reaches the caller.
    """
    notes: list[str] = []
    if model in RATING_MODELS:
        fit = fit_mos(df, zscore=model == "zmos")
        if n_boot:
            fit = bootstrap_mos(df, fit, n_boot=n_boot, rng=rng)
    elif model == "elo":
        fit = fit_elo(df)
        if n_boot:
            fit = bootstrap_elo(df, fit, n_boot=n_boot, rng=rng)
    else:
        fit = fit_pairwise(df, model=model, anchor=anchor, disconnected=disconnected, warn=False)
        notes += fit.info.get("warnings", [])
        if n_boot:
            fit = bootstrap(df, fit, n_boot=n_boot, rng=rng, unit=unit)
    if anchor is not None and fit.anchor != anchor:
        fit = fit.anchored(anchor)
    return fit, notes + list(fit.info.get("notes", []))


def _conditions(df: pd.DataFrame) -> set:
    if "condition" in df.columns and "condition_a" not in df.columns:
        return set(df["condition"])
    return set(df["condition_a"]) | set(df["condition_b"])


def resolve_anchor(conditions, anchor: str):
    """``(condition, None)`` for the condition ``anchor`` names, else ``(None, why)``.

    ``anchor`` is a condition id, or the method part of exactly one
    ``image::method`` id (``--anchor bicubic`` with ``--by image``).
    """
    if anchor in conditions:
        return anchor, None
    hits = sorted(c for c in conditions if CONDITION_SEP in c and split_condition_id(c)[1] == anchor)
    if len(hits) == 1:
        return hits[0], None
    if hits:
        return None, f"anchor {anchor!r}: matches {len(hits)} conditions ({', '.join(hits[:3])}, ...); scale centred"
    return None, f"no condition {anchor!r} here; scale centred"


def _label(key) -> str:
    return "(empty)" if not isinstance(key, str) and pd.isna(key) else str(key)


def _count_flagged(rows: pd.DataFrame, noun: str, unit: str) -> str:
    """``"3 training trial(s) (9 judgments)"``: a trial is counted once however many dimensions it asked.

    A study export has one row per trial and dimension, with the trial id in
    ``trial``; without that column each row is taken as one trial.
    """
    if "trial" in rows.columns and rows["trial"].notna().all():
        trials = int(rows["trial"].nunique())
        if trials != len(rows):
            return f"{trials} {noun}(s) ({len(rows)} {unit}s)"
        return f"{trials} {noun}(s)"
    return f"{len(rows)} {noun}(s)"


def rank(table: pd.DataFrame, *, model: str = "bradley-terry", by: str | None = None, n_boot: int = 0,
         rng: np.random.Generator | None = None, unit: str = "judgment", exclude=(),
         anchor: str | None = None, per_method: bool = False, level: float = 0.95,
         include_gold: bool = False, disconnected: str = "prior"):
    """Scale every slice of ``table``; returns ``(scale table, notes)``.

    Parameters
    ----------
    table : DataFrame
        Pairwise judgments (models bradley-terry, davidson, rao-kupper,
        thurstone, elo) or ratings (mos, zmos).
    by : str, optional
        Column to slice by (scenario, dimension, image, ...).  Rows with an
        empty value form their own slice (labelled missing), with a note.
    n_boot : int
        Bootstrap replicates (0: analytic CIs; Elo needs replicates for CIs).
    rng : numpy.random.Generator
        Required when ``n_boot`` > 0.
    unit : {"judgment", "rater"}
        Bootstrap unit of the pairwise models (``"rater"`` needs >= 2 raters per slice).
    exclude : iterable of str
        Raters to drop before fitting (e.g. ``screen_raters(...).excluded``).
    anchor : str, optional
        Condition scored 0 in every slice that has it: a condition id, or the
        method part of ``image::method`` ids (one per slice, e.g. with
        ``by="image"``).  An anchor found in no slice is an error; a slice
        without it is centred, with a note.  Works for every model.
    per_method : bool
        Pairwise only: pool images and scale methods (:func:`method_judgments`).
    include_gold : bool
        Training trials (``is_training``) are never scaled; gold trials
        (``is_gold``, known-answer checks) are dropped unless this is true.
        Ratings: repeat trials (``is_repeat``, a rater rating a stimulus
        again to measure self-consistency) are never scaled, so the MOS has
        one rating per rater and stimulus; a table of several dimensions
        scaled without ``by="dimension"`` gets a note (they are averaged).
    disconnected : {"prior", "component", "error"}
        Pairwise models: what to do when the MLE is not finite
        (:func:`eyetest.core.judgments.bradley_terry.fit_pairwise`).
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
    if df.empty:
        raise JudgmentDataError("judgments", 0, "the table has no judgments")
    if by is not None and by not in df.columns:
        raise JudgmentDataError("by", by, f"is not a column; columns: {', '.join(map(str, df.columns))}")
    notes = []
    if "trial" in df.columns:
        dup = int(df.duplicated().sum())
        if dup:
            notes.append(f"{dup} row(s) repeat another row exactly (same trial, rater, conditions and answer) and are "
                         "counted again; remove them if the export was duplicated")
    keys_all = set() if by is None else set(map(_label, df[by].unique()))
    exclude = {str(r).strip() for r in exclude}
    unknown = sorted(exclude - set(df["rater"]))
    if unknown:
        notes.append(f"{len(unknown)} rater(s) to exclude do not occur in the judgments: {', '.join(unknown[:10])}")
    df = df[~df["rater"].isin(exclude)]
    if df.empty:
        raise JudgmentDataError("raters", len(exclude), "every judgment was excluded")
    keys_kept = set() if by is None else set(map(_label, df[by].unique()))
    for flag, keep in (("is_training", False), ("is_gold", include_gold)):
        if flag in df.columns and not keep and df[flag].any():
            notes.append(f"{_count_flagged(df[df[flag]], flag[3:] + ' trial', 'judgment')} not scaled")
            df = df[~df[flag]]
    if rating and "is_repeat" in df.columns and df["is_repeat"].any():
        # a repeat is the same rater rating the same stimulus again (a self-consistency check): counted
        # in the MOS it would be a second, dependent observation of one rater, weighting that rater twice
        # and narrowing the t-interval; the MOS keeps one rating per rater and stimulus (the first showing)
        notes.append(f"{_count_flagged(df[df['is_repeat']], 'repeat rating', 'rating')} not scaled (quality control: "
                     "the MOS uses each rater's first rating of a stimulus)")
        df = df[~df["is_repeat"]]
    if df.empty:
        raise JudgmentDataError("judgments", 0, "no judgment is left once training, gold and repeat trials are "
                                                "dropped")
    if rating and by != "dimension" and "dimension" in df.columns:
        keys = [by] if by is not None else []
        pooled = df.groupby(keys, dropna=False)["dimension"].nunique() if keys else pd.Series([df["dimension"].nunique()])
        if (pooled > 1).any():
            dims = sorted(map(str, df["dimension"].dropna().unique()))
            notes.append(f"ratings of {len(dims)} dimensions ({', '.join(dims[:5])}) are averaged into one score "
                         "per condition; scale each dimension on its own with --by dimension")
    if per_method and not rating:
        df = method_judgments(df)
    for key in sorted(keys_all - keys_kept):
        notes.append(f"{by}={key}: skipped (all its raters were excluded)")
    if by is not None and df[by].isna().any():
        notes.append(f"{int(df[by].isna().sum())} judgment(s) with an empty {by} are scaled as their own slice "
                     f"({by} missing)")
    groups = [(None, df)] if by is None else list(df.groupby(by, sort=True, dropna=False))
    anchors = {}
    if anchor is not None:
        for key, g in groups:
            anchors[_label(key)] = resolve_anchor(_conditions(g), anchor)
        if all(a is None for a, _ in anchors.values()):
            many = [(k, w) for k, (_, w) in anchors.items() if "matches" in w]
            if many:
                k, w = many[0]
                raise JudgmentDataError("anchor", anchor, f"is ambiguous{' in ' + by + '=' + k if by else ''}: "
                                        f"{w.split('; ')[0].split(': ', 1)[-1]}; give a full condition id, or "
                                        "slice by image (--by image)")
            raise JudgmentDataError("anchor", anchor, "matches no condition (nor the method part of an "
                                    "image::method id) in any slice")
    frames = []
    for key, g in groups:
        prefix = f"{by}={_label(key)}: " if by else ""
        group_anchor, why = anchors.get(_label(key), (None, None))
        if why:
            notes.append(prefix + why)
        try:
            fit, warn = fit_one(g, model=model, n_boot=n_boot, rng=rng, unit=unit, anchor=group_anchor,
                                disconnected=disconnected)
        except JudgmentDataError as exc:
            if by is None:
                raise
            notes.append(f"{prefix}skipped ({exc})")
            continue
        notes += [prefix + w for w in warn]
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
