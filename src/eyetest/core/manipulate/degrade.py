"""Degradations: JPEG compression (in-memory) and additive Gaussian noise."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from eyetest.core.manipulate._common import (
    check_image,
    check_strength,
    levels,
    require_rng,
    restore,
    to_float,
)
from eyetest.errors import ManipulationError


def jpeg(
    image: np.ndarray, *, data_range: float, strength: float, rng=None, subsampling: int = 2
) -> np.ndarray:
    """JPEG compression at quality ``100 - strength`` (``0 < strength < 100``), decoded again.

    The image is mapped to 8 bits (``round(255 x / data_range)``), encoded by
    Pillow's libjpeg into an in-memory buffer (no file is touched) with the
    standard IJG quantisation tables scaled by quality and chroma subsampling
    ``subsampling`` (0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0), decoded and mapped back
    to ``[0, data_range]`` in the input dtype.  Strength 10 = quality 90.
    Images with other than 1 or 3 channels are refused.

    References
    ----------
    G. K. Wallace, "The JPEG still picture compression standard", IEEE Trans.
    Consumer Electronics 38(1), 1992; ITU-T T.81 Annex K (quantisation tables).
    """
    image = check_image(image, data_range=data_range, name="jpeg")
    s = check_strength(strength, name="jpeg", upper=100)
    if s == 0:
        return image.copy()
    if image.ndim == 3 and image.shape[2] not in (1, 3):
        raise ManipulationError(f"jpeg: needs 1 or 3 channels, got shape {image.shape}")
    if subsampling not in (0, 1, 2):
        raise ManipulationError(f"jpeg: subsampling must be 0, 1 or 2, got {subsampling!r}")
    quality = int(np.clip(round(100 - s), 1, 100))
    x8 = np.clip(np.rint(to_float(image) * (255.0 / float(data_range))), 0, 255).astype(np.uint8)
    squeeze = x8.ndim == 3 and x8.shape[2] == 1
    pil = Image.fromarray(x8[..., 0] if squeeze else x8)
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=quality, subsampling=subsampling)
    buf.seek(0)
    with Image.open(buf) as decoded:
        y = np.asarray(decoded, dtype=np.float64)
    if squeeze:
        y = y[..., None]
    return restore(y * (float(data_range) / 255.0), image, data_range=data_range)


def noise(image: np.ndarray, *, data_range: float, strength: float, rng=None) -> np.ndarray:
    """Additive white Gaussian noise of standard deviation ``strength`` 8-bit levels.

    .. math::  y = \\operatorname{clip}(x + n),\\quad
               n \\sim \\mathcal N(0, (s \\cdot d / 255)^2)

    independently per pixel and channel, ``d`` = ``data_range``; needs ``rng``.
    """
    image = check_image(image, data_range=data_range, name="noise")
    s = check_strength(strength, name="noise")
    if s == 0:
        return image.copy()
    rng = require_rng(rng, name="noise")
    y = to_float(image) + rng.normal(0.0, levels(s, data_range=data_range), size=image.shape)
    return restore(y, image, data_range=data_range)
