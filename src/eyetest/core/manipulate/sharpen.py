"""Sharpening manipulations: identity, unsharp masking, over-sharpening, deblurring.

These are the "tricks" of the position paper: they add high-frequency energy
that was not in the scene, which learned no-reference metrics tend to reward.
"""

from __future__ import annotations

import numpy as np

from eyetest.core.manipulate._common import (
    check_image,
    check_strength,
    levels,
    restore,
    spatial_gaussian,
    to_float,
)
from eyetest.errors import ManipulationError


def identity(image: np.ndarray, *, data_range: float, strength: float = 0.0, rng=None) -> np.ndarray:
    """Return an exact copy of ``image`` whatever the strength (the audit's control).

    Parameters
    ----------
    image : ndarray, (H, W) or (H, W, C), values on ``[0, data_range]``.
    data_range : float
    strength : float
        Ignored (kept for the common signature; must still be valid).
    rng : ignored.
    """
    image = check_image(image, data_range=data_range, name="identity")
    check_strength(strength, name="identity")
    return image.copy()


def _usm_float(x: np.ndarray, *, amount: float, radius: float, threshold: float) -> np.ndarray:
    detail = x - spatial_gaussian(x, radius)
    if threshold > 0:
        detail = np.where(np.abs(detail) >= threshold, detail, 0.0)
    return x + amount * detail


def unsharp_mask(
    image: np.ndarray,
    *,
    data_range: float,
    strength: float,
    rng=None,
    radius: float = 1.0,
    threshold: float = 0.0,
) -> np.ndarray:
    """Unsharp masking (USM) with amount = ``strength``.

    .. math::  y = x + a \\,(x - G_r * x)\\,[\\,|x - G_r * x| \\ge t\\,]

    with :math:`G_r` a Gaussian of standard deviation ``radius`` pixels applied
    to every channel, :math:`a` = ``strength`` and :math:`t` = ``threshold`` in
    8-bit levels (``t * data_range / 255``), as in GIMP / Photoshop "Unsharp
    Mask" (amount, radius, threshold).  Result clipped to ``[0, data_range]``.

    Its transfer function :math:`1 + a(1 - \\hat G_r(f))` exceeds 1 at every
    non-zero frequency, so high-frequency energy rises with ``a``.

    References
    ----------
    W. K. Pratt, *Digital Image Processing*, 4th ed., Wiley 2007, sec. 10.3
    (unsharp masking); R. C. Gonzalez, R. E. Woods, *Digital Image Processing*,
    3rd ed., sec. 3.6.3 (unsharp masking and high-boost filtering).
    """
    image = check_image(image, data_range=data_range, name="usm")
    a = check_strength(strength, name="usm")
    if a == 0:
        return image.copy()
    if radius <= 0:
        raise ManipulationError(f"usm: radius must be > 0, got {radius!r}")
    if threshold < 0:
        raise ManipulationError(f"usm: threshold must be >= 0, got {threshold!r}")
    y = _usm_float(to_float(image), amount=a, radius=float(radius),
                   threshold=levels(threshold, data_range=data_range))
    return restore(y, image, data_range=data_range)


def oversharpen(
    image: np.ndarray,
    *,
    data_range: float,
    strength: float,
    rng=None,
    radius: float = 1.0,
    iterations: int = 3,
) -> np.ndarray:
    """Over-sharpening: unsharp masking iterated ``iterations`` times (high-boost cascade).

    .. math::  x_{k+1} = \\operatorname{clip}(x_k + a (x_k - G_r * x_k)),\\quad k < n

    with amount :math:`a` = ``strength``, radius ``r`` and :math:`n` =
    ``iterations``.  Without clipping the transfer function is
    :math:`(1 + a(1 - \\hat G_r(f)))^n`, the high-boost filter of Gonzalez &
    Woods raised to the n-th power: halos and ringing of an over-processed
    image.  Clipping to ``[0, data_range]`` after each pass mimics an 8-bit
    editing pipeline.

    References
    ----------
    R. C. Gonzalez, R. E. Woods, *Digital Image Processing*, 3rd ed., sec. 3.6.3.
    """
    image = check_image(image, data_range=data_range, name="oversharpen")
    a = check_strength(strength, name="oversharpen")
    if a == 0:
        return image.copy()
    if radius <= 0 or int(iterations) < 1:
        raise ManipulationError(
            f"oversharpen: need radius > 0 and iterations >= 1, got {radius!r}, {iterations!r}"
        )
    y = to_float(image)
    for _ in range(int(iterations)):
        y = np.clip(_usm_float(y, amount=a, radius=float(radius), threshold=0.0), 0.0, float(data_range))
    return restore(y, image, data_range=data_range)


def deblur(
    image: np.ndarray,
    *,
    data_range: float,
    strength: float,
    rng=None,
    iterations: int = 10,
) -> np.ndarray:
    """Richardson-Lucy deconvolution assuming a Gaussian blur of sigma = ``strength`` pixels.

    .. math::  u_{k+1} = u_k \\cdot \\Big(G_\\sigma * \\frac{x}{G_\\sigma * u_k}\\Big),
               \\qquad u_0 = x

    (the Gaussian PSF is symmetric, so its adjoint is itself), on
    ``x / data_range + 1e-6`` to keep the ratio finite, ``iterations`` steps.
    Used by the context-blur audit as the "remove the intended blur" operation,
    and as a sharpening trick on images that were never blurred.

    References
    ----------
    W. H. Richardson, "Bayesian-based iterative method of image restoration",
    JOSA 62(1), 1972; L. B. Lucy, "An iterative technique for the rectification
    of observed distributions", Astron. J. 79, 1974.
    """
    image = check_image(image, data_range=data_range, name="deblur")
    s = check_strength(strength, name="deblur")
    if s == 0:
        return image.copy()
    if int(iterations) < 1:
        raise ManipulationError(f"deblur: iterations must be >= 1, got {iterations!r}")
    eps = 1e-6
    x = to_float(image) / float(data_range) + eps
    u = x.copy()
    for _ in range(int(iterations)):
        u = u * spatial_gaussian(x / np.maximum(spatial_gaussian(u, s), eps), s)
    return restore((u - eps) * float(data_range), image, data_range=data_range)
