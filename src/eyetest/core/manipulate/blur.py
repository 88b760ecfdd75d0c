"""Blur manipulations: Gaussian blur, linear motion blur, synthetic depth of field."""

from __future__ import annotations

import numpy as np
from scipy import signal

from eyetest.core.manipulate._common import (
    check_image,
    check_strength,
    luminance,
    restore,
    spatial_gaussian,
    to_float,
)
from eyetest.errors import ManipulationError


def gaussian_blur(image: np.ndarray, *, data_range: float, strength: float, rng=None) -> np.ndarray:
    """Gaussian blur with standard deviation ``strength`` pixels.

    .. math::  y = G_\\sigma * x,\\quad G_\\sigma(u, v) \\propto
               e^{-(u^2 + v^2) / 2\\sigma^2}

    per channel, half-sample symmetric borders, kernel truncated at 4 sigma.
    Its transfer function :math:`e^{-2\\pi^2\\sigma^2 f^2}` decreases with
    sigma at every frequency, so PSNR against the original falls monotonically.
    """
    image = check_image(image, data_range=data_range, name="gaussian-blur")
    s = check_strength(strength, name="gaussian-blur")
    if s == 0:
        return image.copy()
    return restore(spatial_gaussian(to_float(image), s), image, data_range=data_range)


def motion_kernel(length: float, angle: float) -> np.ndarray:
    """Normalised line kernel of ``length`` pixels at ``angle`` degrees (0 = horizontal, counter-clockwise).

    The segment from ``-L/2`` to ``L/2`` along ``(cos a, -sin a)`` (image rows
    grow downwards) is sampled at 16 points per pixel and each sample is
    spread onto the grid with bilinear weights, so the kernel varies
    continuously with ``length`` and ``angle`` and tends to a delta as
    ``length -> 0``.
    """
    if length < 0:
        raise ManipulationError(f"motion-blur: length must be >= 0, got {length!r}")
    theta = np.deg2rad(angle)
    n = max(2, int(np.ceil(length * 16)) + 1)
    t = np.linspace(-length / 2.0, length / 2.0, n)
    xs, ys = t * np.cos(theta), -t * np.sin(theta)
    r = int(np.ceil(length / 2.0)) + 1
    k = np.zeros((2 * r + 1, 2 * r + 1))
    x0, y0 = np.floor(xs), np.floor(ys)
    fx, fy = xs - x0, ys - y0
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            np.add.at(k, ((y0 + dy).astype(int) + r, (x0 + dx).astype(int) + r), wy * wx)
    k /= k.sum()
    # drop empty border rows/columns but keep the kernel centred
    nz = np.nonzero(k)
    c = max(r - min(nz[0].min(), nz[1].min()), max(nz[0].max(), nz[1].max()) - r)
    return k[r - c : r + c + 1, r - c : r + c + 1]


