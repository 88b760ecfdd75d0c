"""NIQE: Natural Image Quality Evaluator, as the LIVE MATLAB release computes it.

A. Mittal, R. Soundararajan, A. C. Bovik, "Making a 'completely blind' image
quality analyzer", IEEE Signal Processing Letters 20(3), 209-212, 2012; the
reference implementation is ``computequality.m``/``computefeature.m`` of the
LIVE "NIQE software release" (2012), with the pristine model
``modelparameters.mat`` (shipped here as ``niqe_pristine``, as redistributed
by BasicSR).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from scipy.special import gamma

from eyetest.core.color import round_half_away
from eyetest.core.metrics._matlab import aggd_fit, imresize, mscn, to_float_0_255
from eyetest.core.metrics.registry import MetricSpec, register
from eyetest.errors import MetricInputError

__all__ = ["niqe", "niqe_features"]

#: circshift offsets of computefeature.m: right, down, diagonal, anti-diagonal
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


def _blocks(a: np.ndarray, size: int) -> np.ndarray:
    """Whole ``size x size`` patches as ``(nblocks, size, size)``, in MATLAB column-major order."""
    h, w = a.shape
    nr, nc = h // size, w // size
    b = a[: nr * size, : nc * size].reshape(nr, size, nc, size)
    return b.transpose(2, 0, 1, 3).reshape(nr * nc, size, size)


def _circ_product(b: np.ndarray, shift: tuple[int, int], *, out: np.ndarray) -> np.ndarray:
    """``b * circshift(b, shift)`` over the last two axes, without a rolled copy.

    ``circshift(X, (di, dj))[i, j] = X[i - di, j - dj]`` (indices modulo the
    patch size); the product is filled quadrant by quadrant from slices.
    """
    di, dj = shift
    h, w = b.shape[-2:]
    for rs, rsrc in (((di % h, h), (0, h - di % h)), ((0, di % h), (h - di % h, h))):
        if rs[0] == rs[1]:
            continue
        for cs, csrc in (((dj % w, w), (0, w - dj % w)), ((0, dj % w), (w - dj % w, w))):
            if cs[0] == cs[1]:
                continue
            np.multiply(
                b[..., rs[0]:rs[1], cs[0]:cs[1]],
                b[..., rsrc[0]:rsrc[1], csrc[0]:csrc[1]],
                out=out[..., rs[0]:rs[1], cs[0]:cs[1]],
            )
    return out


def _patch_features(structdis: np.ndarray, size: int) -> np.ndarray:
    """18 features of every ``size x size`` patch (computefeature.m), ``(n, 18)``."""
    blocks = _blocks(structdis, size)
    n = blocks.shape[0]
    flat = blocks.reshape(n, -1)
    feats = np.empty((n, 18))
    alpha, left, right = aggd_fit(flat)
    with np.errstate(invalid="ignore"):
        c = np.sqrt(gamma(1.0 / alpha) / gamma(3.0 / alpha))
        bl, br = left * c, right * c
        feats[:, 0] = alpha
        feats[:, 1] = (bl + br) / 2.0
        prod = np.empty_like(blocks)
        for k, shift in enumerate(_SHIFTS):
            # circshift inside each patch, as blkproc hands computefeature one patch
            _circ_product(blocks, shift, out=prod)
            alpha, left, right = aggd_fit(prod.reshape(n, -1))
            c = np.sqrt(gamma(1.0 / alpha) / gamma(3.0 / alpha))
            bl, br = left * c, right * c
            feats[:, 2 + 4 * k] = alpha
            feats[:, 3 + 4 * k] = (br - bl) * (gamma(2.0 / alpha) / gamma(1.0 / alpha))
            feats[:, 4 + 4 * k] = bl
            feats[:, 5 + 4 * k] = br
    return feats


def niqe_features(
    image: np.ndarray,
    *,
    data_range: float,
    window: np.ndarray,
    block_size: int = 96,
) -> np.ndarray:
    """Per-patch NIQE features, ``(n_patches, 36)`` (scale 1 then scale 2).

    The image (2-D, values on ``[0, data_range]``, rescaled to 0-255) is
    cropped to whole ``block_size`` patches; for each of two scales the MSCN
    map (``window``, replicate padding, ``C = 1``) is cut into patches of
    ``block_size / scale`` and each gives 18 AGGD features: shape and mean
    scale of the coefficients, then shape, mean, left and right scale of the
    products with the right, lower, lower-right and lower-left neighbours
    (``circshift`` within the patch).  Scale 2 is MATLAB ``imresize(., 0.5)``
    (bicubic, antialiased) of the cropped float image.
    """
    img = to_float_0_255(image, data_range, "NIQE")
    block_size = int(block_size)
    if block_size < 2 or block_size % 2:
        raise MetricInputError(f"NIQE block_size must be a positive even number, got {block_size}")
    h, w = img.shape
    if h < block_size or w < block_size:
        raise MetricInputError(
            f"NIQE needs an image of at least {block_size}x{block_size} pixels, got {h}x{w}"
        )
    img = img[: h // block_size * block_size, : w // block_size * block_size]
    win = np.asarray(window, dtype=np.float64)
    feats = []
    for scale in (1, 2):
        structdis, _ = mscn(img, win, padding="replicate")
        feats.append(_patch_features(structdis, block_size // scale))
        if scale == 1:
            img = imresize(img, 0.5)
    return np.hstack(feats)


def _nancov(x: np.ndarray) -> np.ndarray:
    """MATLAB ``nancov``: rows with any NaN dropped; normalised by N-1 (by N if N == 1)."""
    rows = x[~np.isnan(x).any(axis=1)]
    n = rows.shape[0]
    if n == 0:
        raise MetricInputError(
            "NIQE is undefined for this image: no patch has both negative and positive "
            "MSCN coefficients (e.g. a constant image)"
        )
    d = rows - rows.mean(axis=0)
    return (d.T @ d) / (n - 1 if n > 1 else 1)


def niqe(
    image: np.ndarray,
    *,
    data_range: float,
    niqe_pristine: Mapping[str, np.ndarray],
    block_size: int = 96,
    round_input: bool = False,
) -> float:
    """NIQE of a grayscale image (lower is better), as the LIVE MATLAB release.

    Parameters
    ----------
    image : (H, W) array with values on ``[0, data_range]``; at least
        ``block_size`` pixels in each dimension.  The features are not scale
        invariant: the LIVE model expects 0-255 values, so the image is used
        as ``float64(image) * 255 / data_range`` (exact for ``uint8`` with
        ``data_range=255``; ``uint16`` with ``data_range=65535`` is mapped to
        0-255 without rounding, where the MATLAB release would have seen raw
        0-65535 values; float input is used as given, not quantised).
        Colour input is converted by the preset (``matlab``: MATLAB
        ``rgb2gray`` of the integer image, rounded, as ``computequality.m``).
    data_range : the value of white.
    niqe_pristine : the LIVE pristine model (``mu_pris_param`` 1x36,
        ``cov_pris_param`` 36x36, ``gaussian_window`` 7x7).
    block_size : patch size at the first scale (96 in the release).
    round_input : round the 0-255 image half away from zero first.  The
        ``sr-y-crop<N>`` preset sets it, as BasicSR's ``calculate_niqe``
        rounds the float Y channel ("to be consistent with MATLAB").

    Returns
    -------
    float
        .. math::

           D = \\sqrt{(\\nu_p - \\nu)^T
               \\left(\\frac{\\Sigma_p + \\Sigma}{2}\\right)^{+} (\\nu_p - \\nu)}

        where ``nu_p, Sigma_p`` are the pristine mean and covariance,
        ``nu`` the NaN-ignoring mean of the per-patch features,
        ``Sigma`` their covariance over NaN-free patches (MATLAB
        ``nanmean``/``nancov``) and ``+`` the Moore-Penrose pseudo-inverse
        with MATLAB's tolerance ``max(size) * norm * eps``.

    References
    ----------
    A. Mittal, R. Soundararajan, A. C. Bovik, "Making a 'completely blind'
    image quality analyzer", IEEE Signal Processing Letters 20(3), 2012.
    """
    img = to_float_0_255(image, data_range, "NIQE")
    if round_input:
        img = round_half_away(img)
    feats = niqe_features(
        img, data_range=255.0, window=niqe_pristine["gaussian_window"], block_size=block_size
    )
    if np.isnan(feats).all(axis=0).any():
        raise MetricInputError(
            "NIQE is undefined for this image: a feature is NaN in every patch "
            "(e.g. a constant image)"
        )
    mu = np.nanmean(feats, axis=0)
    cov = _nancov(feats)
    mu_p = np.asarray(niqe_pristine["mu_pris_param"], dtype=np.float64).ravel()
    cov_p = np.asarray(niqe_pristine["cov_pris_param"], dtype=np.float64)
    a = (cov_p + cov) / 2.0
    inv = np.linalg.pinv(a, rcond=max(a.shape) * np.finfo(np.float64).eps)
    d = mu_p - mu
    return float(np.sqrt(d @ inv @ d))


register(
    MetricSpec(
        name="niqe",
        kind="NR",
        higher_is_better=False,
        value_range=(0.0, 25.0),
        func=niqe,
        presets={"matlab": {"color": "gray"}, "sr-y": {"round_input": True}},
        resources=("niqe_pristine",),
        description="Natural Image Quality Evaluator, LIVE MATLAB release (96x96 patches)",
        reference="Mittal, Soundararajan, Bovik, IEEE Signal Processing Letters 20(3), 2012",
    )
)
