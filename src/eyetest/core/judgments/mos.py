"""Mean opinion scores (MOS) and per-rater z-scored MOS with Student-t CIs.

MOS of condition c (ITU-R BT.500-14, Annex 1; ITU-T P.800.2):

    MOS_c = (1/n_c) sum_r v_rc,   CI = MOS_c -+ t_{1-alpha/2, n_c-1} s_c / sqrt(n_c)

Per-rater z-scoring removes each rater's offset and range (van Dijk et al.
1995; as used for the LIVE databases, Sheikh et al. 2006):

    z_rc = (v_rc - mean_r) / sd_r,   zMOS_c = mean_r z_rc

with mean_r and sd_r (ddof=1) over all of rater r's ratings in the slice.
With ``rescale=True`` the z-scores are mapped back to the rating scale,
``z * sd_all + mean_all`` (pooled over all ratings), so that zMOS reads like
a MOS.  Raters with fewer than two ratings or zero spread cannot be
z-scored and are dropped (listed in ``info["dropped_raters"]``).
"""

from __future__ import annotations

from dataclasses import replace
from math import comb

import numpy as np
import pandas as pd

from eyetest.core.judgments.model import validate_ratings
from eyetest.core.judgments.scale import ScaleFit
from eyetest.core.judgments.uncertainty import FEW_RATERS
from eyetest.errors import JudgmentDataError


def zscore_ratings(ratings: pd.DataFrame, *, rescale: bool = False):
    """Return ``(table with a 'z' column, dropped raters)`` (module docstring)."""
    df = validate_ratings(ratings)
    stats = df.groupby("rater")["value"].agg(["mean", "std", "count"])
    bad = stats.index[(stats["count"] < 2) | ~(stats["std"] > 0)].tolist()
    df = df[~df["rater"].isin(bad)].copy()
    if df.empty:
        raise JudgmentDataError("ratings", len(bad), "no rater has two or more distinct ratings to z-score")
    m = df["rater"].map(stats["mean"])
    s = df["rater"].map(stats["std"])
    df["z"] = (df["value"] - m) / s
    if rescale:
        df["z"] = df["z"] * df["value"].std(ddof=1) + df["value"].mean()
    return df, bad


def fit_mos(ratings: pd.DataFrame, *, zscore: bool = False, rescale: bool = False) -> ScaleFit:
    """MOS (or z-scored MOS) per condition with t-based CIs (module docstring).

    All ratings must use one ``scale`` unless ``zscore=True`` without rescaling.
    """
    df = validate_ratings(ratings)
    scales = sorted(df["scale"].unique())
    if len(scales) > 1 and not (zscore and not rescale):
        raise JudgmentDataError("scale", ",".join(scales), "MOS needs ratings on one scale (or z-scores)")
    dropped: list = []
    col = "value"
    if zscore:
        df, dropped = zscore_ratings(df, rescale=rescale)
        col = "z"
    g = df.groupby("condition")[col]
    agg = g.agg(["mean", "std", "count"])
    n = agg["count"].to_numpy()
    se = (agg["std"] / np.sqrt(agg["count"])).to_numpy()
    se = np.where(n > 1, se, np.nan)
    unit = ("z" if not rescale else scales[0]) if zscore else scales[0]
    return ScaleFit(conditions=tuple(agg.index), scores=agg["mean"].to_numpy(float),
                    cov=np.diag(se**2), model="zmos" if zscore else "mos",
                    unit=unit, component=np.zeros(len(agg), int), n=n, dof=n - 1,
                    info={"dropped_raters": dropped, "n_ratings": int(n.sum())})


def bootstrap_mos(ratings: pd.DataFrame, fit: ScaleFit, *, n_boot: int = 1000,
                  rng: np.random.Generator) -> ScaleFit:
    """Attach replicates of (z-)MOS from raters resampled with replacement.

    A replicate's MOS of condition c is ``sum_r m_r S_rc / sum_r m_r N_rc``
    with ``m ~ Multinomial(R, 1/R)`` copies of each rater and ``S, N`` the
    per-rater sums and counts (z-scores are computed once on the data).
    Needs at least 2 raters; with fewer than 10, ``info["notes"]`` says that
    R raters give at most ``C(2R - 1, R)`` distinct resamples.
    """
    df = validate_ratings(ratings)
    col = "value"
    if fit.model == "zmos":
        df, _ = zscore_ratings(df, rescale=fit.unit != "z")
        col = "z"
    df = df[df["condition"].isin(fit.conditions)]
    raters, r_idx = np.unique(df["rater"].to_numpy(), return_inverse=True)
    pos = {c: k for k, c in enumerate(fit.conditions)}
    c_idx = df["condition"].map(pos).to_numpy(int)
    r, c = len(raters), len(fit.conditions)
    sums = np.bincount(r_idx * c + c_idx, weights=df[col].to_numpy(float), minlength=r * c).reshape(r, c)
    cnts = np.bincount(r_idx * c + c_idx, minlength=r * c).reshape(r, c).astype(float)
    if r < 2:
        raise JudgmentDataError("raters", r, "the rater bootstrap of (z-)MOS needs at least 2 raters (with one, "
                                "every replicate is the data itself and the CIs have zero width)")
    m = rng.multinomial(r, np.full(r, 1.0 / r), size=n_boot).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = (m @ sums) / (m @ cnts)
    # a condition no resampled rater saw keeps the point estimate in that replicate
    reps = np.where(np.isnan(reps), fit.scores[None, :], reps)
    notes = list(fit.info.get("notes", []))
    if r < FEW_RATERS:
        notes.append(f"rater bootstrap over only {r} raters: at most {comb(2 * r - 1, r)} distinct resamples, "
                     "so the CIs and rank ranges are coarse")
    return replace(fit.with_replicates(reps), info={**fit.info, "notes": notes})
