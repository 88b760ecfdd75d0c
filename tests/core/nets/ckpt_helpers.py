"""Random checkpoints in the published key layouts (torchvision trunks, LPIPS heads).

Shapes are written out from the published architectures, independently of
``eyetest.core.nets``; tests load this file by path.
"""

from __future__ import annotations

import torch

# torchvision state-dict layouts of the `features` part, written out from the
# published architectures (keys and shapes), independent of the module under test.
ALEX = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3),
        8: (256, 384, 3, 3), 10: (256, 256, 3, 3)}
VGG_CONVS = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
VGG_OUT = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
FIRES = {3: (64, 16, 64), 4: (128, 16, 64), 6: (128, 32, 128), 7: (256, 32, 128),
         9: (256, 48, 192), 10: (384, 48, 192), 11: (384, 64, 256), 12: (512, 64, 256)}


def _conv(sd, key, shape, g):
    fan_in = shape[1] * shape[2] * shape[3]
    sd[f"{key}.weight"] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
    sd[f"{key}.bias"] = torch.randn(shape[0], generator=g) * 0.01


def random_backbone(net: str, seed: int = 0) -> dict:
    """A random checkpoint in torchvision's key layout (plus classifier keys)."""
    g = torch.Generator().manual_seed(seed)
    sd: dict = {}
    if net == "alex":
        for i, shape in ALEX.items():
            _conv(sd, f"features.{i}", shape, g)
    elif net == "vgg":
        cin = 3
        for i, c in zip(VGG_CONVS, VGG_OUT):
            _conv(sd, f"features.{i}", (c, cin, 3, 3), g)
            cin = c
    else:
        _conv(sd, "features.0", (64, 3, 3, 3), g)
        for i, (cin, sq, ex) in FIRES.items():
            _conv(sd, f"features.{i}.squeeze", (sq, cin, 1, 1), g)
            _conv(sd, f"features.{i}.expand1x1", (ex, sq, 1, 1), g)
            _conv(sd, f"features.{i}.expand3x3", (ex, sq, 3, 3), g)
    # the classifier is in the real files and must be ignored
    sd["classifier.1.weight"] = torch.zeros(2, 2)
    sd["classifier.1.bias"] = torch.zeros(2)
    return sd


LPIPS_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512),
                  "squeeze": (64, 128, 256, 384, 384, 512, 512)}


def random_heads(net: str, seed: int = 1) -> dict:
    """LPIPS v0.1 heads layout: lin{k}.model.1.weight, shape (1, C_k, 1, 1), >= 0."""
    g = torch.Generator().manual_seed(seed)
    return {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) / c
            for k, c in enumerate(LPIPS_CHANNELS[net])}


def _bc(layout, name, cin, cout, k):
    kh, kw = (k, k) if isinstance(k, int) else k
    layout[f"{name}.conv.weight"] = (cout, cin, kh, kw)
    for s in ("weight", "bias", "running_mean", "running_var"):
        layout[f"{name}.bn.{s}"] = (cout,)


def inception_layout() -> dict:
    """Key -> shape of pt_inception-2015-12-05-6726825d.pth (pytorch-fid's port of
    the TF Inception; torchvision module names, no AuxLogits, 1008-way fc)."""
    L: dict = {}
    _bc(L, "Conv2d_1a_3x3", 3, 32, 3)
    _bc(L, "Conv2d_2a_3x3", 32, 32, 3)
    _bc(L, "Conv2d_2b_3x3", 32, 64, 3)
    _bc(L, "Conv2d_3b_1x1", 64, 80, 1)
    _bc(L, "Conv2d_4a_3x3", 80, 192, 3)
    for name, cin, pf in (("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)):
        _bc(L, f"{name}.branch1x1", cin, 64, 1)
        _bc(L, f"{name}.branch5x5_1", cin, 48, 1)
        _bc(L, f"{name}.branch5x5_2", 48, 64, 5)
        _bc(L, f"{name}.branch3x3dbl_1", cin, 64, 1)
        _bc(L, f"{name}.branch3x3dbl_2", 64, 96, 3)
        _bc(L, f"{name}.branch3x3dbl_3", 96, 96, 3)
        _bc(L, f"{name}.branch_pool", cin, pf, 1)
    _bc(L, "Mixed_6a.branch3x3", 288, 384, 3)
    _bc(L, "Mixed_6a.branch3x3dbl_1", 288, 64, 1)
    _bc(L, "Mixed_6a.branch3x3dbl_2", 64, 96, 3)
    _bc(L, "Mixed_6a.branch3x3dbl_3", 96, 96, 3)
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        _bc(L, f"{name}.branch1x1", 768, 192, 1)
        _bc(L, f"{name}.branch7x7_1", 768, c7, 1)
        _bc(L, f"{name}.branch7x7_2", c7, c7, (1, 7))
        _bc(L, f"{name}.branch7x7_3", c7, 192, (7, 1))
        _bc(L, f"{name}.branch7x7dbl_1", 768, c7, 1)
        _bc(L, f"{name}.branch7x7dbl_2", c7, c7, (7, 1))
        _bc(L, f"{name}.branch7x7dbl_3", c7, c7, (1, 7))
        _bc(L, f"{name}.branch7x7dbl_4", c7, c7, (7, 1))
        _bc(L, f"{name}.branch7x7dbl_5", c7, 192, (1, 7))
        _bc(L, f"{name}.branch_pool", 768, 192, 1)
    _bc(L, "Mixed_7a.branch3x3_1", 768, 192, 1)
    _bc(L, "Mixed_7a.branch3x3_2", 192, 320, 3)
    _bc(L, "Mixed_7a.branch7x7x3_1", 768, 192, 1)
    _bc(L, "Mixed_7a.branch7x7x3_2", 192, 192, (1, 7))
    _bc(L, "Mixed_7a.branch7x7x3_3", 192, 192, (7, 1))
    _bc(L, "Mixed_7a.branch7x7x3_4", 192, 192, 3)
    for name, cin in (("Mixed_7b", 1280), ("Mixed_7c", 2048)):
        _bc(L, f"{name}.branch1x1", cin, 320, 1)
        _bc(L, f"{name}.branch3x3_1", cin, 384, 1)
        _bc(L, f"{name}.branch3x3_2a", 384, 384, (1, 3))
        _bc(L, f"{name}.branch3x3_2b", 384, 384, (3, 1))
        _bc(L, f"{name}.branch3x3dbl_1", cin, 448, 1)
        _bc(L, f"{name}.branch3x3dbl_2", 448, 384, 3)
        _bc(L, f"{name}.branch3x3dbl_3a", 384, 384, (1, 3))
        _bc(L, f"{name}.branch3x3dbl_3b", 384, 384, (3, 1))
        _bc(L, f"{name}.branch_pool", cin, 192, 1)
    L["fc.weight"] = (1008, 2048)
    L["fc.bias"] = (1008,)
    return L


def random_inception(seed: int = 0) -> dict:
    """Random weights in the pt_inception layout (BN folded to near-identity)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in inception_layout().items():
        if k.endswith("conv.weight"):
            fan_in = shape[1] * shape[2] * shape[3]
            sd[k] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
        elif k.endswith("running_var") or k.endswith("bn.weight"):
            sd[k] = 1.0 + 0.1 * torch.rand(shape, generator=g)
        elif k.endswith("running_mean") or k.endswith("bn.bias"):
            sd[k] = 0.05 * torch.randn(shape, generator=g)
        else:
            sd[k] = 0.01 * torch.randn(shape, generator=g)
    return sd
