"""Input checks shared by the full-reference fidelity metrics (PSNR, SSIM, MS-SSIM)."""

from __future__ import annotations

import math

import numpy as np

from eyetest.errors import MetricInputError


def check_data_range(data_range, metric: str) -> float:
    """``data_range`` as a positive finite float, else :class:`MetricInputError`."""
    try:
        value = float(data_range)
    except (TypeError, ValueError):
        raise MetricInputError(
            f"{metric}: data_range must be a positive number, got {data_range!r}"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise MetricInputError(f"{metric}: data_range must be a positive number, got {data_range!r}")
    return value


def as_float_pair(
    reference, distorted, metric: str, *, allow_channels: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Check a reference/distorted pair and return both as float64 arrays.

    Both must have the same shape, ``(H, W)`` or (``allow_channels``)
    ``(H, W, C)`` and a boolean, integer or real floating dtype.  A trailing
    channel axis of length 1 is dropped.  Non-finite values are detected on
    the result by the caller (:func:`check_finite`), which saves a pass.
    """
    ref = np.asarray(reference)
    dist = np.asarray(distorted)
    if ref.shape != dist.shape:
        raise MetricInputError(
            f"{metric}: reference shape {ref.shape} != distorted shape {dist.shape}"
        )
    ndims = (2, 3) if allow_channels else (2,)
    if ref.ndim not in ndims:
        want = "(H, W) or (H, W, C)" if allow_channels else "(H, W)"
        raise MetricInputError(f"{metric}: expected {want} images, got shape {ref.shape}")
    out = []
    for name, arr in (("reference", ref), ("distorted", dist)):
        if arr.dtype.kind not in "biuf":
            raise MetricInputError(f"{metric}: {name} has unsupported dtype {arr.dtype}")
        out.append(np.asarray(arr, dtype=np.float64))
    ref, dist = out
    if ref.ndim == 3 and ref.shape[2] == 1:
        ref, dist = ref[..., 0], dist[..., 0]
    return ref, dist


def check_finite(value: float, metric: str) -> float:
    """``value`` if finite; NaN/inf inputs make the metric non-finite."""
    if not math.isfinite(value):
        raise MetricInputError(f"{metric}: reference or distorted contains NaN or infinite values")
    return value
