r"""The LPIPS network (Zhang et al., CVPR 2018), v0.1, in the published key layout.

.. math::

    d(x_0, x_1) = \sum_l \frac{1}{H_l W_l} \sum_{h,w}
                  \bigl\lVert w_l \odot (\hat y^l_{0,hw} - \hat y^l_{1,hw}) \bigr\rVert_2^2

where :math:`\hat y^l` are the layer-:math:`l` trunk activations of the
scaled input, unit-normalised along channels
(:math:`y / (\lVert y \rVert_2 + 10^{-10})`), and :math:`w_l \ge 0` the learned
per-channel weights (a bias-free 1x1 convolution).  Inputs are RGB in
[-1, 1]; the scaling layer maps them to ImageNet statistics with
``shift = (-0.030, -0.088, -0.188)`` and ``scale = (0.458, 0.448, 0.450)``.

The heads checkpoint (``alex.pth`` / ``vgg.pth`` / ``squeeze.pth`` of the
v0.1 release) holds ``lin{k}.model.1.weight`` of shape ``(1, C_k, 1, 1)``
(``model`` is ``Sequential(Dropout, Conv2d)``); the backbone comes from the
torchvision checkpoint (:mod:`eyetest.core.nets.backbones`).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from eyetest.core.nets import load_strict
from eyetest.core.nets.backbones import Trunk, trunk_from_state_dict

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10


class NetLinLayer(nn.Module):
    """One LPIPS head: ``model = Sequential(Dropout, Conv2d(C, 1, 1, bias=False))``."""

    def __init__(self, channels: int):
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Heads(nn.Module):
    """The linear heads ``lin0 .. lin{L-1}`` for a trunk's channel counts."""

    def __init__(self, channels: tuple[int, ...]):
        super().__init__()
        for k, c in enumerate(channels):
            self.add_module(f"lin{k}", NetLinLayer(c))
        self.n = len(channels)

    def __getitem__(self, k: int) -> NetLinLayer:
        return getattr(self, f"lin{k}")


def _unit_normalize(f: torch.Tensor) -> torch.Tensor:
    return f / (torch.sqrt(torch.sum(f * f, dim=1, keepdim=True)) + EPS)


class LPIPSNet(nn.Module):
    """Trunk + heads; ``forward(x0, x1)`` gives one distance per batch item."""

    def __init__(self, trunk: Trunk, heads: Heads):
        super().__init__()
        self.trunk = trunk
        self.heads = heads
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        f0 = self.trunk((x0 - self.shift) / self.scale)
        f1 = self.trunk((x1 - self.shift) / self.scale)
        total = None
        for k, (a, b) in enumerate(zip(f0, f1)):
            diff = (_unit_normalize(a) - _unit_normalize(b)) ** 2
            layer = self.heads[k](diff).mean(dim=(2, 3))[:, 0]
            total = layer if total is None else total + layer
        return total


def lpips_from_state_dicts(net: str, backbone: Mapping[str, Any], heads: Mapping[str, Any]) -> LPIPSNet:
    """Build LPIPS for ``net`` (``alex``, ``vgg``, ``squeeze``) from the two checkpoints.

    ``heads`` must hold exactly the ``lin{k}.model.1.weight`` keys for the
    trunk's layers (a checkpoint for a different trunk is rejected by its
    key set or shapes).
    """
    trunk = trunk_from_state_dict(net, backbone)
    hd = Heads(trunk.channels)
    load_strict(hd, heads, what=f"LPIPS {net} heads")
    model = LPIPSNet(trunk, hd).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
