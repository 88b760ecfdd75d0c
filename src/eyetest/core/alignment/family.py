"""Trends by method family (PSNR-oriented / GAN / diffusion / ...).

For one score (a metric or a human scale) and methods grouped by family:

* **win rate**: on every image where at least two families have a method,
  each family's best method is taken; the family whose best method scores
  best wins the image (ties split the image equally between the tied
  families).  ``win_rate = wins / contested images``; the win rates of all
  families add up to 1.
* **best-family mean**: the mean over the contested images where the family
  is present of its best method's score, i.e. what you get by always picking
  the best method of that family per image.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from eyetest.errors import MetricInputError


def family_win_rates(
    frame: pd.DataFrame,
    *,
    value: str,
    higher_is_better: bool,
    families: Mapping[str, str] | None = None,
    image: str = "image",
    method: str = "method",
    tie_tolerance: float = 0.0,
) -> pd.DataFrame:
    """Win rate and best-family mean of each family (see module docstring).

    Parameters
    ----------
    frame : one row per (image, method) with the score in ``value`` and a
        ``family`` column, or ``families`` (method -> family) to look it up.
    higher_is_better : direction of ``value``.
    tie_tolerance : families within this of the best count as tied.

    Returns
    -------
    DataFrame
        ``family, wins, n_images, win_rate, best_mean, n_present`` sorted by
        win rate (best first).  ``wins`` may be fractional (split ties).
    """
    missing = [c for c in (image, method, value) if c not in frame.columns]
    if missing:
        raise MetricInputError(f"family trends need column(s) {', '.join(missing)}")
    f = frame[[image, method, value] + (["family"] if "family" in frame.columns else [])].copy()
    if families is not None:
        unknown = sorted(set(map(str, f[method])) - set(map(str, families)))
        if unknown:
            raise MetricInputError(f"no family given for method(s) {', '.join(unknown)}")
        f["family"] = f[method].map(lambda m: families[m])
    elif "family" not in f.columns:
        raise MetricInputError("family trends need a 'family' column or a families mapping")
    f = f.dropna(subset=[value, "family"]).drop_duplicates([image, method])
    sign = 1.0 if higher_is_better else -1.0
    f["_signed"] = sign * f[value].astype(float)
    best = f.groupby([image, "family"], sort=True)["_signed"].max().unstack("family")
    contested = best[best.notna().sum(axis=1) >= 2]
    families_all = list(best.columns)
    if contested.empty:
        raise MetricInputError("no image has methods from two or more families: nothing to compare")
    top = contested.max(axis=1)
    winners = contested.ge(top.to_numpy()[:, None] - tie_tolerance) & contested.notna()
    shares = winners.div(winners.sum(axis=1), axis=0)
    n_images = len(contested)
    rows = []
    for fam in families_all:
        present = contested[fam].dropna()
        rows.append({
            "family": fam,
            "wins": float(shares[fam].sum()),
            "n_images": n_images,
            "win_rate": float(shares[fam].sum()) / n_images,
            "best_mean": float(sign * present.mean()) if len(present) else np.nan,
            "n_present": int(len(present)),
        })
    out = pd.DataFrame(rows)
    return out.sort_values(["win_rate", "family"], ascending=[False, True], kind="mergesort").reset_index(drop=True)


def family_trends(
    scores: pd.DataFrame | None = None,
    *,
    metrics: Mapping[str, bool] | None = None,
    human: pd.DataFrame | None = None,
    human_value: str = "score",
    families: Mapping[str, str] | None = None,
    tie_tolerance: float = 0.0,
) -> pd.DataFrame:
    """:func:`family_win_rates` for several metrics and for people, in one table.

    Parameters
    ----------
    scores : tidy result table ``image, method, metric, value`` (+ ``family``).
    metrics : metric name -> ``higher_is_better``.
    human : human scale per (image, method) in ``human_value`` (higher is
        better), or ``None``.
    families : method -> family when the tables have no ``family`` column.

    Returns
    -------
    DataFrame
        ``source, family, wins, n_images, win_rate, best_mean, n_present``
        with ``source`` the metric name or ``"human"``.
    """
    parts = []
    for metric, higher in (metrics or {}).items():
        if scores is None:
            raise MetricInputError("metrics given but no scores table")
        rows = scores[scores["metric"] == metric]
        if rows.empty:
            raise MetricInputError(f"no scores for metric {metric!r}")
        t = family_win_rates(rows, value="value", higher_is_better=higher, families=families,
                             tie_tolerance=tie_tolerance)
        parts.append(t.assign(source=metric))
    if human is not None:
        t = family_win_rates(human, value=human_value, higher_is_better=True, families=families,
                             tie_tolerance=tie_tolerance)
        parts.append(t.assign(source="human"))
    if not parts:
        raise MetricInputError("family trends need at least one metric or a human scale")
    out = pd.concat(parts, ignore_index=True)
    return out[["source", "family", "wins", "n_images", "win_rate", "best_mean", "n_present"]]