def convolve_reflect(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'Same'-size 2-D convolution of every channel with half-sample symmetric borders (FFT)."""
    ph, pw = kernel.shape[0] // 2, kernel.shape[1] // 2
    pad = [(ph, ph), (pw, pw)] + [(0, 0)] * (x.ndim - 2)
    xp = np.pad(x, pad, mode="symmetric")
    k = kernel.reshape(kernel.shape + (1,) * (x.ndim - 2))
    return signal.fftconvolve(xp, k, mode="valid", axes=(0, 1))


def motion_blur(
    image: np.ndarray, *, data_range: float, strength: float, rng=None, angle: float = 0.0
) -> np.ndarray:
    """Linear (camera-shake) motion blur of ``strength`` pixels at ``angle`` degrees.

    .. math::  y = k_{L,\\theta} * x

    with :math:`k_{L,\\theta}` the normalised line kernel of
    :func:`motion_kernel` (uniform exposure along a straight path, the PSF of
    constant-velocity motion).

    References
    ----------
    R. C. Gonzalez, R. E. Woods, *Digital Image Processing*, 3rd ed., sec. 5.6.3
    (uniform linear motion blur).
    """
    image = check_image(image, data_range=data_range, name="motion-blur")
    s = check_strength(strength, name="motion-blur")
    if s == 0:
        return image.copy()
    y = convolve_reflect(to_float(image), motion_kernel(s, float(angle)))
    return restore(y, image, data_range=data_range)


def focus_mask(image: np.ndarray, *, data_range: float, fraction: float = 0.35) -> np.ndarray:
    """Soft in-focus mask in ``[0, 1]`` from a centre-weighted saliency proxy.

    ``p = c * (0.5 + 0.5 s)`` where ``c`` is a centred Gaussian prior (sigma a
    quarter of the height / width; photographers centre the subject) and
    ``s`` the local gradient energy of the luminance, smoothed with a Gaussian
    of 5 % of the short side and scaled to ``[0, 1]``.  The ``fraction`` of
    pixels with the highest ``p`` is "in focus"; the binary mask is feathered
    with a Gaussian of 2 % of the short side.  A stand-in for a depth map, in
    the spirit of centre-bias saliency (T. Judd et al., "Learning to predict
    where humans look", ICCV 2009).
    """
    image = check_image(image, data_range=data_range, name="focus-mask")
    if not 0 < fraction < 1:
        raise ManipulationError(f"focus-mask: fraction must be in (0, 1), got {fraction!r}")
    g = luminance(to_float(image)) / float(data_range)
    h, w = g.shape
    short = min(h, w)
    # np.gradient needs 2 samples along an axis; a 1-pixel-wide axis has no gradient
    gy = np.gradient(g, axis=0) if h > 1 else np.zeros_like(g)
    gx = np.gradient(g, axis=1) if w > 1 else np.zeros_like(g)
    s = spatial_gaussian(np.hypot(gx, gy), max(0.05 * short, 0.5))
    s = s / s.max() if s.max() > 0 else s
    yy = (np.arange(h) - (h - 1) / 2.0) / max(0.25 * h, 1e-9)
    xx = (np.arange(w) - (w - 1) / 2.0) / max(0.25 * w, 1e-9)
    c = np.exp(-0.5 * yy[:, None] ** 2) * np.exp(-0.5 * xx[None, :] ** 2)
    p = c * (0.5 + 0.5 * s)
    binary = (p >= np.quantile(p, 1.0 - fraction)).astype(np.float64)
    return np.clip(spatial_gaussian(binary, max(0.02 * short, 0.5)), 0.0, 1.0)


def depth_of_field(
    image: np.ndarray,
    *,
    data_range: float,
    strength: float,
    rng=None,
    mask: np.ndarray | None = None,
    fraction: float = 0.35,
) -> np.ndarray:
    """Synthetic shallow depth of field: Gaussian blur of sigma ``strength`` outside a focus mask.

    .. math::  y = m \\, x + (1 - m) \\, (G_\\sigma * x)

    with ``m`` in ``[0, 1]`` the supplied ``mask`` (``(H, W)``, 1 = in focus)
    or :func:`focus_mask` of the image with ``fraction`` in focus.  A
    two-layer approximation of a thin-lens defocus whose blur grows with the
    distance from the focal plane.

    References
    ----------
    M. Potmesil, I. Chakravarty, "A lens and aperture camera model for
    synthetic image generation", SIGGRAPH 1981 (layered defocus).
    """
    image = check_image(image, data_range=data_range, name="dof")
    s = check_strength(strength, name="dof")
    if s == 0:
        return image.copy()
    if mask is None:
        m = focus_mask(image, data_range=data_range, fraction=fraction)
    else:
        m = np.asarray(mask, dtype=np.float64)
        if m.shape != image.shape[:2]:
            raise ManipulationError(f"dof: mask shape {m.shape} != image size {image.shape[:2]}")
        if not np.all(np.isfinite(m)) or m.min() < 0 or m.max() > 1:
            raise ManipulationError("dof: mask values must be finite and in [0, 1]")
    x = to_float(image)
    if x.ndim == 3:
        m = m[..., None]
    y = m * x + (1.0 - m) * spatial_gaussian(x, s)
    return restore(y, image, data_range=data_range)
