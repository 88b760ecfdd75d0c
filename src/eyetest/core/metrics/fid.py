"""Distribution metrics: Fréchet Inception Distance (FID) and Kernel Inception Distance (KID).

Both compare two *sets* of images through features of a fixed network (the
2048-d pool3 output of the TF Inception used by the original FID code, see
:mod:`eyetest.core.nets.inception`).  The statistics here work on any feature
arrays (rows = images) and need only numpy/scipy; the feature extractor
:func:`inception_features` needs torch and is imported lazily, so this module
imports cleanly without torch.

Resize modes for the Inception input (299x299), setting ``resize``:

``"clean"`` (default)  clean-fid (Parmar et al., CVPR 2022): each channel is
                       resized as float32 with PIL's anti-aliased bicubic
                       filter, values kept on 0-255 (no re-quantisation).
``"pytorch-fid"``      pytorch-fid's ``F.interpolate(bilinear,
                       align_corners=False)`` without anti-aliasing; aliased
                       when downscaling, but matches numbers computed with it.
``"none"``             the image as given (the network is fully
                       convolutional up to the global pool; at least 75x75).

References
----------
Heusel et al., "GANs trained by a two time-scale update rule converge to a
local Nash equilibrium", NeurIPS 2017 (FID).
Bińkowski et al., "Demystifying MMD GANs", ICLR 2018 (KID).
Parmar, Zhang, Zhu, "On aliased resizing and surprising subtleties in GAN
evaluation", CVPR 2022 (clean-fid).
Chong & Forsyth, "Effectively unbiased FID and Inception score and where to
find them", CVPR 2020 (FID's bias at small N).
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import linalg

from eyetest.core.metrics._fidelity_common import check_data_range
from eyetest.core.metrics.registry import MetricSpec, register
from eyetest.errors import MetricInputError

RESIZE_MODES = ("clean", "pytorch-fid", "none")
INCEPTION_SIZE = 299


class SmallSampleWarning(UserWarning):
    """A distribution metric was computed on too few images to be reliable."""


def _small_sample(message: str, notes: list[str] | None) -> None:
    """Warn (:class:`SmallSampleWarning`, at the metric's caller) or, given a list, append to it.

    A list lets a caller report the caveat without silencing the warning with
    ``warnings.catch_warnings``, which is not thread-safe.
    """
    if notes is None:
        warnings.warn(message, SmallSampleWarning, stacklevel=3)
    else:
        notes.append(message)


def _as_vector(x, what: str) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1:
        raise MetricInputError(f"{what} must be a vector, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise MetricInputError(f"{what} has non-finite values")
    return v


def _as_cov(s, d: int, what: str) -> np.ndarray:
    m = np.atleast_2d(np.asarray(s, dtype=np.float64))
    if m.shape != (d, d):
        raise MetricInputError(f"{what} must be {d}x{d}, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise MetricInputError(f"{what} has non-finite values")
    scale = max(float(np.max(np.abs(m))), 1e-300)
    if np.max(np.abs(m - m.T)) > 1e-6 * scale:
        raise MetricInputError(f"{what} is not symmetric")
    return (m + m.T) / 2


def _clip_spectrum(w: np.ndarray) -> np.ndarray:
    """Zero eigenvalues below the numerical-rank cutoff ``d * eps * max|w|``:
    their square roots (~1e-8 each) would otherwise add up to visible error."""
    cut = w.shape[0] * np.finfo(np.float64).eps * max(float(np.max(np.abs(w))), 0.0)
    return np.where(w > cut, w, 0.0)


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    w, v = linalg.eigh(m)
    return (v * np.sqrt(_clip_spectrum(w))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    r"""Squared Fréchet (2-Wasserstein) distance between two Gaussians.

    .. math::

        d^2 = \lVert\mu_1-\mu_2\rVert^2
              + \operatorname{Tr}\bigl(\Sigma_1 + \Sigma_2
              - 2(\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2})^{1/2}\bigr)

    ``Tr((Σ1 Σ2)^{1/2})`` is computed as the sum of the square roots of the
    eigenvalues of the symmetric PSD matrix ``Σ1^{1/2} Σ2 Σ1^{1/2}`` (same
    spectrum as ``Σ1 Σ2``), so singular covariances (fewer samples than
    dimensions) need no ``eps`` offset and no complex square root.  For 1-D
    Gaussians it reduces to ``(m1 - m2)^2 + (s1 - s2)^2``.  FID (Heusel et
    al., NeurIPS 2017) is this distance between Gaussians fitted to Inception
    pool3 features.

    Parameters
    ----------
    mu1, mu2 : (d,) means.
    sigma1, sigma2 : (d, d) symmetric positive semi-definite covariances.

    Returns
    -------
    float, >= 0.
    """
    m1 = _as_vector(np.atleast_1d(mu1), "mu1")
    m2 = _as_vector(np.atleast_1d(mu2), "mu2")
    if m1.shape != m2.shape:
        raise MetricInputError(f"mu1 has shape {m1.shape} but mu2 has shape {m2.shape}")
    d = m1.shape[0]
    s1 = _as_cov(sigma1, d, "sigma1")
    s2 = _as_cov(sigma2, d, "sigma2")
    r1 = _psd_sqrt(s1)
    inner = r1 @ s2 @ r1
    eig = linalg.eigvalsh((inner + inner.T) / 2)
    tr_covmean = float(np.sum(np.sqrt(_clip_spectrum(eig))))
    diff = m1 - m2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
    return max(value, 0.0)


def _features(x, what: str) -> np.ndarray:
    f = np.asarray(x, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise MetricInputError(f"{what} must be an (n >= 2, d) feature array, got shape {f.shape}")
    if not np.all(np.isfinite(f)):
        raise MetricInputError(f"{what} has non-finite values")
    return f


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (``np.cov``, ddof=1) of an (n, d) feature array."""
    f = _features(features, "features")
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def fid(reference_features, distorted_features, *, notes: list[str] | None = None) -> float:
    """FID between two feature sets: :func:`frechet_distance` of their Gaussians.

    Warns with :class:`SmallSampleWarning` when a set has fewer images than
    feature dimensions (the covariance is then rank-deficient and FID is
    biased upwards; Chong & Forsyth, CVPR 2020).  Compare FIDs only at equal N.
    Given a list ``notes``, the message is appended to it instead of warned.
    """
    a = _features(reference_features, "reference_features")
    b = _features(distorted_features, "distorted_features")
    if a.shape[1] != b.shape[1]:
        raise MetricInputError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    n1, n2, d = a.shape[0], b.shape[0], a.shape[1]
    if min(n1, n2) < d:
        _small_sample(
            f"FID from {min(n1, n2)} images with {d}-d features: the covariance is "
            "rank-deficient and FID is biased upwards at small N; compare only at equal N",
            notes)
    if n1 * n2 > d * d:
        return frechet_distance(*feature_statistics(a), *feature_statistics(b))
    # Few images: with centred features A, B, S1 = A'A/(n1-1), S2 = B'B/(n2-1),
    # the non-zero eigenvalues of S1 S2 are the squared singular values of
    # A B' / sqrt((n1-1)(n2-1)), so Tr((S1 S2)^1/2) is that matrix's nuclear
    # norm: O(n1 n2 d) instead of O(d^3), and exact.
    ca, cb = a - a.mean(axis=0), b - b.mean(axis=0)
    diff = a.mean(axis=0) - b.mean(axis=0)
    tr1 = float(np.sum(ca * ca)) / (n1 - 1)
    tr2 = float(np.sum(cb * cb)) / (n2 - 1)
    tr_covmean = float(np.sum(linalg.svdvals(ca @ cb.T))) / np.sqrt((n1 - 1) * (n2 - 1))
    return max(float(diff @ diff) + tr1 + tr2 - 2.0 * tr_covmean, 0.0)


