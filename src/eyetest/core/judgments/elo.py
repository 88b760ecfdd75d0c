"""Online Elo ratings (for compatibility with arena leaderboards).

Update after each judgment between a and b (Elo 1978, "The Rating of
Chessplayers"; as used by Chatbot Arena, Zheng et al. 2023 / Chiang et al. 2024):

    E_a = 1 / (1 + base^((R_b - R_a) / scale)),   R_a <- R_a + K (S_a - E_a),
    R_b <- R_b + K ((1 - S_a) - (1 - E_a)),

with ``S_a = 1`` (a preferred), ``0`` (b preferred), ``1/2`` (tie).  Defaults
follow Chatbot Arena: ``K = 4``, ``base = 10``, ``scale = 400``, initial
rating 1000.

Elo is order dependent: the same judgments in another order give other
ratings (recent judgments weigh more).  Judgments are processed in row
order (sort by ``timestamp`` first if that is the order they were made);
``n_shuffles`` > 0 averages the ratings over that many random orders drawn
from ``rng``, which removes the order effect in expectation.  Elo has no
likelihood-based CI; use :func:`bootstrap_elo` for replicates.  Bradley-Terry
is the default model and the maximum-likelihood counterpart of Elo
(``R = 400 / ln(10) * s + const``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eyetest.core.judgments.model import validate_pairwise
from eyetest.core.judgments.scale import ScaleFit
from eyetest.errors import JudgmentDataError


def _encode(judgments: pd.DataFrame):
    df = validate_pairwise(judgments)
    labels = sorted(set(df["condition_a"]) | set(df["condition_b"]))
    pos = {c: k for k, c in enumerate(labels)}
    a = df["condition_a"].map(pos).to_numpy(int)
    b = df["condition_b"].map(pos).to_numpy(int)
    score = df["outcome"].map({"a": 1.0, "b": 0.0, "tie": 0.5}).to_numpy(float)
    return tuple(labels), a, b, score


def elo_ratings(a, b, score_a, n_conditions, *, k=4.0, scale=400.0, base=10.0, initial=1000.0):
    """Run the online Elo update over index arrays (in the given order); returns ratings."""
    r = [float(initial)] * n_conditions
    lb = np.log(base)
    for x, y, s in zip(a.tolist(), b.tolist(), score_a.tolist()):
        e = 1.0 / (1.0 + np.exp(lb * (r[y] - r[x]) / scale))
        delta = k * (s - e)
        r[x] += delta
        r[y] -= delta
    return np.asarray(r)


def fit_elo(judgments: pd.DataFrame, *, k: float = 4.0, scale: float = 400.0, base: float = 10.0,
            initial: float = 1000.0, n_shuffles: int = 0, rng: np.random.Generator | None = None) -> ScaleFit:
    """Online Elo ratings (module docstring); ``n_shuffles`` > 0 needs ``rng``."""
    labels, a, b, s = _encode(judgments)
    if n_shuffles and rng is None:
        raise JudgmentDataError("rng", None, "n_shuffles > 0 needs a numpy Generator")
    if n_shuffles:
        runs = []
        for _ in range(n_shuffles):
            order = rng.permutation(len(a))
            runs.append(elo_ratings(a[order], b[order], s[order], len(labels), k=k, scale=scale,
                                    base=base, initial=initial))
        ratings = np.mean(runs, axis=0)
    else:
        ratings = elo_ratings(a, b, s, len(labels), k=k, scale=scale, base=base, initial=initial)
    info = {"k": k, "scale": scale, "base": base, "initial": initial, "n_shuffles": n_shuffles,
            "n_judgments": len(a)}
    return ScaleFit(conditions=labels, scores=ratings, cov=None, model="elo", unit="elo",
                    component=np.zeros(len(labels), int), info=info)


def bootstrap_elo(judgments: pd.DataFrame, fit: ScaleFit, *, n_boot: int = 1000,
                  rng: np.random.Generator) -> ScaleFit:
    """Attach replicates: Elo recomputed on judgments resampled with replacement (in a random order)."""
    labels, a, b, s = _encode(judgments)
    if labels != fit.conditions:
        raise JudgmentDataError("conditions", len(labels), "differ from those of the fit")
    inf = fit.info
    reps = np.empty((n_boot, len(labels)))
    for r in range(n_boot):
        idx = rng.integers(0, len(a), len(a))
        reps[r] = elo_ratings(a[idx], b[idx], s[idx], len(labels), k=inf["k"], scale=inf["scale"],
                              base=inf["base"], initial=inf["initial"])
    return fit.with_replicates(reps)
