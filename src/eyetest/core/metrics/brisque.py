"""BRISQUE: Blind/Referenceless Image Spatial Quality Evaluator (LIVE release).

A. Mittal, A. K. Moorthy, A. C. Bovik, "No-reference image quality assessment
in the spatial domain", IEEE Transactions on Image Processing 21(12),
4695-4708, 2012.  Reproduces the LIVE release (``brisquescore.m``,
``brisque_feature.m``, ``estimateggdparam.m``, ``estimateaggdparam.m``, then
libsvm's ``svm-scale -r allrange`` and ``svm-predict`` with ``allmodel``); the
model is shipped as ``brisque_live`` (see its NOTICE).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from scipy.special import gamma

from eyetest.core.metrics._matlab import (
    aggd_fit,
    fspecial_gaussian,
    ggd_fit,
    imresize,
    mscn,
    to_float_0_255,
)
from eyetest.core.metrics.registry import MetricSpec, register
from eyetest.errors import MetricInputError

__all__ = ["brisque", "brisque_features", "brisque_predict"]

#: circshift offsets of brisque_feature.m
_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))
_MIN_SIZE = 8


def brisque_features(image: np.ndarray, *, data_range: float) -> np.ndarray:
    """The 36 BRISQUE features of ``brisque_feature.m`` (18 per scale, 2 scales).

    Per scale, from the MSCN map (``fspecial('gaussian', 7, 7/6)``,
    ``filter2`` i.e. zero padding, ``C = 1``): the GGD shape and variance of
    the coefficients, then for the products with the right, lower,
    lower-right and upper-right neighbours (``circshift`` of the whole map)
    the AGGD shape ``alpha``, mean
    ``(sigma_r - sigma_l) Gamma(2/alpha) / Gamma(1/alpha) *
    sqrt(Gamma(1/alpha) / Gamma(3/alpha))`` and the squared left and right
    scales.  Scale 2 is MATLAB ``imresize(., 0.5)`` (bicubic, antialiased)
    of the float image.  Values are used on 0-255 (``image * 255 /
    data_range``).
    """
    img = to_float_0_255(image, data_range, "BRISQUE")
    if min(img.shape) < _MIN_SIZE:
        raise MetricInputError(
            f"BRISQUE needs an image of at least {_MIN_SIZE}x{_MIN_SIZE} pixels, got "
            f"{img.shape[0]}x{img.shape[1]}"
        )
    window = fspecial_gaussian(7, 7.0 / 6.0)
    feats = []
    for scale in (1, 2):
        structdis, _ = mscn(img, window, padding="zero")
        alpha, sigma = ggd_fit(structdis.ravel())
        feats += [alpha, sigma**2]
        flat = structdis.ravel()
        for shift in _SHIFTS:
            pair = flat * np.roll(structdis, shift, axis=(0, 1)).ravel()
            alpha, left, right = aggd_fit(pair)
            const = np.sqrt(gamma(1.0 / alpha)) / np.sqrt(gamma(3.0 / alpha))
            mean = (right - left) * (gamma(2.0 / alpha) / gamma(1.0 / alpha)) * const
            feats += [alpha, mean, left**2, right**2]
        if scale == 1:
            img = imresize(img, 0.5)
    return np.array(feats, dtype=np.float64)


def _text_round(x: np.ndarray, fmt: str) -> np.ndarray:
    """Round as C ``printf(fmt)`` then ``strtod`` would (correctly rounded)."""
    return np.array([float(format(float(v), fmt)) for v in np.ravel(x)]).reshape(np.shape(x))


def brisque_predict(
    features: np.ndarray,
    *,
    brisque_live: Mapping[str, np.ndarray],
    libsvm_text_io: bool = True,
) -> float:
    """Score 36 features with the LIVE epsilon-SVR (libsvm ``svm-scale`` + ``svm-predict``).

    .. math::

       x'_j = l + (u - l) \\frac{x_j - m_j}{M_j - m_j},\\qquad
       q = \\sum_i \\alpha_i \\exp(-\\gamma \\lVert x' - s_i \\rVert^2) - \\rho

    with ``[l, u] = [-1, 1]``, ``m, M`` the ``allrange`` minima/maxima
    (``svm-scale`` maps ``x == m`` to ``l`` and ``x == M`` to ``u``
    exactly), support vectors ``s_i``, dual coefficients ``alpha_i``,
    ``gamma = 0.05`` and ``rho`` of ``allmodel``.

    ``libsvm_text_io`` reproduces the release's text round trip: MATLAB
    writes the features with ``fprintf('%f')`` (6 decimals), ``svm-scale``
    writes the scaled values with ``printf("%g")`` (6 significant digits)
    and the libsvm 2.x ``svm-predict`` shipped with the release writes the
    prediction with ``"%g"`` too, which ``brisquescore.m`` loads as the
    score (so release scores have 6 significant digits).
    """
    x = np.asarray(features, dtype=np.float64).ravel()
    lo_f = np.asarray(brisque_live["feature_min"], dtype=np.float64)
    hi_f = np.asarray(brisque_live["feature_max"], dtype=np.float64)
    if x.size != lo_f.size:
        raise MetricInputError(f"BRISQUE expects {lo_f.size} features, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise MetricInputError(
            "BRISQUE is undefined for this image: a feature is NaN or infinite "
            "(e.g. a constant image)"
        )
    lower = float(brisque_live["scale_lower"])
    upper = float(brisque_live["scale_upper"])
    if libsvm_text_io:
        x = _text_round(x, ".6f")
    scaled = lower + (upper - lower) * (x - lo_f) / (hi_f - lo_f)
    scaled = np.where(x == lo_f, lower, np.where(x == hi_f, upper, scaled))
    if libsvm_text_io:
        scaled = _text_round(scaled, ".6g")
    sv = np.asarray(brisque_live["support_vectors"], dtype=np.float64)
    diff = sv - scaled
    k = np.exp(-float(brisque_live["gamma"]) * np.einsum("ij,ij->i", diff, diff))
    score = float(np.dot(np.asarray(brisque_live["dual_coef"], dtype=np.float64), k)
                  - float(brisque_live["rho"]))
    if libsvm_text_io:
        score = float(format(score, ".6g"))
    return score


def brisque(
    image: np.ndarray,
    *,
    data_range: float,
    brisque_live: Mapping[str, np.ndarray],
    libsvm_text_io: bool = True,
) -> float:
    """BRISQUE score of a grayscale image (lower is better), as the LIVE release.

    Parameters
    ----------
    image : (H, W) array on ``[0, data_range]``, used as ``float64(image) *
        255 / data_range`` (exact for ``uint8``; ``uint16`` is mapped to
        0-255 without rounding; float input is not quantised).  Colour input
        is converted by the preset (``matlab``: MATLAB ``rgb2gray`` of the
        integer image, rounded, as ``brisquescore.m`` does after
        ``uint8()``).
    data_range : the value of white.
    brisque_live : the LIVE model (support vectors, dual coefficients, rho,
        gamma, feature ranges).
    libsvm_text_io : emulate the release's text files between MATLAB and
        libsvm (see :func:`brisque_predict`).

    Returns
    -------
    float
        Predicted DMOS-like quality, roughly 0 (best) to 100 (worst).

    References
    ----------
    A. Mittal, A. K. Moorthy, A. C. Bovik, "No-reference image quality
    assessment in the spatial domain", IEEE TIP 21(12), 2012.
    """
    feats = brisque_features(image, data_range=data_range)
    return brisque_predict(feats, brisque_live=brisque_live, libsvm_text_io=libsvm_text_io)


register(
    MetricSpec(
        name="brisque",
        kind="NR",
        higher_is_better=False,
        value_range=(0.0, 100.0),
        func=brisque,
        presets={"matlab": {"color": "gray"}},
        resources=("brisque_live",),
        description="BRISQUE with the official LIVE SVR model (brisquescore.m + libsvm)",
        reference="Mittal, Moorthy, Bovik, IEEE Transactions on Image Processing 21(12), 2012",
    )
)
