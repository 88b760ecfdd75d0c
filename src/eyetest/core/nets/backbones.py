"""ImageNet feature trunks (AlexNet, VGG16, SqueezeNet 1.1) in torchvision's key layout.

Only the convolutional ``features`` part is built; its ``nn.Sequential``
indices equal torchvision's, so a torchvision checkpoint
(``alexnet-owt-7be5be79.pth``, ``vgg16-397923af.pth``,
``squeezenet1_1-b8a52dc0.pth``) loads key for key (``features.0.weight``,
``features.3.squeeze.weight``, ...); the ``classifier.*`` keys of the file
are ignored.  :meth:`Trunk.forward` returns the activations LPIPS taps
(Zhang et al., CVPR 2018, ``pretrained_networks.py``):

=============  ==========================================  ======================
network        taps (index of the ReLU whose output is used)  channels
=============  ==========================================  ======================
alexnet        relu1..relu5: 1, 4, 7, 9, 11                64, 192, 384, 256, 256
vgg16          relu1_2, relu2_2, relu3_3, relu4_3, relu5_3: 3, 8, 15, 22, 29
                                                           64, 128, 256, 512, 512
squeezenet1_1  1, 4 (fire4), 7 (fire6), 9, 10, 11, 12      64, 128, 256, 384, 384, 512, 512
=============  ==========================================  ======================

Architectures: Krizhevsky, "One weird trick for parallelizing convolutional
neural networks", 2014 (the torchvision AlexNet variant); Simonyan &
Zisserman, ICLR 2015 (VGG16, configuration D); Iandola et al., 2016
(SqueezeNet 1.1).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from eyetest.core.nets import load_strict
from eyetest.errors import UnknownNameError


class Fire(nn.Module):
    """SqueezeNet fire module: 1x1 squeeze, then parallel 1x1 and 3x3 expands."""

    def __init__(self, inplanes: int, squeeze: int, expand1x1: int, expand3x3: int):
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


def _alexnet_features() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )


_VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _vgg16_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for v in _VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(cin, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            cin = int(v)
    return nn.Sequential(*layers)


def _squeezenet1_1_features() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=3, stride=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(64, 16, 64, 64), Fire(128, 16, 64, 64),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(128, 32, 128, 128), Fire(256, 32, 128, 128),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
        Fire(384, 64, 256, 256), Fire(512, 64, 256, 256),
    )


#: network -> (builder, indices of the layers whose outputs are tapped, channels)
TRUNKS = {
    "alex": (_alexnet_features, (1, 4, 7, 9, 11), (64, 192, 384, 256, 256)),
    "vgg": (_vgg16_features, (3, 8, 15, 22, 29), (64, 128, 256, 512, 512)),
    "squeeze": (_squeezenet1_1_features, (1, 4, 7, 9, 10, 11, 12),
                (64, 128, 256, 384, 384, 512, 512)),
}


class Trunk(nn.Module):
    """A feature trunk returning the LPIPS taps as a list of tensors."""

    def __init__(self, net: str):
        super().__init__()
        if net not in TRUNKS:
            raise UnknownNameError("LPIPS network", net, TRUNKS)
        build, taps, channels = TRUNKS[net]
        self.net = net
        self.features = build()
        self.taps = taps
        self.channels = channels
        # layers after the last tap are never run (and hold no parameters we need)
        self._last = taps[-1]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, layer in enumerate(self.features):
            if i > self._last:
                break
            x = layer(x)
            if i in self.taps:
                # safe without a copy: the layer after every tap is a pool, a
                # conv or a fire module, never an in-place ReLU on this tensor
                outs.append(x)
        return outs


def trunk_from_state_dict(net: str, state_dict: Mapping[str, Any]) -> Trunk:
    """Build the ``net`` trunk and load a torchvision-layout checkpoint into it.

    Keys other than ``features.*`` (the classifier) are ignored; every
    ``features.*`` key must be present with its torchvision shape.
    """
    trunk = Trunk(net)
    feats = {k: v for k, v in state_dict.items() if k.startswith("features.")}
    load_strict(trunk, feats, what=f"{net} backbone")
    trunk.eval()
    for p in trunk.parameters():
        p.requires_grad_(False)
    return trunk
