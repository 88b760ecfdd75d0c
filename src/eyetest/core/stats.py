"""Small descriptive statistics shared by summaries and reports.

Pure functions on arrays; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _st


@dataclass(frozen=True)
class MeanCI:
    """A mean with a two-sided confidence interval.

    ``n`` values entered the estimate; ``excluded`` non-finite values were left out.
    ``low``/``high`` are NaN when ``n < 2`` (no interval can be formed).
    """

    mean: float
    low: float
    high: float
    n: int
    excluded: int = 0
    confidence: float = 0.95


def mean_ci_t(values, *, confidence: float = 0.95) -> MeanCI:
    """Mean and Student-t confidence interval of the finite values.

    .. math::

        \\bar x \\pm t_{1-\\alpha/2,\\,n-1}\\, \\frac{s}{\\sqrt n},\\qquad
        s^2 = \\frac{1}{n-1}\\sum_i (x_i - \\bar x)^2

    with :math:`\\alpha = 1 - \\text{confidence}` (Student, "The probable
    error of a mean", Biometrika 6(1), 1908).  The interval assumes the
    per-image values are independent draws; it is the usual error bar of a
    mean over test images.  Non-finite values (e.g. PSNR of an exact copy,
    ``inf``) cannot enter a mean and are counted in ``excluded``.

    Parameters
    ----------
    values : array_like of numbers.
    confidence : coverage in (0, 1), default 0.95.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = np.asarray(values, dtype=np.float64).ravel()
    finite = np.isfinite(x)
    x = x[finite]
    excluded = int((~finite).sum())
    n = int(x.size)
    if n == 0:
        return MeanCI(float("nan"), float("nan"), float("nan"), 0, excluded, confidence)
    mean = float(x.mean())
    if n < 2:
        return MeanCI(mean, float("nan"), float("nan"), n, excluded, confidence)
    sem = float(x.std(ddof=1)) / np.sqrt(n)
    half = float(_st.t.ppf(0.5 + confidence / 2.0, n - 1)) * sem
    return MeanCI(mean, mean - half, mean + half, n, excluded, confidence)
