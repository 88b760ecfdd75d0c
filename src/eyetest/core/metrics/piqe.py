"""PIQE: Perception-based Image Quality Evaluator, as MATLAB's ``piqe``.

N. Venkatanath, D. Praneeth, Maruthi Chandrasekhar Bh, S. S. Channappayya,
S. S. Medasani, "Blind image quality evaluation using perception based
features", Twenty First National Conference on Communications (NCC), 2015.
Reproduces the Image Processing Toolbox implementation (``piqe``, R2018b+),
which is the de-facto reference for the numbers papers report.
"""

from __future__ import annotations

import numpy as np

from eyetest.core.color import round_half_away
from eyetest.core.metrics._matlab import fspecial_gaussian, mscn
from eyetest.core.metrics.registry import MetricSpec, register
from eyetest.errors import MetricInputError

__all__ = ["piqe", "piqe_maps"]

_BLOCK = 16
_ACTIVITY_THRESHOLD = 0.1
_IMPAIRED_THRESHOLD = 0.1
_SEGMENT = 6


def _segment_std(edges: np.ndarray) -> np.ndarray:
    """Sample std of every run of 6 contiguous pixels along the last axis."""
    seg = np.lib.stride_tricks.sliding_window_view(edges, _SEGMENT, axis=-1)
    return seg.std(axis=-1, ddof=1)


def piqe_maps(
    image: np.ndarray, *, data_range: float
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """PIQE score and the block masks ``(score, activity, artifacts, noise)``.

    The masks are boolean ``(H, W)`` arrays like MATLAB's ``ActivityMask``,
    ``NoticeableArtifactsMask`` and ``NoiseMask``.  See :func:`piqe` for the
    algorithm.
    """
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim != 2:
        raise MetricInputError(
            f"PIQE expects a 2-D grayscale image (use the 'matlab' preset for RGB), "
            f"got shape {img.shape}"
        )
    if not data_range or data_range <= 0:
        raise MetricInputError(f"PIQE: data_range must be positive, got {data_range!r}")
    x = img.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise MetricInputError("PIQE: image contains NaN or infinite values")
    h0, w0 = x.shape
    # round(255 * im2double(I)); im2double divides integers by their maximum
    x = round_half_away(x * (255.0 / float(data_range)))
    ph, pw = (-h0) % _BLOCK, (-w0) % _BLOCK
    if ph or pw:
        x = np.pad(x, ((0, ph), (0, pw)), mode="edge")  # padarray(..., 'replicate', 'post')
    norm, _ = mscn(x, fspecial_gaussian(7, 7.0 / 6.0), padding="replicate")

    h, w = norm.shape
    nr, nc = h // _BLOCK, w // _BLOCK
    blocks = norm.reshape(nr, _BLOCK, nc, _BLOCK).transpose(0, 2, 1, 3)  # (nr, nc, 16, 16)
    var = blocks.reshape(nr, nc, -1).var(axis=-1, ddof=1)
    active = var > _ACTIVITY_THRESHOLD

    # noticeable distortion: some 6-pixel segment of a block edge is flat
    edges = np.stack(
        [blocks[..., 0, :], blocks[..., :, -1], blocks[..., -1, :], blocks[..., :, 0]], axis=2
    )
    impaired = (_segment_std(edges) < _IMPAIRED_THRESHOLD).any(axis=(-1, -2))

    # noise: centre columns vs the surround.  MATLAB deletes column 8 and then
    # column 9 of the shrunken block, i.e. original columns 8 and 10 (1-based).
    centre = np.concatenate([blocks[..., :, 7], blocks[..., :, 8]], axis=-1)
    keep = np.ones(_BLOCK, dtype=bool)
    keep[[7, 9]] = False
    surround = blocks[..., :, keep].reshape(nr, nc, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cen_sur = centre.std(axis=-1, ddof=1) / surround.std(axis=-1, ddof=1)
        cen_sur = np.where(np.isnan(cen_sur), 0.0, cen_sur)
        sigma = np.sqrt(var)
        beta = np.abs(sigma - cen_sur) / np.maximum(sigma, cen_sur)
        noisy = sigma > 2.0 * beta

    artifacts = active & impaired
    noise = active & noisy
    dist = np.sum(np.where(artifacts, 1.0 - var, 0.0)) + np.sum(np.where(noise, var, 0.0))
    score = (dist + 1.0) / (1.0 + np.count_nonzero(active)) * 100.0

    def expand(mask: np.ndarray) -> np.ndarray:
        full = np.repeat(np.repeat(mask, _BLOCK, axis=0), _BLOCK, axis=1)
        return full[:h0, :w0]

    return float(score), expand(active), expand(artifacts), expand(noise)


def piqe(image: np.ndarray, *, data_range: float) -> float:
    """PIQE score of a grayscale image, 0 (best) to 100 (worst), as MATLAB ``piqe``.

    Parameters
    ----------
    image : (H, W) array on ``[0, data_range]``.  As MATLAB, the image is
        quantised to ``round(255 * image / data_range)`` (``im2double`` then
        ``round(255 * .)``: identity for ``uint8``, ``uint16`` divided by
        65535, float taken on ``[0, data_range]``) and padded by edge
        replication at the bottom/right to a multiple of 16.  Colour input is
        converted by the preset (``matlab``: MATLAB ``rgb2gray``).
    data_range : the value of white.

    Returns
    -------
    float
        With the MSCN map ``I'`` (7x7 Gaussian, sigma 7/6, replicate padding,
        ``C = 1``) cut into 16x16 blocks ``B_k`` of sample variance ``v_k``,
        the active blocks are those with ``v_k > 0.1`` (``N_SA`` of them).
        An active block has a noticeable distortion (``w_NDC = 1``) when one
        of the 11 runs of 6 pixels along any of its four edges has a sample
        standard deviation below 0.1, and is noisy (``w_NC = 1``) when
        ``sqrt(v_k) > 2 beta_k`` with ``beta_k = |sigma_k - r_k| /
        max(sigma_k, r_k)``, ``r_k`` the ratio of the standard deviations of
        the two centre columns and of the surround.  Then

        .. math::

           \\mathrm{PIQE} = 100\\,\\frac{\\sum_k [w_{NDC}(1 - v_k) +
           w_{NC} v_k] + C}{N_{SA} + C},\\qquad C = 1.

        A uniform image has no active block and scores 100.

    References
    ----------
    Venkatanath N. et al., "Blind image quality evaluation using perception
    based features", NCC 2015; MATLAB Image Processing Toolbox ``piqe``.
    """
    return piqe_maps(image, data_range=data_range)[0]


register(
    MetricSpec(
        name="piqe",
        kind="NR",
        higher_is_better=False,
        value_range=(0.0, 100.0),
        func=piqe,
        presets={"matlab": {"color": "gray"}},
        description="Perception-based Image Quality Evaluator (MATLAB piqe: 16x16 blocks)",
        reference="Venkatanath N. et al., National Conference on Communications (NCC), 2015",
    )
)
