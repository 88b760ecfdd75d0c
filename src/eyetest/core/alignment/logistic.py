"""Monotonic logistic mappings from metric values to human scores.

IQA papers do not correlate raw metric values with MOS linearly: they first
map the metric through a monotonic logistic function fitted by nonlinear
least squares, then report PLCC and RMSE between the mapped values and the
human scores.  Two forms are standard:

5-parameter (VQEG FR-TV Phase I, used by Sheikh, Sabir & Bovik, "A statistical
evaluation of recent full reference image quality assessment algorithms",
IEEE TIP 15(11), 2006, eq. 1)::

    f(x) = b1 * (0.5 - 1 / (1 + exp(b2 * (x - b3)))) + b4 * x + b5

4-parameter (VQEG, "Final report ... validation of objective models of video
quality assessment, Phase II", 2003, section 5.2)::

    f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2

Fitting is done on standardised data (z-scores of x and y) by bounded
trust-region least squares (:func:`scipy.optimize.least_squares`, analytic
Jacobians).  Robust initialisation: for a grid of centres and slopes the
remaining parameters enter linearly and are solved exactly (variable
projection; for the 5PL under its monotonicity sign constraints, by
non-negative least squares); the best grid cells seed the nonlinear fit.  Box constraints make
the curve monotonic (5PL: ``b1`` and ``b4`` share the direction of the data,
``b2 > 0``) and keep the centre inside the data range, which removes the flat
directions that make the unconstrained 5PL diverge on nearly linear data.
Each start gets a budget of function evaluations; on a flat valley (a step
between two neighbouring x values) the point reached is kept.  The fit with
the smallest residual sum of squares wins and is mapped back to the original
units.  When no fit succeeds (too few points, every start fails) the fit falls
back to the 4-parameter form (if the 5-parameter form was asked for), then to
a straight line, and :attr:`LogisticFit.status` says which happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import least_squares, nnls

from eyetest.errors import MetricInputError

Model = Literal["5pl", "4pl", "linear"]
FitStatus = Literal["ok", "fallback-4pl", "fallback-linear", "degenerate"]

_MIN_POINTS = {"5pl": 7, "4pl": 6, "linear": 3}
_MAX_NFEV = 200  # per start; see _fit_standardised


def logistic5(x, b1, b2, b3, b4, b5):
    """The 5-parameter logistic ``b1*(0.5 - 1/(1+exp(b2*(x-b3)))) + b4*x + b5``.

    Reference: Sheikh, Sabir & Bovik, IEEE TIP 15(11), 2006, eq. 1.
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.clip(b2 * (x - b3), -700.0, 700.0)
    return b1 * (0.5 - 1.0 / (1.0 + np.exp(t))) + b4 * x + b5


def logistic4(x, b1, b2, b3, b4):
    """The 4-parameter logistic ``(b1-b2)/(1+exp(-(x-b3)/|b4|)) + b2``.

    Reference: VQEG FR-TV Phase II final report (2003), section 5.2.
    """
    x = np.asarray(x, dtype=np.float64)
    scale = max(abs(float(b4)), 1e-12)
    t = np.clip(-(x - b3) / scale, -700.0, 700.0)
    return (b1 - b2) / (1.0 + np.exp(t)) + b2


def _jac5(x, b1, b2, b3, b4, b5):
    """Analytic Jacobian of :func:`logistic5` with respect to ``b1..b5``."""
    x = np.asarray(x, dtype=np.float64)
    s = 1.0 / (1.0 + np.exp(np.clip(b2 * (x - b3), -700.0, 700.0)))
    ds = s * (1.0 - s)
    return np.column_stack([0.5 - s, b1 * ds * (x - b3), -b1 * ds * b2, x, np.ones_like(x)])


def _jac4(x, b1, b2, b3, b4):
    """Analytic Jacobian of :func:`logistic4` for ``b4 > 0`` (as the fit constrains it)."""
    x = np.asarray(x, dtype=np.float64)
    g = 1.0 / (1.0 + np.exp(np.clip(-(x - b3) / b4, -700.0, 700.0)))
    dg = (b1 - b2) * g * (1.0 - g)
    return np.column_stack([g, 1.0 - g, -dg / b4, -dg * (x - b3) / (b4 * b4)])


def _linear(x, a, b):
    return a * np.asarray(x, dtype=np.float64) + b


@dataclass(frozen=True)
class LogisticFit:
    """A fitted monotonic mapping metric -> human score.

    Attributes
    ----------
    model : ``"5pl"``, ``"4pl"``, ``"linear"`` or ``"constant"`` (what was used).
    params : parameters in the original units (``b1..b5``, ``b1..b4``,
        ``(slope, intercept)`` or ``(mean,)``).  Canonical signs: ``b2 > 0`` for
        5PL (``(b1, b2)`` and ``(-b1, -b2)`` give the same curve), ``b4 > 0``
        for 4PL.
    status : ``"ok"`` (the requested model), ``"fallback-4pl"``,
        ``"fallback-linear"`` or ``"degenerate"`` (constant input: the mapping
        is the mean human score).
    requested : the model that was asked for.
    """

    model: str
    params: tuple[float, ...]
    status: FitStatus
    requested: str

    def predict(self, x) -> np.ndarray:
        """Mapped values ``f(x)``."""
        x = np.asarray(x, dtype=np.float64)
        if self.model == "5pl":
            return logistic5(x, *self.params)
        if self.model == "4pl":
            return logistic4(x, *self.params)
        if self.model == "linear":
            return _linear(x, *self.params)
        return np.full(x.shape, self.params[0], dtype=np.float64)


