"""Trunks load torchvision-layout checkpoints and tap the LPIPS layers."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from eyetest.core.nets.backbones import trunk_from_state_dict  # noqa: E402
from eyetest.errors import MetricInputError  # noqa: E402

import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402

_spec = importlib.util.spec_from_file_location("ckpt_helpers", Path(__file__).with_name("ckpt_helpers.py"))
_h = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_h)
random_backbone = _h.random_backbone


def _out(n, k, s, p, ceil=False):
    import math

    v = (n + 2 * p - k) / s + 1
    return math.ceil(v) if ceil else math.floor(v)


def test_alexnet_taps():
    t = trunk_from_state_dict("alex", random_backbone("alex"))
    outs = t(torch.rand(1, 3, 97, 97))
    h1 = _out(97, 11, 4, 2)
    h2 = _out(h1, 3, 2, 0)
    h3 = _out(h2, 3, 2, 0)
    assert [o.shape[1] for o in outs] == [64, 192, 384, 256, 256]
    assert [o.shape[2] for o in outs] == [h1, h2, h3, h3, h3]


def test_vgg_taps():
    t = trunk_from_state_dict("vgg", random_backbone("vgg"))
    outs = t(torch.rand(1, 3, 48, 48))
    assert [tuple(o.shape[1:]) for o in outs] == [
        (64, 48, 48), (128, 24, 24), (256, 12, 12), (512, 6, 6), (512, 3, 3)]


def test_squeezenet_taps():
    t = trunk_from_state_dict("squeeze", random_backbone("squeeze"))
    outs = t(torch.rand(1, 3, 64, 64))
    h1 = _out(64, 3, 2, 0)
    h2 = _out(h1, 3, 2, 0, ceil=True)
    h3 = _out(h2, 3, 2, 0, ceil=True)
    h4 = _out(h3, 3, 2, 0, ceil=True)
    assert [o.shape[1] for o in outs] == [64, 128, 256, 384, 384, 512, 512]
    assert [o.shape[2] for o in outs] == [h1, h2, h3, h4, h4, h4, h4]


def test_first_tap_equals_functional_conv_relu():
    sd = random_backbone("alex", seed=3)
    t = trunk_from_state_dict("alex", sd)
    x = torch.rand(2, 3, 64, 64)
    want = torch.relu(torch.nn.functional.conv2d(x, sd["features.0.weight"], sd["features.0.bias"],
                                                 stride=4, padding=2))
    torch.testing.assert_close(t(x)[0], want)


def test_bad_layouts_are_rejected():
    sd = random_backbone("alex")
    del sd["features.3.bias"]
    with pytest.raises(MetricInputError, match="missing.*features.3.bias"):
        trunk_from_state_dict("alex", sd)
    sd = random_backbone("alex")
    sd["features.0.weight"] = torch.zeros(64, 3, 3, 3)
    with pytest.raises(MetricInputError, match="features.0.weight.*shape"):
        trunk_from_state_dict("alex", sd)
    with pytest.raises(MetricInputError, match="unexpected"):
        trunk_from_state_dict("alex", random_backbone("vgg"))
