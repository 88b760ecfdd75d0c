"""Pairwise agreement between a metric and human judgments, and disagreements.

A *pair* is two conditions compared by people: either directly (pairwise
judgments ``rater, condition_a, condition_b, outcome`` with outcome ``a``,
``b`` or ``tie``), or derived from a scale (two methods on the same image,
compared by their MOS / scale score).

Pairwise agreement (the "2AFC accuracy" of Zhang et al., "The unreasonable
effectiveness of deep features as a perceptual metric", CVPR 2018, and the
pairwise accuracy of Prashnani et al., CVPR 2018) is

    agreement = (sum over decided pairs of w_p * a_p) / (sum of w_p)

with ``a_p = 1`` when the metric orders the pair like people, ``0`` when it
orders it the other way, and for a metric tie (``|m_a - m_b| <= tie_tolerance``)
either ``0.5`` (``metric_ties="half"``, the default: a tie is a coin flip) or
the pair is left out (``metric_ties="exclude"``).  Two weightings:

* ``"pair"``: every pair where people decided counts once (``w_p = 1``); the
  human order is the majority of the non-tie votes; pairs with as many votes
  for A as for B (or only tie votes) are undecided and left out.
* ``"judgment"``: every non-tie vote counts (``w_p = wins_a + wins_b``) and
  ``a_p`` is the share of those votes on the metric's side; this equals the
  share of individual decided judgments the metric agrees with.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from eyetest.errors import MetricInputError

_OPTIONAL = ("image", "method_a", "method_b", "scenario")
_SWAP = {"a": "b", "b": "a", "tie": "tie"}


def _require(frame: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MetricInputError(f"{what} lacks column(s) {', '.join(missing)}; has {', '.join(map(str, frame.columns))}")


def aggregate_judgments(judgments: pd.DataFrame) -> pd.DataFrame:
    """Votes per unordered condition pair (and per dimension, if given).

    Each pair is put in a canonical order (``condition_a`` < ``condition_b`` as
    strings); judgments shown the other way round have their outcome (and
    ``method_a``/``method_b``) swapped.

    Returns
    -------
    DataFrame
        ``condition_a, condition_b, [dimension], [image, method_a, method_b,
        scenario], wins_a, wins_b, ties, n, human, human_margin`` where
        ``human`` is +1 / -1 / 0 (majority of non-tie votes for A / B / none)
        and ``human_margin = (wins_a - wins_b) / n`` in [-1, 1].
    """
    _require(judgments, ("condition_a", "condition_b", "outcome"), "judgments")
    j = judgments.copy()
    j["outcome"] = j["outcome"].astype(str).str.strip().str.lower()
    bad = sorted(set(j["outcome"]) - set(_SWAP))
    if bad:
        raise MetricInputError(f"judgments: outcome must be a, b or tie; got {', '.join(map(repr, bad))}")
    flip = j["condition_a"].astype(str) > j["condition_b"].astype(str)
    if flip.any():
        j.loc[flip, ["condition_a", "condition_b"]] = j.loc[flip, ["condition_b", "condition_a"]].to_numpy()
        j.loc[flip, "outcome"] = j.loc[flip, "outcome"].map(_SWAP)
        if {"method_a", "method_b"} <= set(j.columns):
            j.loc[flip, ["method_a", "method_b"]] = j.loc[flip, ["method_b", "method_a"]].to_numpy()
    keys = ["condition_a", "condition_b"] + (["dimension"] if "dimension" in j.columns else [])
    j["wins_a"] = (j["outcome"] == "a").astype(int)
    j["wins_b"] = (j["outcome"] == "b").astype(int)
    j["ties"] = (j["outcome"] == "tie").astype(int)
    agg = {"wins_a": "sum", "wins_b": "sum", "ties": "sum"}
    agg.update({c: "first" for c in _OPTIONAL if c in j.columns})
    out = j.groupby(keys, sort=True, dropna=False).agg(agg).reset_index()
    out["n"] = out["wins_a"] + out["wins_b"] + out["ties"]
    out["human"] = np.sign(out["wins_a"] - out["wins_b"]).astype(int)
    out["human_margin"] = (out["wins_a"] - out["wins_b"]) / out["n"]
    return out


def pairs_from_scale(
    scale: pd.DataFrame,
    *,
    value: str = "score",
    within: str = "image",
    method: str = "method",
    min_difference: float = 0.0,
) -> pd.DataFrame:
    """All method pairs on the same image, ordered by a human scale (e.g. MOS).

    Parameters
    ----------
    scale : one row per (image, method) (per dimension, if a ``dimension``
        column is present) with the human score in ``value``.
    within : column whose values define the sets compared (default the image).
    min_difference : pairs whose scores differ by no more than this are
        human ties (``human = 0``).

    Returns
    -------
    DataFrame
        ``<within>, method_a, method_b, [dimension, scenario], score_a, score_b,
        human, human_margin`` (``human_margin = score_a - score_b``), with
        ``method_a < method_b``.
    """
    _require(scale, (within, method, value), "human scale")
    sets = [within] + (["dimension"] if "dimension" in scale.columns else [])
    dup = scale.duplicated(sets + [method])
    if dup.any():
        row = scale.loc[dup].iloc[0]
        raise MetricInputError(
            f"human scale has several rows for {within}={row[within]!r}, {method}={row[method]!r}; "
            "give one score per condition (and dimension)"
        )
    extra = [c for c in ("scenario",) if c in scale.columns]
    left = scale[sets + [method, value] + extra].rename(columns={method: "method_a", value: "score_a"})
    right = scale[sets + [method, value]].rename(columns={method: "method_b", value: "score_b"})
    pairs = left.merge(right, on=sets)
    pairs = pairs[pairs["method_a"].astype(str) < pairs["method_b"].astype(str)].reset_index(drop=True)
    diff = pairs["score_a"].to_numpy(float) - pairs["score_b"].to_numpy(float)
    pairs["human"] = np.where(np.abs(diff) > min_difference, np.sign(diff), 0).astype(int)
    pairs["human_margin"] = diff
    return pairs


def attach_metric(pairs: pd.DataFrame, scores: pd.DataFrame, *, metric: str | None = None) -> pd.DataFrame:
    """Add ``metric_a``/``metric_b`` (the metric's value on each side) to pairs.

    Looks up ``(image, method_a)``/``(image, method_b)`` in the tidy result
    table ``scores`` (``image, method, [metric,] value``) when the pairs carry
    ``image, method_a, method_b``; otherwise ``condition_a``/``condition_b``
    in a ``condition`` column of ``scores``.  Missing values become NaN.
    """
    s = scores
    if metric is not None:
        _require(s, ("metric",), "scores")
        s = s[s["metric"] == metric]
    _require(s, ("value",), "scores")
    if {"image", "method_a", "method_b"} <= set(pairs.columns) and {"image", "method"} <= set(s.columns):
        table = s.drop_duplicates(["image", "method"]).set_index(["image", "method"])["value"]
        idx_a = pd.MultiIndex.from_arrays([pairs["image"], pairs["method_a"]])
        idx_b = pd.MultiIndex.from_arrays([pairs["image"], pairs["method_b"]])
    elif {"condition_a", "condition_b"} <= set(pairs.columns) and "condition" in s.columns:
        table = s.drop_duplicates(["condition"]).set_index("condition")["value"]
        idx_a, idx_b = pd.Index(pairs["condition_a"]), pd.Index(pairs["condition_b"])
    else:
        raise MetricInputError(
            "cannot match pairs to scores: need image/method_a/method_b in the pairs and image/method "
            "in the scores, or condition_a/condition_b and a condition column"
        )
    out = pairs.copy()
    out["metric_a"] = table.reindex(idx_a).to_numpy(dtype=float)
    out["metric_b"] = table.reindex(idx_b).to_numpy(dtype=float)
    return out


def pair_agreement(
    metric_a,
    metric_b,
    human,
    *,
    higher_is_better: bool,
    metric_ties: Literal["half", "exclude"] = "half",
    tie_tolerance: float = 0.0,
    weights=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair agreement values ``a_p`` and weights ``w_p``.

    ``human`` is the human order of each pair: +1 (A better), -1 (B better),
    0 (undecided; weight 0), or, with ``weights`` given (vote counts), the
    share of decided votes for A in [0, 1] (``weighting="judgment"``).
    NaN metric values give weight 0.
    """
    if metric_ties not in ("half", "exclude"):
        raise MetricInputError(f"metric_ties must be 'half' or 'exclude', got {metric_ties!r}")
    ma = np.asarray(metric_a, dtype=float)
    mb = np.asarray(metric_b, dtype=float)
    h = np.asarray(human, dtype=float)
    d = (ma - mb) * (1.0 if higher_is_better else -1.0)
    metric_sign = np.where(np.abs(d) <= tie_tolerance, 0.0, np.sign(d))
    if weights is None:
        w = (h != 0).astype(float)
        a = np.where(metric_sign == 0, 0.5, (metric_sign == np.sign(h)).astype(float))
    else:
        w = np.asarray(weights, dtype=float).copy()
        a = np.where(metric_sign > 0, h, np.where(metric_sign < 0, 1.0 - h, 0.5))
    w[~np.isfinite(d)] = 0.0
    if metric_ties == "exclude":
        w[metric_sign == 0] = 0.0
    a = np.where(w > 0, a, 0.0)
    return a, w


def agreement_statistic(pairs: pd.DataFrame, *, higher_is_better: bool, metric_ties="half",
                        tie_tolerance: float = 0.0, weighting: str = "pair"):
    """A function ``rows -> agreement`` over ``pairs`` (for :func:`bootstrap_ci`).

    ``pairs`` needs ``metric_a, metric_b`` and ``human`` (``"pair"``
    weighting) or ``wins_a, wins_b`` (``"judgment"`` weighting).
    """
    if weighting == "pair":
        _require(pairs, ("metric_a", "metric_b", "human"), "pairs")
        human, weights = pairs["human"].to_numpy(float), None
    elif weighting == "judgment":
        _require(pairs, ("metric_a", "metric_b", "wins_a", "wins_b"), "pairs")
        decided = (pairs["wins_a"] + pairs["wins_b"]).to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            human = np.where(decided > 0, pairs["wins_a"].to_numpy(float) / decided, 0.5)
        weights = decided
    else:
        raise MetricInputError(f"weighting must be 'pair' or 'judgment', got {weighting!r}")
    a, w = pair_agreement(pairs["metric_a"], pairs["metric_b"], human, higher_is_better=higher_is_better,
                          metric_ties=metric_ties, tie_tolerance=tie_tolerance, weights=weights)

    def statistic(rows: np.ndarray) -> float:
        total = w[rows].sum()
        return float(np.dot(a[rows], w[rows]) / total) if total > 0 else float("nan")

    return statistic, a, w


def pairwise_agreement(pairs: pd.DataFrame, *, higher_is_better: bool, metric_ties="half",
                       tie_tolerance: float = 0.0, weighting: str = "pair") -> dict:
    """Share of human-decided pairs the metric orders the same way.

    See the module docstring for the formula, the two weightings and the
    treatment of metric ties.  Returns ``{"agreement", "n_pairs",
    "n_metric_ties", "weight"}`` where ``n_pairs`` counts the pairs that
    entered the share, ``n_metric_ties`` the decided pairs (``"judgment"``:
    pairs with at least one non-tie vote) the metric tied, and ``weight`` the
    total weight (pairs or decided votes).
    """
    statistic, a, w = agreement_statistic(pairs, higher_is_better=higher_is_better, metric_ties=metric_ties,
                                          tie_tolerance=tie_tolerance, weighting=weighting)
    d = (pairs["metric_a"].to_numpy(float) - pairs["metric_b"].to_numpy(float))
    if weighting == "judgment":  # a pair counts when it has decided votes, even split ones (2 vs 2)
        human_decided = (pairs["wins_a"] + pairs["wins_b"]).to_numpy(float) > 0
    else:
        human_decided = pairs["human"].to_numpy(float) != 0
    ties = int(np.sum(human_decided & (np.abs(d) <= tie_tolerance)))
    return {
        "agreement": statistic(np.arange(len(pairs))),
        "n_pairs": int(np.sum(w > 0)),
        "n_metric_ties": ties,
        "weight": float(w.sum()),
    }


def rank_disagreements(pairs: pd.DataFrame, *, higher_is_better: bool, k: int = 12) -> pd.DataFrame:
    """The ``k`` pairs where the metric and people disagree most.

    Score of a pair: ``disagreement = -human_margin * tanh(metric_margin)``
    where ``metric_margin = s * (metric_a - metric_b) / median|metric_a - metric_b|``
    (``s = -1`` for lower-is-better metrics; the median is over the pairs
    with a non-zero difference), so it is positive only when the two order
    the pair differently, and grows with how sure each side is.  Pairs with
    a positive score are returned, largest first, with every input column
    kept (``image``, ``method_a``, ``method_b``, conditions, votes, metric
    values): enough for a caller to look up the two images for thumbnails.
    """
    _require(pairs, ("metric_a", "metric_b", "human_margin"), "pairs")
    if k < 1:
        raise MetricInputError(f"k must be >= 1, got {k!r}")
    out = pairs.copy()
    d = (out["metric_a"].to_numpy(float) - out["metric_b"].to_numpy(float)) * (1.0 if higher_is_better else -1.0)
    nonzero = np.abs(d[np.isfinite(d) & (d != 0)])
    scale = float(np.median(nonzero)) if nonzero.size else 1.0
    out["metric_margin"] = d / scale
    out["disagreement"] = -out["human_margin"].to_numpy(float) * np.tanh(out["metric_margin"].to_numpy(float))
    out = out[out["disagreement"] > 0]
    return out.sort_values("disagreement", ascending=False, kind="mergesort").head(k).reset_index(drop=True)
