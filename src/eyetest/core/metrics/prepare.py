"""Input conventions applied before a metric sees the pixels.

A preset (see :mod:`eyetest.core.metrics.registry`) resolves to a ``color``
convention and a border ``crop``:

``"as-is"``  the array as given (RGB stays RGB, grayscale stays grayscale);
``"gray"``   MATLAB ``rgb2gray`` (rounded for integer images), dtype kept;
``"y"``      BT.601 Y on 16-235 as float64 on 0-255, ``data_range`` becomes 255.

``crop = N`` removes N pixels at every border after the colour conversion,
as super-resolution papers do (``sr-y-crop4``).
"""

from __future__ import annotations

import numpy as np

from eyetest.core.color import rgb2gray_matlab, rgb_to_y_bt601
from eyetest.errors import MetricInputError

COLORS = ("as-is", "gray", "y")


def prepare(
    image: np.ndarray, *, data_range: float, color: str = "as-is", crop: int = 0
) -> tuple[np.ndarray, float]:
    """Apply a colour convention and border crop; return ``(array, data_range)``."""
    image = np.asarray(image)
    if color == "as-is":
        out, rng = image, float(data_range)
        if out.ndim == 3 and out.shape[2] == 1:
            out = out[..., 0]
    elif color == "gray":
        out, rng = rgb2gray_matlab(image), float(data_range)
    elif color == "y":
        out, rng = rgb_to_y_bt601(image, data_range=data_range), 255.0
    else:
        raise MetricInputError(f"unknown color convention {color!r}; use one of {COLORS}")
    crop = int(crop)
    if crop < 0:
        raise MetricInputError(f"crop must be >= 0, got {crop}")
    if crop:
        h, w = out.shape[:2]
        if h <= 2 * crop or w <= 2 * crop:
            raise MetricInputError(
                f"image of size {h}x{w} is too small for a {crop}-pixel border crop"
            )
        out = out[crop:-crop, crop:-crop]
    return out, rng