def _poly_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x, y) -> float:
    r"""Unbiased MMD² with the cubic polynomial kernel ``k(a,b) = (a·b/d + 1)^3``.

    .. math::

        \widehat{\mathrm{MMD}}^2_u = \frac{1}{m(m-1)}\sum_{i\ne j}k(x_i,x_j)
        + \frac{1}{n(n-1)}\sum_{i\ne j}k(y_i,y_j)
        - \frac{2}{mn}\sum_{i,j}k(x_i,y_j)

    (Gretton et al., JMLR 2012; kernel of Bińkowski et al., ICLR 2018).  It
    can be slightly negative.
    """
    x = _features(x, "x")
    y = _features(y, "y")
    m, n = x.shape[0], y.shape[0]
    kxx = _poly_kernel(x, x)
    kyy = _poly_kernel(y, y)
    kxy = _poly_kernel(x, y)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


def kid(
    reference_features,
    distorted_features,
    *,
    rng: np.random.Generator,
    n_subsets: int = 100,
    subset_size: int = 1000,
    notes: list[str] | None = None,
) -> tuple[float, float]:
    """Kernel Inception Distance: mean and std of :func:`mmd2_unbiased` over subsets.

    ``n_subsets`` random subsets of ``subset_size`` images are drawn without
    replacement from each set (Bińkowski et al., ICLR 2018; the defaults
    100 x 1000 are those of torch-fidelity and clean-fid).  When a set is
    smaller than ``subset_size`` the subset size drops to the smaller set size
    and :class:`SmallSampleWarning` is issued (appended to ``notes`` instead,
    given a list).

    Returns
    -------
    (mean, std) of the subset estimates.
    """
    a = _features(reference_features, "reference_features")
    b = _features(distorted_features, "distorted_features")
    if a.shape[1] != b.shape[1]:
        raise MetricInputError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    try:  # whole numbers given as floats (e.g. from JSON/YAML settings) are fine
        if n_subsets != int(n_subsets) or subset_size != int(subset_size):
            raise ValueError
        n_subsets, subset_size = int(n_subsets), int(subset_size)
    except (TypeError, ValueError, OverflowError):
        raise MetricInputError(
            f"n_subsets and subset_size must be whole numbers, got {n_subsets!r} and "
            f"{subset_size!r}") from None
    if n_subsets < 1 or subset_size < 2:
        raise MetricInputError(
            f"n_subsets must be >= 1 and subset_size >= 2, got {n_subsets} and {subset_size}")
    size = min(subset_size, a.shape[0], b.shape[0])
    if size < subset_size:
        _small_sample(
            f"KID with subsets of {size} images (asked for {subset_size}): "
            "few images give a noisy estimate; report the std with it",
            notes)
    vals = np.empty(n_subsets)
    for i in range(n_subsets):
        ia = rng.choice(a.shape[0], size, replace=False)
        ib = rng.choice(b.shape[0], size, replace=False)
        vals[i] = mmd2_unbiased(a[ia], b[ib])
    return float(vals.mean()), float(vals.std())


