"""SSIM and MS-SSIM, as the authors' MATLAB code computes them, and fast.

Structural similarity (Wang, Bovik, Sheikh & Simoncelli 2004).  For local
statistics taken with a normalised window ``w`` (11 x 11 Gaussian,
sigma 1.5),

.. math::

   \\mathrm{SSIM}(x, y) = \\frac{(2 \\mu_x \\mu_y + C_1)(2 \\sigma_{xy} + C_2)}
                              {(\\mu_x^2 + \\mu_y^2 + C_1)(\\sigma_x^2 + \\sigma_y^2 + C_2)},
   \\qquad C_1 = (K_1 L)^2,\\ C_2 = (K_2 L)^2,

with ``mu = w * x``, ``sigma_x^2 = w * x^2 - mu_x^2``, ``sigma_xy = w * (x y) -
mu_x mu_y`` (biased, window-weighted moments), ``K1 = 0.01``, ``K2 = 0.03``
and ``L`` the data range.  The score is the mean of the map over the
``'valid'`` positions (no padding), as in ``ssim_index.m``.

Multi-scale SSIM (Wang, Simoncelli & Bovik 2003) combines the contrast-
structure term ``cs = (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2)`` of
scales 1..M-1 with the full SSIM of scale M (``msssim.m``):

.. math::

   \\mathrm{MS\\text{-}SSIM} = \\mathrm{SSIM}_M^{\\beta_M} \\prod_{j=1}^{M-1} \\overline{cs}_j^{\\beta_j},
   \\qquad \\beta = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333),

each scale being the previous one averaged over 2 x 2 blocks (MATLAB
``imfilter(x, ones(2)/4, 'symmetric')`` then every second pixel).

References
----------
Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli, "Image quality
assessment: from error visibility to structural similarity", IEEE Trans.
Image Processing 13(4):600-612, 2004.

Z. Wang, E. P. Simoncelli and A. C. Bovik, "Multi-scale structural
similarity for image quality assessment", Proc. 37th IEEE Asilomar
Conference on Signals, Systems and Computers, 2003.
"""

from __future__ import annotations

import numpy as np

from eyetest.core.color import round_half_away
from eyetest.core.metrics._fidelity_common import as_float_pair, check_data_range, check_finite
from eyetest.core.metrics._ssim_core import gaussian_window_1d, ssim_sums
from eyetest.core.metrics.registry import MetricSpec, register
from eyetest.errors import MetricInputError

__all__ = ["MODES", "MS_SSIM_WEIGHTS", "box_downsample", "ms_ssim", "ssim"]

#: ``"wang"``: the authors' ``ssim_index.m`` / ``ssim.m``;
#: ``"skimage"``: ``skimage.metrics.structural_similarity`` with
#: ``gaussian_weights=True, use_sample_covariance=False``.
MODES = ("wang", "skimage")

#: Per-scale exponents of MS-SSIM (Wang, Simoncelli & Bovik 2003, Table 1 / msssim.m).
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

_SKIMAGE_TRUNCATE = 3.5