def _starts(model: str, zx: np.ndarray, zy: np.ndarray, *, sign: float = 1.0, keep: int = 4) -> list[list[float]]:
    """Starting points by variable projection on a grid.

    For a fixed centre ``c3`` and slope/width, both models are linear in the
    remaining parameters (5PL: ``c1, c4, c5``; 4PL: ``c1 - c2, c2``), so a
    linear least-squares solve gives the best of those for every grid cell.
    For the 5PL it is solved under the monotonicity constraints of
    :func:`_bounds` (``sign * c1 >= 0``, ``sign * c4 >= 0``; non-negative
    least squares after eliminating the free intercept ``c5`` by centring),
    so every start is feasible: an unconstrained solve can pick cells whose
    ``c1`` has the wrong sign, and clipping those to ``c1 = 0`` starts the
    optimiser on the straight line, where the gradient in ``c2, c3`` is zero
    and it never leaves.  The ``keep`` cells with the smallest residual seed
    the nonlinear fit.
    """
    centres = np.quantile(zx, np.linspace(0.05, 0.95, 19))
    slopes = np.logspace(-1.0, 1.5, 14)
    ones = np.ones_like(zx)
    xc, yc = zx - zx.mean(), zy - zy.mean()
    scored = []
    for c in centres:
        for k in slopes:
            if model == "5pl":
                s = 0.5 - 1.0 / (1.0 + np.exp(np.clip(k * (zx - c), -700, 700)))
                u, _ = nnls(sign * np.column_stack([s - s.mean(), xc]), yc)
                c1, c4 = sign * u[0], sign * u[1]
                c5 = zy.mean() - c1 * s.mean() - c4 * zx.mean()
                sse = float(np.sum((c1 * s + c4 * zx + c5 - zy) ** 2))
                start = [c1, k, c, c4, c5]
            else:
                s = 1.0 / (1.0 + np.exp(np.clip(-(zx - c) * k, -700, 700)))
                design = np.column_stack([s, ones])
                coef, *_ = np.linalg.lstsq(design, zy, rcond=None)
                sse = float(np.sum((design @ coef - zy) ** 2))
                start = [coef[0] + coef[1], coef[1], c, 1.0 / k]
            scored.append((sse, [float(v) for v in start]))
    scored.sort(key=lambda item: item[0])
    return [start for _, start in scored[:keep]]


def _monotonic(func, params, zx: np.ndarray) -> bool:
    grid = np.linspace(zx.min(), zx.max(), 512)
    d = np.diff(func(grid, *params))
    tol = 1e-9 * (np.abs(d).max() + 1e-300)
    return bool(np.all(d >= -tol) or np.all(d <= tol))


def _to_standardised(model: str, b, mx: float, sx: float, my: float, sy: float) -> list[float]:
    if model == "5pl":
        b1, b2, b3, b4, b5 = b
        return [b1 / sy, b2 * sx, (b3 - mx) / sx, b4 * sx / sy, (b5 + b4 * mx - my) / sy]
    b1, b2, b3, b4 = b
    return [(b1 - my) / sy, (b2 - my) / sy, (b3 - mx) / sx, b4 / sx]


def _bounds(model: str, zx: np.ndarray, sign: float) -> tuple[np.ndarray, np.ndarray]:
    """Box constraints (standardised units) that make the fitted curve monotonic.

    5PL: with ``b2 > 0`` the logistic term has the sign of ``b1``, so
    ``b1, b4 >= 0`` (increasing data) or ``b1, b4 <= 0`` (decreasing) gives a
    monotonic curve; the 4PL is monotonic for any parameters.  The centre is
    kept inside the data range and the slope/width within [0.05, 100] /
    [0.01, 20] standard deviations of x, which removes the flat directions
    (``b1 -> inf`` with ``b2 -> 0``) that make the unconstrained problem
    ill-posed on nearly linear data.
    """
    lo3, hi3 = float(zx.min()), float(zx.max())
    inf = np.inf
    if model == "5pl":
        if sign >= 0:
            return np.array([0.0, 0.05, lo3, 0.0, -inf]), np.array([inf, 100.0, hi3, inf, inf])
        return np.array([-inf, 0.05, lo3, -inf, -inf]), np.array([0.0, 100.0, hi3, 0.0, inf])
    return np.array([-50.0, -50.0, lo3, 0.01]), np.array([50.0, 50.0, hi3, 20.0])


