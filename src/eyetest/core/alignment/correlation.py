"""Correlation statistics between a metric and human scores.

The four numbers IQA papers report (VQEG FR-TV Phase II, 2003; Sheikh et
al., IEEE TIP 2006):

* SRCC, Spearman's rank correlation: Pearson's r of the (mid-)ranks.
* KRCC, Kendall's tau-b: ``(C - D) / sqrt((P - T_x) (P - T_y))`` with ``C``/``D``
  concordant/discordant pairs, ``P = n(n-1)/2`` and ``T_x``/``T_y`` the
  pairs tied in x / y (Kendall, "The treatment of ties in ranking problems",
  Biometrika 1945).
* PLCC, Pearson's r, computed between the human scores and the metric after
  the monotonic logistic mapping of :mod:`.logistic`.
* RMSE between the human scores and the mapped metric values.

Direction: a metric where lower is better (NIQE, LPIPS) correlates
negatively with human scores when it works.  :func:`alignment_stats` takes
``higher_is_better`` and multiplies the metric by -1 when it is ``False``,
so a positive SRCC/KRCC always means "agrees with people".  The logistic fit
may rise or fall; the PLCC after the fit (always >= 0 as a correlation of a
least-squares fit) is given the sign of the fitted mapping's slope, so a
metric that people rank the *wrong* way round gets a negative PLCC too
(``|plcc|`` is the number papers report).  The RMSE does not depend on the
direction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import kendalltau, rankdata

from eyetest.core.alignment.logistic import LogisticFit, Model, fit_logistic
from eyetest.errors import MetricInputError


_KRCC_EXACT_MAX = 3000


def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise MetricInputError(f"lengths differ: {x.size} metric values vs {y.size} human scores")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise MetricInputError("metric values and human scores must be finite (drop missing rows first)")
    return x, y


def plcc(x, y) -> float:
    """Pearson's linear correlation ``cov(x, y) / (sd(x) sd(y))``; NaN if either is constant."""
    x, y = _pair(x, y)
    dx, dy = x - x.mean(), y - y.mean()
    den = np.sqrt(np.dot(dx, dx) * np.dot(dy, dy))
    if x.size < 2 or den == 0.0:
        return float("nan")
    return float(np.clip(np.dot(dx, dy) / den, -1.0, 1.0))


def srcc(x, y) -> float:
    """Spearman's rank correlation: :func:`plcc` of the mid-ranks of ``x`` and ``y``."""
    x, y = _pair(x, y)
    return plcc(rankdata(x), rankdata(y))


def krcc(x, y, *, block: int = 2048) -> float:
    """Kendall's tau-b ``(C - D) / sqrt((P - T_x)(P - T_y))``.

    Counted exactly over all pairs in blocks of at most ``block`` rows
    (O(n^2) time, at most a few million cells of memory at a time) for up to
    3000 values; above that :func:`scipy.stats.kendalltau` (the same tau-b,
    by Knight's O(n log n) algorithm) is used.  NaN when either variable is constant.
    """
    x, y = _pair(x, y)
    n = x.size
    if n < 2:
        return float("nan")
    if n > _KRCC_EXACT_MAX:
        # same statistic (tau-b) with an O(n log n) algorithm (Knight, JASA 1966)
        tau = kendalltau(x, y, variant="b").statistic
        return float(tau) if np.isfinite(tau) else float("nan")
    block = max(1, min(int(block), 4_000_000 // n))  # bound memory to a few million cells
    s = 0.0  # C - D
    untied_x = 0.0  # P - T_x
    untied_y = 0.0
    for start in range(0, n, block):
        stop = min(start + block, n)
        # pairs (i, j) with i in this block and j > i
        sx = np.sign(x[start:stop, None] - x[None, :])
        sy = np.sign(y[start:stop, None] - y[None, :])
        upper = np.arange(start, stop)[:, None] < np.arange(n)[None, :]
        s += float(np.sum(sx * sy * upper))
        untied_x += float(np.sum((sx != 0) & upper))
        untied_y += float(np.sum((sy != 0) & upper))
    den = np.sqrt(untied_x * untied_y)
    if den == 0.0:
        return float("nan")
    return float(np.clip(s / den, -1.0, 1.0))


def rmse(x, y) -> float:
    """Root mean squared difference ``sqrt(mean((x - y)^2))``."""
    x, y = _pair(x, y)
    return float(np.sqrt(np.mean((x - y) ** 2)))


@dataclass(frozen=True)
class AlignmentStats:
    """Agreement of one metric with human scores on one set of conditions.

    ``srcc``/``krcc``/``plcc_raw`` are direction-adjusted (positive = agrees);
    ``plcc``/``rmse`` are computed after the logistic mapping ``fit``
    (``plcc`` carries the sign of the mapping's slope, see module docstring).
    """

    n: int
    srcc: float
    krcc: float
    plcc: float
    rmse: float
    plcc_raw: float
    fit: LogisticFit

    def as_dict(self) -> dict:
        """Flat dict (``fit_model``, ``fit_status`` instead of the fit object)."""
        out = {k: v for k, v in asdict(self).items() if k != "fit"}
        out["fit_model"] = self.fit.model
        out["fit_status"] = self.fit.status
        return out


def mapping_sign(fit: LogisticFit, signed_values) -> float:
    """+1 if the fitted mapping rises over the data range, -1 if it falls (0: flat)."""
    lo, hi = float(np.min(signed_values)), float(np.max(signed_values))
    ends = fit.predict(np.array([lo, hi]))
    return float(np.sign(ends[1] - ends[0]))


def alignment_stats(
    metric_values,
    human_scores,
    *,
    higher_is_better: bool,
    model: Model = "5pl",
    start: LogisticFit | None = None,
) -> AlignmentStats:
    """SRCC, KRCC, PLCC and RMSE of a metric against human scores.

    Parameters
    ----------
    metric_values, human_scores : equal-length 1-D array-likes, one entry per
        condition (e.g. per (image, method)).
    higher_is_better : the metric's direction (``MetricSpec.higher_is_better``).
        When ``False`` the metric is negated first, so SRCC, KRCC and
        ``plcc_raw`` are positive when the metric agrees with people.
    model : logistic mapping for PLCC/RMSE: ``"5pl"`` (Sheikh et al. 2006),
        ``"4pl"`` (VQEG Phase II) or ``"linear"``; see :func:`fit_logistic`
        for the fallbacks and the reported status.
    start : optional earlier fit to start the optimiser from (bootstrap).

    Returns
    -------
    AlignmentStats
    """
    x, y = _pair(metric_values, human_scores)
    if x.size < 2:
        raise MetricInputError(f"need at least 2 conditions to correlate, got {x.size}")
    signed = x if higher_is_better else -x
    fit = fit_logistic(signed, y, model=model, start=start)
    mapped = fit.predict(signed)
    return AlignmentStats(
        n=int(x.size),
        srcc=srcc(signed, y),
        krcc=krcc(signed, y),
        plcc=mapping_sign(fit, signed) * plcc(mapped, y),
        rmse=rmse(mapped, y),
        plcc_raw=plcc(signed, y),
        fit=fit,
    )
