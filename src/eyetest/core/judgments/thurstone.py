"""Thurstone Case V scaling in JOD units (just-objectionable differences).

Model (Thurstone 1927, Case V; as defined by pwcmp, Perez-Ortiz & Mantiuk
2017, "A practical guide and software for analysing pairwise comparison
experiments", arXiv:1712.03686):

    P(i preferred over j) = Phi((q_i - q_j) / sigma),   sigma = 1 / Phi^-1(0.75) = 1.4826

so that a difference of 1 JOD means 75 % of observers prefer the better
condition.  Ties (if any) count as half a preference for each side, as pwcmp
does.  The scale is the maximum-likelihood estimate (optional Gaussian prior)
fitted with the same Newton solver and graph handling as Bradley-Terry
(:func:`eyetest.core.judgments.bradley_terry.fit_pairwise`); pwcmp anchors the
first condition at 0, here pass ``anchor=`` (default: centred).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from eyetest.core.judgments._pairlik import JOD_SIGMA
from eyetest.core.judgments.bradley_terry import fit_pairwise
from eyetest.core.judgments.scale import ScaleFit

__all__ = ["JOD_SIGMA", "fit_thurstone", "jod_to_probability", "probability_to_jod"]


def fit_thurstone(judgments, **kwargs) -> ScaleFit:
    """Thurstone Case V scale in JOD (keywords as in ``fit_pairwise``)."""
    return fit_pairwise(judgments, model="thurstone", **kwargs)


def jod_to_probability(difference):
    """``Phi(difference / sigma)``: the preference probability of a JOD difference."""
    return norm.cdf(np.asarray(difference, dtype=float) / JOD_SIGMA)


def probability_to_jod(probability):
    """Inverse of :func:`jod_to_probability` (0.75 -> 1 JOD)."""
    return JOD_SIGMA * norm.ppf(np.asarray(probability, dtype=float))
