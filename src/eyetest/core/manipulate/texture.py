"""Synthetic over-generation: invented texture and grain where the image is already textured.

Generative restorers (GAN and diffusion super-resolution) hallucinate fine
texture that was never in the scene, mostly in regions that already carry
texture (foliage, fur, fabric).  This manipulation imitates that with
band-limited noise, so an audit can ask whether a metric rewards it.
"""

from __future__ import annotations

import numpy as np

from eyetest.core.manipulate._common import (
    check_image,
    check_strength,
    levels,
    luminance,
    require_rng,
    restore,
    spatial_gaussian,
    to_float,
)


def texture_mask(image: np.ndarray, *, data_range: float, window: float = 2.0) -> np.ndarray:
    """Where the image is already textured, in ``[0, 1]``.

    Local standard deviation of the luminance in a Gaussian window of sigma
    ``window``, :math:`\\sigma_\\ell = \\sqrt{G*(x^2) - (G*x)^2}`, mapped
    linearly from its median (0) to its 90th percentile (1) and clipped, then
    smoothed with a Gaussian of sigma 1.  Flat regions (sky, skin) get ~0.
    """
    g = luminance(to_float(image)) / float(data_range)
    mu = spatial_gaussian(g, window)
    sd = np.sqrt(np.maximum(spatial_gaussian(g * g, window) - mu * mu, 0.0))
    lo, hi = np.quantile(sd, [0.5, 0.9])
    m = np.clip((sd - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(sd)
    return np.clip(spatial_gaussian(m, 1.0), 0.0, 1.0)


def overgenerate(
    image: np.ndarray,
    *,
    data_range: float,
    strength: float,
    rng=None,
    grain: float = 0.3,
    band: tuple[float, float] = (0.6, 1.5),
) -> np.ndarray:
    """Add band-limited texture plus grain, of ``strength`` 8-bit levels RMS, in textured regions.

    .. math::
        t = \\frac{(1 - g)\\, \\hat b + g\\, \\hat w}{\\operatorname{std}(\\cdot)},\\quad
        b = (G_{\\sigma_1} - G_{\\sigma_2}) * w_1,\\quad
        y = x + s\\,\\frac{d}{255}\\, m \\, t

    where :math:`w_1, w` are independent white Gaussian fields, :math:`b` a
    difference-of-Gaussians band-pass of :math:`w_1` (``band`` =
    :math:`(\\sigma_1, \\sigma_2)` pixels: mid-to-high spatial frequencies,
    the band of invented detail), hats denote normalisation to unit standard
    deviation, ``g`` = ``grain`` the share of white grain, ``m`` the
    :func:`texture_mask` and ``d`` = ``data_range``.  The texture is achromatic
    (added equally to every channel).  Needs ``rng``.

    References
    ----------
    Difference-of-Gaussians band-pass: D. Marr, E. Hildreth, "Theory of edge
    detection", Proc. R. Soc. Lond. B 207, 1980.  Over-generation as a failure
    of generative restoration: X. Wang et al., "ESRGAN", ECCV workshops 2018
    (texture artefacts); F. Yu et al., "SUPIR", CVPR 2024.
    """
    image = check_image(image, data_range=data_range, name="overgen")
    s = check_strength(strength, name="overgen")
    if s == 0:
        return image.copy()
    rng = require_rng(rng, name="overgen")
    h, w = image.shape[:2]
    w1 = rng.standard_normal((h, w))
    b = spatial_gaussian(w1, band[0]) - spatial_gaussian(w1, band[1])
    b /= max(b.std(), 1e-12)
    wn = rng.standard_normal((h, w))
    t = (1.0 - grain) * b + grain * wn
    t /= max(t.std(), 1e-12)
    add = levels(s, data_range=data_range) * texture_mask(image, data_range=data_range) * t
    x = to_float(image)
    y = x + (add[..., None] if x.ndim == 3 else add)
    return restore(y, image, data_range=data_range)
