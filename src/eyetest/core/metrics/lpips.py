r"""LPIPS: Learned Perceptual Image Patch Similarity (Zhang et al., CVPR 2018).

.. math::

    \mathrm{LPIPS}(x_0, x_1) = \sum_l \frac{1}{H_l W_l}\sum_{h,w}
        \bigl\lVert w_l \odot (\hat y^l_{0,hw} - \hat y^l_{1,hw}) \bigr\rVert_2^2

with :math:`\hat y^l` the channel-unit-normalised activations of layer
:math:`l` of an ImageNet trunk (AlexNet, VGG16 or SqueezeNet 1.1) and
:math:`w_l` the v0.1 linear calibration heads; see
:mod:`eyetest.core.nets.lpips`.  Lower is more similar; ``LPIPS(x, x) = 0``.

Input convention: RGB scaled to [-1, 1] as ``2 * image / data_range - 1``
(what the reference implementation expects with ``normalize=False``);
a grayscale image is repeated to three channels.  The ``matlab`` preset is
the image as given (RGB); note the ``sr-y-crop<N>`` presets feed the Y
channel, whereas SR papers report LPIPS on RGB (use ``matlab`` with ``crop``).

Weights are arguments (core reads no files): ``backbone`` is the torchvision
checkpoint mapping and ``heads`` the LPIPS v0.1 heads mapping, both loaded by
:mod:`eyetest.backends.weights`.  torch is imported only when a distance is
computed, so this module (and its registration) works without torch.

Reference
---------
R. Zhang, P. Isola, A. A. Efros, E. Shechtman, O. Wang, "The Unreasonable
Effectiveness of Deep Features as a Perceptual Metric", CVPR 2018.
"""

from __future__ import annotations

import threading
from typing import Any, Mapping, Sequence

import numpy as np

from eyetest.core.metrics._fidelity_common import check_data_range
from eyetest.core.metrics.registry import MetricSpec, register
from eyetest.errors import MetricInputError

NETS = ("alex", "vgg", "squeeze")
#: smallest height/width each trunk accepts: every tapped layer must keep at
#: least one pixel (AlexNet: 11x11/4 conv and two 3x3/2 pools before relu5;
#: VGG16: four 2x2 pools before relu5_3; SqueezeNet 1.1: 3x3/2 conv and two
#: 3x3/2 ceil-mode pools before fire6)
MIN_SIZE = {"alex": 31, "vgg": 16, "squeeze": 17}
#: default memory cap: pixels per forward batch (n * H * W), ~4 megapixels
MAX_BATCH_PIXELS = 1 << 22

_CACHE_LOCK = threading.Lock()
_MODELS: list[tuple[Any, Any, str, str, Any]] = []  # (backbone, heads, net, device, model)
_MAX_MODELS = 4


def _model(net: str, backbone: Mapping[str, Any], heads: Mapping[str, Any], device):
    """The network built from these exact mappings, reused while they live.

    Entries are matched by object identity and hold a reference to the
    mappings, so a cached network can never be confused with other weights.
    """
    from eyetest.core.nets.lpips import lpips_from_state_dicts

    key = str(device)
    with _CACHE_LOCK:
        for b, h, n, d, m in _MODELS:
            if b is backbone and h is heads and n == net and d == key:
                return m
    model = lpips_from_state_dicts(net, backbone, heads).to(device)
    with _CACHE_LOCK:
        _MODELS.append((backbone, heads, net, key, model))
        del _MODELS[:-_MAX_MODELS]
    return model


