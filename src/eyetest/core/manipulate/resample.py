"""Down- then up-sampling with and without anti-aliasing.

Downsampling *without* an anti-aliasing prefilter folds frequencies above the
new Nyquist limit back into the band (aliasing): jaggies and false texture that
look "crisp" and raise the high-frequency energy many no-reference metrics
reward.  With anti-aliasing the same content is removed and the image looks
softer.  Both are brought back to the original size so full-reference metrics
can compare pixel for pixel.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from eyetest.core.manipulate._common import check_image, check_strength, restore, to_float
from eyetest.errors import ManipulationError


def cubic_kernel(t: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys' cubic convolution kernel (``a = -0.5``, as MATLAB ``imresize`` 'bicubic').

    .. math::
        k(t) = \\begin{cases}
        (a+2)|t|^3 - (a+3)|t|^2 + 1 & |t| \\le 1 \\\\
        a|t|^3 - 5a|t|^2 + 8a|t| - 4a & 1 < |t| < 2 \\\\
        0 & \\text{otherwise}
        \\end{cases}

    References
    ----------
    R. Keys, "Cubic convolution interpolation for digital image processing",
    IEEE Trans. ASSP 29(6), 1981.
    """
    t = np.abs(np.asarray(t, dtype=np.float64))
    t2, t3 = t * t, t * t * t
    return np.where(
        t <= 1,
        (a + 2) * t3 - (a + 3) * t2 + 1,
        np.where(t < 2, a * t3 - 5 * a * t2 + 8 * a * t - 4 * a, 0.0),
    )


def _resize_weights(n_in: int, n_out: int, *, antialias: bool):
    """(rows, cols, weights) of the 1-D cubic resampling matrix; see :func:`resize_matrix`."""
    if n_in < 1 or n_out < 1:
        raise ManipulationError(f"resize: sizes must be >= 1, got {n_in} -> {n_out}")
    scale = n_out / n_in
    stretch = scale if (antialias and scale < 1) else 1.0
    support = 2.0 / stretch
    u = (np.arange(n_out) + 0.5) / scale - 0.5
    left = np.floor(u - support).astype(int)
    taps = int(np.ceil(2 * support)) + 2
    j = left[:, None] + np.arange(taps)[None, :]
    w = stretch * cubic_kernel(stretch * (u[:, None] - j))
    w /= w.sum(axis=1, keepdims=True)
    # half-sample symmetric extension: -1 -> 0, n -> n-1, period 2n
    period = 2 * n_in
    jm = np.mod(j, period)
    jm = np.where(jm >= n_in, period - 1 - jm, jm)
    return np.repeat(np.arange(n_out), taps), jm.ravel(), w.ravel()


def resize_matrix(n_in: int, n_out: int, *, antialias: bool) -> np.ndarray:
    """The ``(n_out, n_in)`` matrix of 1-D cubic resampling, pixel-centre aligned.

    Output sample ``i`` sits at input coordinate ``u = (i + 0.5) / s - 0.5``
    with ``s = n_out / n_in``.  When shrinking (``s < 1``) with ``antialias``,
    the kernel is stretched by ``1 / s`` (weights ``s k(s (u - j))``), which
    low-pass filters at the new Nyquist frequency; without it the kernel keeps
    its width and simply interpolates between neighbours (MATLAB
    ``imresize(..., 'Antialiasing', false)``).  Borders use half-sample
    symmetric extension; each row is normalised to sum 1.
    """
    rows, cols, w = _resize_weights(n_in, n_out, antialias=antialias)
    m = np.zeros((n_out, n_in))
    np.add.at(m, (rows, cols), w)
    return m


def _sparse_matrix(n_in: int, n_out: int, *, antialias: bool):
    rows, cols, w = _resize_weights(n_in, n_out, antialias=antialias)
    # duplicate (row, col) entries (mirrored taps) are summed by the constructor
    return sparse.csr_matrix((w, (rows, cols)), shape=(n_out, n_in))


def _along(m, x: np.ndarray, axis: int) -> np.ndarray:
    moved = np.moveaxis(x, axis, 0)
    y = m @ moved.reshape(moved.shape[0], -1)
    return np.moveaxis(np.asarray(y).reshape((m.shape[0],) + moved.shape[1:]), 0, axis)


def resize(x: np.ndarray, shape: tuple[int, int], *, antialias: bool) -> np.ndarray:
    """Separable cubic resize of a float array's two spatial axes to ``shape``.

    The banded matrices of :func:`resize_matrix` are applied as sparse
    matrices (a few taps per output sample), rows first, then columns.
    """
    mh = _sparse_matrix(x.shape[0], int(shape[0]), antialias=antialias)
    mw = _sparse_matrix(x.shape[1], int(shape[1]), antialias=antialias)
    return _along(mw, _along(mh, x, 0), 1)


def down_up(
    image: np.ndarray,
    *,
    data_range: float,
    strength: float,
    rng=None,
    antialias: bool = True,
) -> np.ndarray:
    """Downsample by ``1 + strength`` (bicubic, anti-aliased or not), upsample back (bicubic).

    The reduced size is ``round(H / f) x round(W / f)`` with ``f = 1 + strength``
    (at least 1 pixel); upsampling to ``H x W`` needs no anti-aliasing.  With
    ``antialias=False`` the content between the reduced grid's Nyquist
    frequency ``1 / (2f)`` and ``1/2`` cycles per pixel folds back to
    ``1/f - freq``, i.e. is aliased, instead of being removed.

    References
    ----------
    MATLAB ``imresize`` (bicubic, 'Antialiasing' true/false) is the model;
    R. Keys, IEEE Trans. ASSP 29(6), 1981 for the kernel; A. V. Oppenheim,
    R. W. Schafer, *Discrete-Time Signal Processing*, ch. 4 (downsampling and
    aliasing).
    """
    name = "downup-aa" if antialias else "downup-alias"
    image = check_image(image, data_range=data_range, name=name)
    s = check_strength(strength, name=name)
    if s == 0:
        return image.copy()
    f = 1.0 + s
    h, w = image.shape[:2]
    small = (max(1, int(round(h / f))), max(1, int(round(w / f))))
    x = to_float(image)
    y = resize(resize(x, small, antialias=antialias), (h, w), antialias=False)
    return restore(y, image, data_range=data_range)


def down_up_antialiased(image, *, data_range, strength, rng=None):
    """:func:`down_up` with ``antialias=True`` (registry entry ``downup-aa``)."""
    return down_up(image, data_range=data_range, strength=strength, rng=rng, antialias=True)


def down_up_aliased(image, *, data_range, strength, rng=None):
    """:func:`down_up` with ``antialias=False`` (registry entry ``downup-alias``)."""
    return down_up(image, data_range=data_range, strength=strength, rng=rng, antialias=False)