def _fit_standardised(model: str, zx: np.ndarray, zy: np.ndarray, warm=None):
    func, jac = (logistic5, _jac5) if model == "5pl" else (logistic4, _jac4)
    sign = 1.0 if np.corrcoef(zx, zy)[0, 1] >= 0 else -1.0
    lower, upper = _bounds(model, zx, sign)
    margin = 1e-9 * (1.0 + np.abs(np.where(np.isfinite(lower), lower, 0.0)))
    best = None

    def starts():
        if warm is not None:
            yield warm
        # a warm start alone can stay in a worse local optimum (or on the
        # straight line, when the resample's direction differs from the full
        # data's): the best grid cell is always tried as well
        yield from _starts(model, zx, zy, sign=sign, keep=1 if warm is not None else 4)

    for p0 in starts():
        p0 = np.clip(np.asarray(p0, dtype=float), lower + margin, upper - margin)
        try:
            with np.errstate(all="ignore"):
                result = least_squares(lambda p: func(zx, *p) - zy, p0, jac=lambda p: jac(zx, *p),
                                       bounds=(lower, upper), method="trf", max_nfev=_MAX_NFEV)
        except (ValueError, FloatingPointError, np.linalg.LinAlgError):
            continue
        # status 0 = evaluation budget used up; on flat valleys (a step between
        # two neighbouring x) the last point is as good as the limit, so keep it
        if result.status < 0:
            continue
        params = result.x
        if not np.all(np.isfinite(params)):
            continue
        pred = func(zx, *params)
        sse = float(np.sum((pred - zy) ** 2))
        if not np.isfinite(sse) or not _monotonic(func, params, zx):
            continue
        if best is None or sse < best[1] - 1e-12:
            best = (params, sse)
    return None if best is None else best[0]


def _to_original(model: str, c, mx: float, sx: float, my: float, sy: float) -> tuple[float, ...]:
    if model == "5pl":
        c1, c2, c3, c4, c5 = (float(v) for v in c)
        if c2 < 0:  # (b1, b2) and (-b1, -b2) describe the same curve
            c1, c2 = -c1, -c2
        return (sy * c1, c2 / sx, mx + sx * c3, sy * c4 / sx, sy * (c5 - c4 * mx / sx) + my)
    c1, c2, c3, c4 = (float(v) for v in c)
    return (sy * c1 + my, sy * c2 + my, mx + sx * c3, sx * abs(c4))


def fit_logistic(
    metric_values, human_scores, *, model: Model = "5pl", start: LogisticFit | None = None
) -> LogisticFit:
    """Fit the monotonic mapping from metric values to human scores.

    Parameters
    ----------
    metric_values, human_scores : 1-D array-likes of equal length (finite).
    model : ``"5pl"`` (Sheikh et al. 2006), ``"4pl"`` (VQEG Phase II) or
        ``"linear"``.
    start : optional earlier fit (e.g. on the full data when fitting bootstrap
        resamples).  If it is of the model being tried, the optimiser starts
        from it and from the best grid cell, and keeps the better fit (fewer
        starts than a cold fit); otherwise the grid initialisation is used.

    Returns
    -------
    LogisticFit
        With ``status`` telling whether the requested model was fitted or a
        fallback was used.  Fallback order: 5PL -> 4PL -> linear; a constant
        ``metric_values`` or ``human_scores`` gives ``"degenerate"``.  The
        5PL needs at least 7 points and the 4PL at least 6 (more points than
        parameters plus one), otherwise the next form is used.

    Raises
    ------
    MetricInputError
        Lengths differ, fewer than 2 points, or non-finite values.
    """
    if model not in _MIN_POINTS:
        raise MetricInputError(f"model must be one of 5pl, 4pl, linear; got {model!r}")
    x = np.asarray(metric_values, dtype=np.float64).ravel()
    y = np.asarray(human_scores, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise MetricInputError(f"metric_values ({x.size}) and human_scores ({y.size}) differ in length")
    if x.size < 2:
        raise MetricInputError(f"need at least 2 points to fit a mapping, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise MetricInputError("metric_values and human_scores must be finite")
    mx, sx, my, sy = float(x.mean()), float(x.std()), float(y.mean()), float(y.std())
    if sx == 0.0 or sy == 0.0:
        return LogisticFit("constant", (my,), "degenerate", model)
    zx, zy = (x - mx) / sx, (y - my) / sy
    order = {"5pl": ["5pl", "4pl"], "4pl": ["4pl"], "linear": []}[model]
    for candidate in order:
        if x.size < _MIN_POINTS[candidate] or np.unique(x).size < 4:
            continue
        warm = None
        if start is not None and start.model == candidate:
            warm = _to_standardised(candidate, start.params, mx, sx, my, sy)
        c = _fit_standardised(candidate, zx, zy, warm)
        if c is not None:
            status: FitStatus = "ok" if candidate == model else "fallback-4pl"
            return LogisticFit(candidate, _to_original(candidate, c, mx, sx, my, sy), status, model)
    slope, intercept = np.polyfit(x, y, 1)
    status = "ok" if model == "linear" else "fallback-linear"
    return LogisticFit("linear", (float(slope), float(intercept)), status, model)