def _to_unit(image: np.ndarray, data_range: float, what: str) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3:
        raise MetricInputError(f"LPIPS needs an HxWx3 (or HxW) image; {what} has shape {a.shape}")
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise MetricInputError(f"{what} has dtype {a.dtype}; expected real numbers")
    x = a.astype(np.float32) * np.float32(2.0 / float(data_range)) - np.float32(1.0)
    if not np.all(np.isfinite(x)):
        raise MetricInputError(f"lpips: {what} contains NaN or infinite values")
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def lpips_batch(
    references: Sequence[np.ndarray],
    distorted: Sequence[np.ndarray],
    *,
    data_range: float,
    backbone: Mapping[str, Any],
    heads: Mapping[str, Any],
    net: str = "alex",
    device: str | None = "auto",
    max_batch_pixels: int = MAX_BATCH_PIXELS,
) -> np.ndarray:
    """LPIPS of each (reference, distorted) pair, batched under a memory cap.

    Pairs are grouped by image size; each forward pass holds at most
    ``max_batch_pixels`` pixels per side (at least one pair), which bounds
    activation memory on CPU and GPU alike.

    Parameters
    ----------
    references, distorted : sequences of HxWx3 arrays, pairwise the same shape.
    data_range : value range of the input (255 for uint8, 1.0 for [0, 1] floats).
    backbone, heads : the torchvision trunk and LPIPS v0.1 heads state dicts.
    net : ``"alex"`` (the LPIPS default), ``"vgg"`` or ``"squeeze"``.
    device : ``"cpu"``, ``"cuda"``, ``"cuda:N"``, or ``"auto"`` (CUDA if available).
    max_batch_pixels : memory cap, pixels per batch and side.

    Returns
    -------
    (n,) float64 array of distances.
    """
    from eyetest.core.nets import resolve_device, torch_available

    torch_available(required=True)
    import torch

    if net not in NETS:
        raise MetricInputError(f"unknown LPIPS network {net!r}; use one of {NETS}")
    data_range = check_data_range(data_range, "lpips")
    if len(references) != len(distorted):
        raise MetricInputError(
            f"{len(references)} references but {len(distorted)} distorted images")
    if max_batch_pixels < 1:
        raise MetricInputError(f"max_batch_pixels must be >= 1, got {max_batch_pixels}")
    dev = resolve_device(device)
    model = _model(net, backbone, heads, dev)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, (r, d) in enumerate(zip(references, distorted)):
        rs, ds = np.shape(r), np.shape(d)
        if rs != ds:
            raise MetricInputError(f"pair {i}: reference shape {rs} != distorted shape {ds}")
        if len(rs) >= 2 and min(rs[:2]) < MIN_SIZE[net]:
            raise MetricInputError(
                f"pair {i}: image of size {rs[0]}x{rs[1]} is too small for LPIPS-{net} "
                f"(needs at least {MIN_SIZE[net]}x{MIN_SIZE[net]})")
        groups.setdefault(rs, []).append(i)
    out = np.empty(len(references), dtype=np.float64)
    for shape, idx in groups.items():
        per = max(1, int(max_batch_pixels) // max(1, shape[0] * shape[1]))
        for s in range(0, len(idx), per):
            chunk = idx[s:s + per]
            x0 = torch.from_numpy(np.stack([_to_unit(references[i], data_range, f"reference {i}")
                                            for i in chunk])).to(dev)
            x1 = torch.from_numpy(np.stack([_to_unit(distorted[i], data_range, f"distorted {i}")
                                            for i in chunk])).to(dev)
            with torch.inference_mode():
                d = model(x0, x1)
            out[chunk] = d.double().cpu().numpy()
    return out


def lpips(
    reference: np.ndarray,
    distorted: np.ndarray,
    *,
    data_range: float,
    backbone: Mapping[str, Any],
    heads: Mapping[str, Any],
    net: str = "alex",
    device: str | None = "auto",
) -> float:
    """LPIPS distance of one pair (see :func:`lpips_batch` and the module doc)."""
    return float(lpips_batch([reference], [distorted], data_range=data_range, backbone=backbone,
                             heads=heads, net=net, device=device)[0])


_BACKBONE_WEIGHTS = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}


def _register(name: str, net: str, description: str) -> None:
    weights = {"backbone": _BACKBONE_WEIGHTS[net], "heads": f"lpips-{net}"}
    register(MetricSpec(
        name=name, kind="FR", higher_is_better=False, value_range=(0.0, 1.0),
        func=lpips,
        presets={"matlab": {"net": net}, "sr-y": {"net": net}},
        requires=("torch", *(f"weights:{w}" for w in weights.values())),
        description=description,
        reference="Zhang et al., The Unreasonable Effectiveness of Deep Features as a "
                  "Perceptual Metric, CVPR 2018 (v0.1 heads)",
        extra={"weights": weights, "batch_func": lpips_batch},
    ))


_register("lpips", "alex", "LPIPS v0.1, AlexNet trunk (the LPIPS default), RGB in [-1, 1]")
_register("lpips-vgg", "vgg", "LPIPS v0.1, VGG16 trunk, RGB in [-1, 1]")
_register("lpips-squeeze", "squeeze", "LPIPS v0.1, SqueezeNet 1.1 trunk, RGB in [-1, 1]")

__all__ = ["MIN_SIZE", "NETS", "lpips", "lpips_batch"]
