r"""Fast exact kernel shared by SSIM and MS-SSIM: sums of the SSIM / cs maps.

The local statistics of Wang et al. are separable Gaussian filters of four
moment maps.  With ``a`` the reference and ``b`` the distorted image,

.. math::

   \mu_a = w * a, \quad \mu_b = w * b, \quad
   s = w * (a^2 + b^2), \quad p = w * (a b),

   \mathrm{SSIM} = \frac{(2 \mu_a \mu_b + C_1)(2 (p - \mu_a \mu_b) + C_2)}
                         {(\mu_a^2 + \mu_b^2 + C_1)(s - \mu_a^2 - \mu_b^2 + C_2)},
   \qquad
   cs = \frac{2 (p - \mu_a \mu_b) + C_2}{s - \mu_a^2 - \mu_b^2 + C_2}.

Only ``w * (a^2 + b^2)`` is needed (never ``w * a^2`` and ``w * b^2``
separately), so four maps are filtered instead of the usual five, and only
the ``'valid'`` part (MATLAB ``filter2(w, x, 'valid')``) is computed.

A 1-D pass of a ``k``-tap filter over ``T`` outputs is a product with a
``T x (T + k - 1)`` band matrix, so both passes run as small dense matrix
products (BLAS): the vertical pass strip by strip, the horizontal pass tile
by tile on blocks of rows that hold all four maps, and the SSIM arithmetic
on each block while it is in cache.  Everything is float64, so the result
agrees with a direct implementation to rounding (~1e-15).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: output columns per horizontal tile and output rows per vertical strip
_TILE = 24
_STRIP = 8
#: columns of the block the SSIM arithmetic runs on (fits in L2 cache)
_GROUP_COLS = 128
#: largest matrix product (multiply-adds) issued; keeps OpenBLAS single-threaded
_MAX_MNK = 65536 * 4


@lru_cache(maxsize=64)
def gaussian_window_1d(size: int, sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian ``g`` with ``outer(g, g) == fspecial('gaussian', size, sigma)``.

    MATLAB's ``fspecial('gaussian', n, s)`` is ``exp(-(x^2 + y^2) / (2 s^2))``
    on the grid ``x, y = -(n-1)/2 .. (n-1)/2`` divided by its sum, which is the
    outer product of the normalised 1-D profile with itself.
    """
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    g /= g.sum()
    g.setflags(write=False)
    return g


@lru_cache(maxsize=64)
def _band(n_out: int, window: tuple[float, ...]) -> np.ndarray:
    """``(n_out, n_out + k - 1)`` matrix whose product is a 'valid' correlation."""
    k = len(window)
    band = np.zeros((n_out, n_out + k - 1))
    w = np.asarray(window)
    for i in range(n_out):
        band[i, i : i + k] = w
    band.setflags(write=False)
    return band


@lru_cache(maxsize=64)
def _band_t(n_out: int, window: tuple[float, ...]) -> np.ndarray:
    out = np.ascontiguousarray(_band(n_out, window).T)
    out.setflags(write=False)
    return out


def ssim_sums(
    x: np.ndarray,
    y: np.ndarray,
    *,
    window: np.ndarray,
    c1: float,
    c2: float,
    want: str = "ssim",
) -> tuple[float, int]:
    """Sum of the 'valid' SSIM map (``want="ssim"``) or cs map (``want="cs"``).

    ``x`` and ``y`` are 2-D arrays of equal shape, each side at least
    ``len(window)`` (checked by the callers); ``window`` is the normalised
    1-D profile of a separable window.  Returns ``(sum, number_of_map_pixels)``.
    """
    if want not in ("ssim", "cs"):
        raise ValueError(f"want must be 'ssim' or 'cs', got {want!r}")
    window_t = tuple(float(v) for v in np.asarray(window, dtype=np.float64))
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf input: caller raises
        return _sums(x, y, window_t, c1, c2, want)


def _finish(mx, my, s, p, c1, c2, want):
    """Sum of the SSIM (or cs) map from filtered moments; all four are overwritten.

    Uses ``(2 u + C1)(2 v + C2) = 4 (u + C1/2)(v + C2/2)`` to save passes:
    returns ``sum(map) / 4`` for SSIM and ``sum(map) / 2`` for cs (the
    caller rescales).
    """
    if want == "ssim":
        mxy = np.multiply(mx, my)
    else:
        p -= np.multiply(mx, my)  # sigma_ab
    np.multiply(mx, mx, out=mx)
    np.multiply(my, my, out=my)
    mx += my          # mu_a^2 + mu_b^2
    s -= mx
    s += c2           # sigma_a^2 + sigma_b^2 + C2
    if want == "cs":
        p += 0.5 * c2
        p /= s
        return p.sum()
    p -= mxy
    p += 0.5 * c2     # sigma_ab + C2/2
    mxy += 0.5 * c1   # mu_a mu_b + C1/2
    mxy *= p
    mx += c1
    mx *= s
    mxy /= mx
    return mxy.sum()


def _sums(x, y, window, c1, c2, want):
    """The blocked algorithm (see the module docstring).

    Every matrix product has at most ``_MAX_MNK`` multiply-adds, below
    OpenBLAS's threshold for threading (65536 * 4), so the kernel is
    single-threaded and deterministic; it never oversubscribes the cores of a
    process pool or of a busy machine.
    """
    k = len(window)
    h, w = x.shape
    hv, wv = h - k + 1, w - k + 1
    strip = min(_STRIP, hv)
    tile = min(_TILE, wv)
    # output rows per block: the four maps of a block are one (4 * chunk, w) matrix
    chunk = max(strip, _MAX_MNK // (4 * tile * (tile + k - 1)) // strip * strip)
    chunk = min(chunk, -(-hv // strip) * strip)
    n_chunks = -(-hv // chunk)
    vert = np.empty((n_chunks, 4, chunk, w))
    vert[-1, :, hv - (n_chunks - 1) * chunk :] = 0.0  # rows past the end of the image
    sq = np.multiply(x, x)
    sq += np.multiply(y, y)
    maps = (x, y, sq, np.multiply(x, y))  # a, b, a^2 + b^2, a b
    band_v = _band(strip, window)
    cols = max(k, _MAX_MNK // (strip * (strip + k - 1)))
    for r in range(0, hv, strip):  # vertical pass, a strip of output rows at a time
        n = min(strip, hv - r)
        j, rr = divmod(r, chunk)
        bv = band_v[:n, : n + k - 1]
        for c in range(0, w, cols):
            for m in range(4):
                src = maps[m][r : r + n + k - 1, c : c + cols]
                np.matmul(bv, src, out=vert[j, m, rr : rr + n, c : c + cols])
    del maps, sq
    band_h = _band_t(tile, window)
    group = min(max(tile, _GROUP_COLS // tile * tile), -(-wv // tile) * tile)
    zbuf = np.empty((4 * chunk, group))
    total = 0.0
    for j in range(n_chunks):  # horizontal pass and SSIM, block by block
        nr = min(chunk, hv - j * chunk)
        rows = vert[j].reshape(4 * chunk, w)
        for g0 in range(0, wv, group):
            gw = min(group, wv - g0)
            for c in range(g0, g0 + gw, tile):
                n = min(tile, g0 + gw - c)
                np.matmul(rows[:, c : c + n + k - 1], band_h[: n + k - 1, :n],
                          out=zbuf[:, c - g0 : c - g0 + n])
            z = zbuf[:, :gw].reshape(4, chunk, gw)[:, :nr]
            total += float(_finish(z[0], z[1], z[2], z[3], c1, c2, want))
    return total * (4.0 if want == "ssim" else 2.0), hv * wv
