"""Peak signal-to-noise ratio.

.. math::

   \\mathrm{PSNR} = 10 \\log_{10} \\frac{L^2}{\\mathrm{MSE}}, \\qquad
   \\mathrm{MSE} = \\frac{1}{N} \\sum_{i=1}^{N} (x_i - y_i)^2,

over all ``N`` pixels and channels of the array as given (MATLAB ``psnr(A,
ref, L)``, scikit-image ``peak_signal_noise_ratio``), with ``L`` the data
range.  Identical images give ``+inf``.

Reference: e.g. Q. Huynh-Thu and M. Ghanbari, "Scope of validity of PSNR in
image/video quality assessment", Electronics Letters 44(13):800-801, 2008.
"""

from __future__ import annotations

import math

import numpy as np

from eyetest.core.metrics._fidelity_common import check_data_range
from eyetest.core.metrics.registry import MetricSpec, register
from eyetest.errors import MetricInputError

__all__ = ["mse", "psnr"]


def mse(reference: np.ndarray, distorted: np.ndarray) -> float:
    """Mean squared error over all elements (exact for <= 16-bit integers, else float64).

    Raises :class:`MetricInputError` when the shapes differ (both named), a
    dtype is not real or a value is not finite.
    """
    ref = np.asarray(reference)
    dist = np.asarray(distorted)
    if ref.shape != dist.shape:
        raise MetricInputError(
            f"psnr: reference shape {ref.shape} != distorted shape {dist.shape}"
        )
    if ref.size == 0:
        raise MetricInputError("psnr: empty images")
    for name, arr in (("reference", ref), ("distorted", dist)):
        if arr.dtype.kind not in "biuf":
            raise MetricInputError(f"psnr: {name} has unsupported dtype {arr.dtype}")
    if ref.dtype.kind in "biu" and dist.dtype.kind in "biu" and max(
        ref.dtype.itemsize, dist.dtype.itemsize
    ) <= 2:
        # exact: each squared difference fits int64, and so does their sum up to
        # 2**63 / 65535**2 ~ 2**31 elements for 16-bit input (2**47 for 8-bit)
        diff = np.subtract(ref, dist, dtype=np.int64)
        value = int(np.vdot(diff, diff)) / diff.size
    else:
        diff = ref.astype(np.float64)
        diff -= dist
        value = float(np.vdot(diff, diff)) / diff.size
    if not math.isfinite(value):
        raise MetricInputError("psnr: reference or distorted contains NaN or infinite values")
    return value


def psnr(reference: np.ndarray, distorted: np.ndarray, *, data_range: float) -> float:
    """PSNR in dB, ``10 log10(L^2 / MSE)`` over all pixels and channels.

    Parameters
    ----------
    reference, distorted : ndarray
        Arrays of equal shape (any real dtype; computed in float64).
    data_range : float
        ``L``, the peak value range (255 for 8-bit, 65535 for 16-bit images).

    Returns
    -------
    float
        PSNR in dB; ``inf`` for identical inputs.
    """
    L = check_data_range(data_range, "psnr")
    err = mse(reference, distorted)
    if err == 0.0:
        return math.inf
    return 10.0 * math.log10(L * L / err)


register(
    MetricSpec(
        name="psnr",
        kind="FR",
        higher_is_better=True,
        value_range=(0.0, 60.0),
        func=psnr,
        presets={"matlab": {"color": "as-is"}, "sr-y": {}},
        description="Peak signal-to-noise ratio over all pixels and channels",
        reference="MATLAB psnr; Huynh-Thu & Ghanbari, Electronics Letters 44(13), 2008",
    )
)
