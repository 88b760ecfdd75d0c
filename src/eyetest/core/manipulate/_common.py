"""Shared plumbing of the manipulations: input checks, float working copies, dtype restore.

Conventions every manipulation follows
--------------------------------------
* The image is ``(H, W)`` or ``(H, W, C)`` with values on ``[0, data_range]``;
  ``data_range`` is explicit and never guessed.
* Work happens in float64; the result is clipped to ``[0, data_range]`` and
  returned in the input dtype.  Integer images are rounded half away from zero
  (MATLAB ``round``) before the cast.
* ``strength == 0`` returns an exact copy (no float round trip), so the audit's
  baseline and strength 0 are the same pixels.
* Amplitudes that are not naturally relative (noise sigma, USM threshold,
  texture amplitude) are given in *8-bit levels*: ``v`` means
  ``v * data_range / 255`` on the image's own scale, so one strength grid works
  for uint8, uint16 and float images alike.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from eyetest.errors import ManipulationError

#: BT.601 luma weights (R, G, B), sum 1; used for luminance-only operations.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


def check_image(image: np.ndarray, *, data_range: float, name: str) -> np.ndarray:
    """Validate an image and its ``data_range``; return it as an ndarray."""
    image = np.asarray(image)
    if image.dtype == bool or not (
        np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)
    ):
        raise ManipulationError(f"{name}: image dtype {image.dtype} is not an integer or float type")
    if image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
        raise ManipulationError(f"{name}: expected an (H, W) or (H, W, C) image, got shape {image.shape}")
    if data_range is None or not math.isfinite(float(data_range)) or float(data_range) <= 0:
        raise ManipulationError(f"{name}: data_range must be a positive number, got {data_range!r}")
    if np.issubdtype(image.dtype, np.integer) and float(data_range) > np.iinfo(image.dtype).max:
        raise ManipulationError(
            f"{name}: data_range {data_range} exceeds the maximum of dtype {image.dtype}"
        )
    return image


def check_strength(strength: float, *, name: str, upper: float | None = None) -> float:
    """Strength must be a finite number >= 0 (and < ``upper`` when given)."""
    try:
        s = float(strength)
    except (TypeError, ValueError):
        raise ManipulationError(f"{name}: strength must be a number, got {strength!r}") from None
    if not math.isfinite(s) or s < 0:
        raise ManipulationError(f"{name}: strength must be finite and >= 0, got {strength!r}")
    if upper is not None and s >= upper:
        raise ManipulationError(f"{name}: strength must be < {upper}, got {strength!r}")
    return s


def require_rng(rng, *, name: str) -> np.random.Generator:
    """Random manipulations need an explicit ``numpy.random.Generator``."""
    if not isinstance(rng, np.random.Generator):
        raise ManipulationError(
            f"{name} is random: pass rng=numpy.random.default_rng(seed), got {type(rng).__name__}"
        )
    return rng


def to_float(image: np.ndarray) -> np.ndarray:
    """A float64 working copy."""
    return np.array(image, dtype=np.float64, copy=True)


def restore(result: np.ndarray, like: np.ndarray, *, data_range: float) -> np.ndarray:
    """Clip to ``[0, data_range]`` and cast back to ``like.dtype`` (integers rounded)."""
    out = np.clip(result, 0.0, float(data_range))
    if np.issubdtype(like.dtype, np.integer):
        # values are >= 0 here, where MATLAB's round (half away from zero,
        # :func:`eyetest.core.color.round_half_away`) is floor(x + 0.5)
        out += 0.5
        np.floor(out, out=out)
    return out.astype(like.dtype, copy=False)


def levels(value: float, *, data_range: float) -> float:
    """``value`` 8-bit levels on the image's own scale."""
    return float(value) * float(data_range) / 255.0


def spatial_gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian filter over the two spatial axes only (``mode='reflect'``, truncate 4 sigma).

    ``reflect`` is scipy's half-sample symmetric extension, MATLAB's
    ``'symmetric'`` padding.
    """
    if sigma <= 0:
        return x.copy()
    s = (sigma, sigma) + (0,) * (x.ndim - 2)
    return ndimage.gaussian_filter(x, s, mode="reflect", truncate=4.0)


def luminance(x: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB float array; other images: the channel mean (2-D input as is)."""
    if x.ndim == 2:
        return x
    if x.shape[2] == 3:
        return x @ LUMA_WEIGHTS
    return x.mean(axis=2)
