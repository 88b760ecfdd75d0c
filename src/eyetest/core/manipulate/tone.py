"""Tone enhancements: global contrast and saturation boosts.

Viewers often prefer a little more contrast or colour, so these are
*enhancements*, not fidelity-reducing tricks: the audit reports them but does
not count them towards a metric's gameability.
"""

from __future__ import annotations

import numpy as np

from eyetest.core.manipulate._common import (
    check_image,
    check_strength,
    luminance,
    restore,
    to_float,
)


def contrast_boost(image: np.ndarray, *, data_range: float, strength: float, rng=None) -> np.ndarray:
    """Linear contrast stretch about the mean luminance by a factor ``1 + strength``.

    .. math::  y = \\mu + (1 + s)(x - \\mu),\\quad \\mu = \\operatorname{mean}(Y(x))

    applied to every channel with the image's mean BT.601 luma ``mu`` (so grey
    stays grey), clipped to ``[0, data_range]``.
    """
    image = check_image(image, data_range=data_range, name="contrast")
    s = check_strength(strength, name="contrast")
    if s == 0:
        return image.copy()
    x = to_float(image)
    mu = float(luminance(x).mean())
    return restore(mu + (1.0 + s) * (x - mu), image, data_range=data_range)


def saturation_boost(image: np.ndarray, *, data_range: float, strength: float, rng=None) -> np.ndarray:
    """Scale chroma about each pixel's luma by ``1 + strength`` (RGB only).

    .. math::  y_c = Y + (1 + s)(x_c - Y),\\quad Y = 0.299R + 0.587G + 0.114B

    (BT.601 weights), clipped to ``[0, data_range]``.  Grayscale images have no
    chroma and are returned unchanged (as a copy).
    """
    image = check_image(image, data_range=data_range, name="saturation")
    s = check_strength(strength, name="saturation")
    if s == 0 or image.ndim == 2 or image.shape[2] != 3:
        return image.copy()
    x = to_float(image)
    y = luminance(x)[..., None]
    return restore(y + (1.0 + s) * (x - y), image, data_range=data_range)
