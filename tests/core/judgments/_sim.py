"""Simulators used by the judgment tests (seeded Generators only)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from eyetest.core.judgments._pairlik import JOD_SIGMA


def simulate(scores, *, model="bradley-terry", tie=0.0, n=20000, rng, raters=10):
    """Pairwise judgments from a known scale: uniform random pairs, uniform raters."""
    scores = np.asarray(scores, float)
    k = len(scores)
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    d = scores[a] - scores[b]
    if model == "bradley-terry":
        pa = 1 / (1 + np.exp(-d))
        pt = np.zeros(n)
    elif model == "thurstone":
        pa = norm.cdf(d / JOD_SIGMA)
        pt = np.zeros(n)
    elif model == "davidson":
        z = np.exp(d / 2) + np.exp(-d / 2) + tie
        pa, pt = np.exp(d / 2) / z, tie / z
    elif model == "rao-kupper":
        pa = 1 / (1 + tie * np.exp(-d))
        pb = 1 / (1 + tie * np.exp(d))
        pt = 1 - pa - pb
    u = rng.random(n)
    outcome = np.where(u < pa, "a", np.where(u < pa + pt, "tie", "b"))
    return pd.DataFrame({
        "rater": [f"r{x}" for x in rng.integers(0, raters, n)],
        "condition_a": [f"c{x}" for x in a],
        "condition_b": [f"c{x}" for x in b],
        "outcome": outcome,
    })


def counts_frame(wins, rater="r"):
    """Rows from {(a, b): (a_wins, b_wins, ties)}."""
    rows = []
    for (a, b), (w, l, t) in wins.items():
        rows += [(rater, a, b, "a")] * w + [(rater, a, b, "b")] * l + [(rater, a, b, "tie")] * t
    return pd.DataFrame(rows, columns=["rater", "condition_a", "condition_b", "outcome"])