def _kid_metric(reference_features, distorted_features, *, seed: int = 0,
                n_subsets: int = 100, subset_size: int = 1000,
                notes: list[str] | None = None) -> float:
    return kid(reference_features, distorted_features, rng=np.random.default_rng(seed),
               n_subsets=n_subsets, subset_size=subset_size, notes=notes)[0]


def _fid_metric(reference_features, distorted_features, *, notes: list[str] | None = None) -> float:
    return fid(reference_features, distorted_features, notes=notes)


# --------------------------------------------------------------------- features


def resize_for_inception(image: np.ndarray, *, data_range: float, resize: str = "clean") -> np.ndarray:
    """One HxWx3 image -> float32 3xSxS on 0-1 as the Inception input (see module doc)."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise MetricInputError(f"expected an HxW or HxWx3 image, got shape {img.shape}")
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    if resize not in RESIZE_MODES:
        raise MetricInputError(f"unknown resize mode {resize!r}; use one of {RESIZE_MODES}")
    scale = 255.0 / check_data_range(data_range, "inception features")
    x = img.astype(np.float32) * np.float32(scale)
    if not np.all(np.isfinite(x)):
        raise MetricInputError("image contains NaN or infinite values")
    if resize == "clean" and x.shape[:2] != (INCEPTION_SIZE, INCEPTION_SIZE):
        from PIL import Image

        chans = [
            np.asarray(Image.fromarray(np.ascontiguousarray(x[..., c])).resize(
                (INCEPTION_SIZE, INCEPTION_SIZE), resample=Image.BICUBIC))
            for c in range(3)
        ]
        x = np.clip(np.stack(chans, axis=2), 0.0, 255.0)
    elif resize == "none" and min(x.shape[:2]) < 75:
        raise MetricInputError(f"image of size {x.shape[0]}x{x.shape[1]} is smaller than 75x75")
    return np.ascontiguousarray((x / 255.0).transpose(2, 0, 1))


def inception_features(
    images: Sequence[np.ndarray],
    *,
    data_range: float,
    state_dict: Mapping[str, Any],
    resize: str = "clean",
    device: str | None = "auto",
    batch_size: int = 32,
) -> np.ndarray:
    """2048-d pool3 features of the FID Inception for each image, as (n, 2048) float64.

    ``state_dict`` is the ``pt_inception-2015-12-05-6726825d.pth`` mapping
    (loaded by the weights manager); images are resized per ``resize`` (module
    doc), mapped to [-1, 1] and run in batches of ``batch_size`` on ``device``
    (``"cpu"``, ``"cuda[:N]"``, or ``"auto"``: CUDA when available).
    Images of different sizes are fine with ``clean``/``pytorch-fid`` resizing.
    """
    from eyetest.core.nets import resolve_device, torch_available

    torch_available(required=True)
    import torch

    from eyetest.core.nets.inception import fid_inception_from_state_dict

    if batch_size < 1:
        raise MetricInputError(f"batch_size must be >= 1, got {batch_size}")
    data_range = check_data_range(data_range, "inception features")
    device = resolve_device(device)
    net = fid_inception_from_state_dict(state_dict, device=device)
    out = []
    for start in range(0, len(images), batch_size):
        chunk = []
        for i, im in enumerate(images[start:start + batch_size], start):
            try:
                chunk.append(resize_for_inception(im, data_range=data_range, resize=resize))
            except MetricInputError as exc:
                raise MetricInputError(f"image {i}: {exc}") from None
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, c in enumerate(chunk):
            groups.setdefault(c.shape, []).append(i)
        feats = [None] * len(chunk)
        for idx in groups.values():
            batch = torch.from_numpy(np.stack([chunk[i] for i in idx])).to(device)
            if resize == "pytorch-fid" and batch.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
                batch = torch.nn.functional.interpolate(
                    batch, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear",
                    align_corners=False)
            with torch.inference_mode():
                f = net(2.0 * batch - 1.0).double().cpu().numpy()
            for j, i in enumerate(idx):
                feats[i] = f[j]
        out.extend(feats)
    return np.stack(out) if out else np.empty((0, 2048))


_PRESETS = {"matlab": {"resize": "clean"}, "clean": {"resize": "clean"},
            "pytorch-fid": {"resize": "pytorch-fid"}}
#: how a runner turns image sets into the features ``func`` compares:
#: ``feature_func(images, data_range=..., device=..., batch_size=..., **weights,
#: **{k: settings[k] for k in feature_settings})``; ``takes_notes``: ``func`` accepts
#: ``notes=<list>`` and appends its caveats there instead of warning
#: (:func:`eyetest.run.compute.compare_features`)
_EXTRA = {"features": "inception-pool3", "feature_func": inception_features,
          "feature_settings": ("resize",), "weights": {"state_dict": "pt-inception"},
          "takes_notes": True}

register(MetricSpec(
    name="fid", kind="distribution", higher_is_better=False, value_range=(0.0, 300.0),
    func=_fid_metric, presets=_PRESETS, requires=("torch", "weights:pt-inception"),
    description="Fréchet Inception Distance on pool3 features (clean-fid resize by default)",
    reference="Heusel et al., NeurIPS 2017; Parmar et al., CVPR 2022", extra=_EXTRA,
))
register(MetricSpec(
    name="kid", kind="distribution", higher_is_better=False, value_range=(0.0, 0.5),
    func=_kid_metric, presets=_PRESETS, requires=("torch", "weights:pt-inception"),
    description="Kernel Inception Distance (unbiased MMD², cubic kernel), mean of 100 subsets",
    reference="Bińkowski et al., ICLR 2018", extra=_EXTRA,
))

__all__ = ["SmallSampleWarning", "feature_statistics", "fid", "frechet_distance",
           "inception_features", "kid", "mmd2_unbiased", "resize_for_inception"]