def box_downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """MATLAB ``imfilter(x, ones(f)/f^2, 'symmetric', 'same')`` then ``x(1:f:end, 1:f:end)``.

    ``imfilter`` correlates with the kernel anchored at ``floor((f + 1) / 2)``
    (1-based), so output pixel ``i`` averages input rows ``i - c + 1 ..
    i - c + f``, mirrored (``'symmetric'``: the edge pixel repeated) past the
    border.  Keeping every ``f``-th pixel from the first leaves
    ``ceil(H / f) x ceil(W / f)`` block means.  Works on ``(H, W)`` arrays.
    """
    factor = int(factor)
    if factor <= 1:
        return image
    before = (factor + 1) // 2 - 1
    after = factor - 1 - before
    padded = np.pad(image, ((before, after), (before, after)), mode="symmetric")
    h, w = image.shape
    n, m = -(-h // factor), -(-w // factor)
    blocks = padded[: n * factor, : m * factor].reshape(n, factor, m, factor)
    return blocks.mean(axis=(1, 3))


def _window(mode: str, win_size: int | None, sigma: float) -> np.ndarray:
    if not sigma > 0:
        raise MetricInputError(f"sigma must be positive, got {sigma!r}")
    if mode == "skimage":
        derived = 2 * int(_SKIMAGE_TRUNCATE * sigma + 0.5) + 1
        if win_size is not None and int(win_size) != derived:
            raise MetricInputError(
                f"mode='skimage' derives the window from sigma ({derived} px for sigma={sigma}); "
                f"win_size={win_size} cannot be set"
            )
        return gaussian_window_1d(derived, float(sigma))
    size = 11 if win_size is None else int(win_size)
    if size < 1 or size % 2 == 0:
        raise MetricInputError(f"win_size must be a positive odd integer, got {win_size!r}")
    return gaussian_window_1d(size, float(sigma))


def _constants(data_range: float, k1: float, k2: float) -> tuple[float, float]:
    for name, k in (("k1", k1), ("k2", k2)):
        if not k > 0:
            raise MetricInputError(f"{name} must be positive, got {k!r}")
    return (k1 * data_range) ** 2, (k2 * data_range) ** 2


def _channels(image: np.ndarray) -> list[np.ndarray]:
    return [image] if image.ndim == 2 else [image[..., c] for c in range(image.shape[2])]


def _bounded_mean(total: float, count: int, name: str) -> float:
    """Mean of an SSIM or cs map, clamped to its mathematical range ``[-1, 1]``.

    Every map value is ``<= 1`` in exact arithmetic (both factors are; AM-GM
    and Cauchy-Schwarz), but the blocked sums round: two nearly identical
    images gave ``1.0000000000000002``.  The clamp moves results by a few ulp
    at most and keeps ``ssim == 1`` meaning "identical to rounding".
    """
    return min(max(check_finite(total / count, name), -1.0), 1.0)


def ssim(
    reference: np.ndarray,
    distorted: np.ndarray,
    *,
    data_range: float,
    mode: str = "wang",
    downsample: bool = False,
    k1: float = 0.01,
    k2: float = 0.03,
    win_size: int | None = None,
    sigma: float = 1.5,
) -> float:
    """Mean structural similarity of ``distorted`` to ``reference``.

    Parameters
    ----------
    reference, distorted : ndarray
        ``(H, W)`` or ``(H, W, C)`` images of equal shape (any real dtype;
        computed in float64).  For ``C > 1`` the result is the mean of the
        per-channel SSIMs (scikit-image's ``channel_axis=-1``); the ``matlab``
        preset converts RGB to gray with ``rgb2gray`` before this function.
    data_range : float
        ``L``, the dynamic range of the pixel values (255 for 8-bit images).
    mode : {"wang", "skimage"}
        ``"wang"`` (default): Wang et al.'s ``ssim_index.m`` (2004):
        ``win_size`` x ``win_size`` Gaussian of ``sigma`` (``fspecial``),
        statistics over the 'valid' positions, mean of the map.
        ``"skimage"``: ``skimage.metrics.structural_similarity(...,
        gaussian_weights=True, sigma=sigma, use_sample_covariance=False,
        data_range=L)``: the window is derived from ``sigma`` with
        scikit-image's ``truncate=3.5`` (11 taps for sigma 1.5) and its
        border crop equals the 'valid' positions, so the two modes give the
        same number for the default settings; this one is here to name (and
        enforce) scikit-image's conventions.  Always float64, so it agrees
        with scikit-image on float64/integer input to rounding and within
        1e-7 on float32 input (which scikit-image computes in float32).
    downsample : bool
        ``True`` gives Wang's later ``ssim.m`` (2009): ``f = max(1,
        round(min(H, W) / 256))``; for ``f > 1`` both images are averaged
        with an ``f x f`` box (``imfilter`` ``'symmetric'``) and every
        ``f``-th pixel kept (:func:`box_downsample`) before SSIM.  Only in
        ``"wang"`` mode.
    k1, k2 : float
        Stabilising constants ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2``.
    win_size, sigma : int, float
        Gaussian window (default 11 and 1.5).

    Returns
    -------
    float
        Mean SSIM in ``[-1, 1]``; 1 only for identical images.

    Raises
    ------
    MetricInputError
        Shapes differ (both are named), an image is smaller than the window,
        ``data_range`` is not positive, or an option is invalid.

    References
    ----------
    Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality
    assessment: from error visibility to structural similarity", IEEE TIP
    13(4), 2004.  https://ece.uwaterloo.ca/~z70wang/research/ssim/
    """
    if mode not in MODES:
        raise MetricInputError(f"ssim: unknown mode {mode!r}; use one of {MODES}")
    if downsample and mode != "wang":
        raise MetricInputError("ssim: downsample=True (ssim.m) is only defined for mode='wang'")
    L = check_data_range(data_range, "ssim")
    ref, dist = as_float_pair(reference, distorted, "ssim")
    window = _window(mode, win_size, sigma)
    c1, c2 = _constants(L, k1, k2)
    factor = 1
    if downsample:
        factor = max(1, int(round_half_away(np.float64(min(ref.shape[:2]) / 256.0))))
    scores = []
    for a, b in zip(_channels(ref), _channels(dist)):
        a, b = box_downsample(a, factor), box_downsample(b, factor)
        if min(a.shape) < len(window):
            where = f" after {factor}x downsampling" if factor > 1 else ""
            raise MetricInputError(
                f"ssim: image of size {a.shape[0]}x{a.shape[1]}{where} is smaller than "
                f"the {len(window)}x{len(window)} window"
            )
        total, count = ssim_sums(a, b, window=window, c1=c1, c2=c2, want="ssim")
        scores.append(_bounded_mean(total, count, "ssim"))
    return float(np.mean(scores))


def ms_ssim(
    reference: np.ndarray,
    distorted: np.ndarray,
    *,
    data_range: float,
    weights: tuple[float, ...] = MS_SSIM_WEIGHTS,
    k1: float = 0.01,
    k2: float = 0.03,
    win_size: int = 11,
    sigma: float = 1.5,
) -> float:
    """Multi-scale SSIM of Wang, Simoncelli & Bovik (2003), as ``msssim.m``.

    Scale 1 is the image as given; scale ``j + 1`` is scale ``j`` averaged
    over 2 x 2 blocks (``imfilter(x, ones(2)/4, 'symmetric')``, every second
    pixel).  At scales ``1..M-1`` the mean contrast-structure term
    ``cs = (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2)`` is taken, at
    scale ``M`` the mean SSIM, all with the 'valid' ``win_size`` Gaussian
    window, and

    .. math:: \\mathrm{MS\\text{-}SSIM} = \\mathrm{SSIM}_M^{\\beta_M}
              \\prod_{j<M} \\overline{cs}_j^{\\beta_j}.

    Parameters
    ----------
    reference, distorted : ndarray
        ``(H, W)`` or ``(H, W, C)``; colour images give the mean over channels.
    data_range : float
        ``L`` in ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2``.
    weights : tuple of float
        The exponents ``beta_j``; their number is the number of scales ``M``
        (default: the five published weights).
    k1, k2, win_size, sigma : as :func:`ssim`.

    Returns
    -------
    float
        MS-SSIM in ``[0, 1]``.  A negative per-scale mean (very dissimilar
        images) has no real power; like TensorFlow's ``ssim_multiscale`` and
        ``pytorch-msssim`` it is clamped to 0 (``msssim.m`` would return a
        complex number).

    Raises
    ------
    MetricInputError
        Shapes differ, or ``min(H, W) / 2^(M-1)`` is smaller than the
        window (``msssim.m``'s check: at least 176 pixels for 5 scales and an
        11-pixel window).

    References
    ----------
    Z. Wang, E. P. Simoncelli, A. C. Bovik, "Multi-scale structural
    similarity for image quality assessment", 37th Asilomar Conference on
    Signals, Systems and Computers, 2003.
    """
    L = check_data_range(data_range, "ms-ssim")
    ref, dist = as_float_pair(reference, distorted, "ms-ssim")
    weights = tuple(float(w) for w in weights)
    if not weights or sum(weights) == 0:
        raise MetricInputError(f"ms-ssim: weights must be a non-empty sequence, got {weights!r}")
    window = _window("wang", win_size, sigma)
    c1, c2 = _constants(L, k1, k2)
    levels = len(weights)
    h, w = ref.shape[:2]
    if min(h, w) / 2 ** (levels - 1) < len(window):
        need = len(window) * 2 ** (levels - 1)
        raise MetricInputError(
            f"ms-ssim: image of size {h}x{w} is too small for {levels} scales with a "
            f"{len(window)}-pixel window; both sides must be at least {need} pixels"
        )
    scores = []
    for a, b in zip(_channels(ref), _channels(dist)):
        value = 1.0
        for level, beta in enumerate(weights):
            last = level == levels - 1
            total, count = ssim_sums(a, b, window=window, c1=c1, c2=c2,
                                     want="ssim" if last else "cs")
            value *= max(_bounded_mean(total, count, "ms-ssim"), 0.0) ** beta
            if not last:
                a, b = box_downsample(a, 2), box_downsample(b, 2)
        scores.append(value)
    return float(np.mean(scores))


register(
    MetricSpec(
        name="ssim",
        kind="FR",
        higher_is_better=True,
        value_range=(0.0, 1.0),
        func=ssim,
        presets={
            "matlab": {"color": "gray"},
            "matlab-downsample": {"color": "gray", "downsample": True},
            "skimage": {"color": "y", "mode": "skimage"},
            "skimage-rgb": {"color": "as-is", "mode": "skimage"},
            "sr-y": {},
        },
        description="Structural similarity, Wang et al.'s ssim_index (11x11 Gaussian, 'valid')",
        reference="Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, IEEE TIP 13(4), 2004",
    )
)

register(
    MetricSpec(
        name="ms-ssim",
        kind="FR",
        higher_is_better=True,
        value_range=(0.0, 1.0),
        func=ms_ssim,
        presets={"matlab": {"color": "gray"}, "sr-y": {}},
        description="Multi-scale SSIM, 5 scales, as the authors' msssim.m",
        reference="Z. Wang, E. P. Simoncelli, A. C. Bovik, Asilomar 2003",
    )
)
