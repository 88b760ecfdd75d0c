"""FID Inception: pt_inception key layout, TF-graph pooling quirks, pool3 features."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from eyetest.core.nets.inception import FIDInception, fid_inception_from_state_dict  # noqa: E402
from eyetest.errors import MetricInputError  # noqa: E402

_spec = importlib.util.spec_from_file_location("ckpt_helpers", Path(__file__).with_name("ckpt_helpers.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)


@pytest.fixture(scope="module")
def sd():
    return H.random_inception(seed=0)


def test_module_keys_equal_the_pt_inception_layout():
    own = {k: tuple(v.shape) for k, v in FIDInception().state_dict().items()
           if not k.endswith("num_batches_tracked")}
    assert own == H.inception_layout()


def test_loads_with_and_without_batchnorm_counters(sd):
    net = fid_inception_from_state_dict(sd)
    x = torch.rand(1, 3, 80, 80) * 2 - 1  # fully convolutional up to the pool
    with torch.inference_mode():
        f = net(x)
    assert f.shape == (1, 2048) and torch.all(f >= 0)  # pool of ReLU outputs
    with_counters = dict(sd)
    for k in list(sd):
        if k.endswith("bn.running_var"):
            with_counters[k.replace("running_var", "num_batches_tracked")] = torch.tensor(0)
    net2 = fid_inception_from_state_dict(with_counters)
    with torch.inference_mode():
        torch.testing.assert_close(net2(x), f)


def test_bad_layout_rejected(sd):
    bad = dict(sd)
    bad["Mixed_7c.branch_pool.conv.weight"] = torch.zeros(192, 1280, 1, 1)
    with pytest.raises(MetricInputError, match="Mixed_7c.branch_pool.conv.weight"):
        fid_inception_from_state_dict(bad)
    bad = {k: v for k, v in sd.items() if not k.startswith("fc.")}
    with pytest.raises(MetricInputError, match="missing.*fc"):
        fid_inception_from_state_dict(bad)


def test_avg_pools_exclude_padding_and_7c_uses_max_pool(sd):
    net = fid_inception_from_state_dict(sd)
    # TF's average pool ignores the zero padding: on a constant input the
    # pool branch (the last channels of an A block) is spatially constant.
    x = torch.full((1, 192, 9, 9), 0.7)
    with torch.inference_mode():
        out = net.Mixed_5b(x)[:, -32:]
    assert torch.allclose(out, out[:, :, 4:5, 4:5].expand_as(out), atol=1e-6)
    # The last E block pools with max (the TF graph), not average.
    y = torch.rand(1, 2048, 8, 8)
    with torch.inference_mode():
        got = net.Mixed_7c(y)[:, -192:]
        want = net.Mixed_7c.branch_pool(F.max_pool2d(y, 3, 1, 1))
        avg = net.Mixed_7c.branch_pool(F.avg_pool2d(y, 3, 1, 1, count_include_pad=False))
    torch.testing.assert_close(got, want)
    assert not torch.allclose(got, avg)


def test_features_batch_independent(sd):
    from eyetest.core.metrics.fid import fid, inception_features

    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, size=(80, 90, 3), dtype=np.uint8) for _ in range(2)]
    imgs.append(rng.integers(0, 256, size=(96, 80, 3), dtype=np.uint8))
    a = inception_features(imgs, data_range=255, state_dict=sd, batch_size=3, resize="none")
    b = np.concatenate([inception_features([im], data_range=255, state_dict=sd, resize="none")
                        for im in imgs])
    assert a.shape == (3, 2048) and a.dtype == np.float64
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    with pytest.warns(UserWarning):
        assert fid(a, a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(MetricInputError, match="smaller than 75x75"):
        inception_features([imgs[0][:60]], data_range=255, state_dict=sd, resize="none")


@pytest.mark.slow
def test_resize_modes_at_299(sd):
    from eyetest.core.metrics.fid import inception_features, resize_for_inception

    rng = np.random.default_rng(1)
    imgs = [rng.integers(0, 256, size=(400, 300, 3), dtype=np.uint8) for _ in range(2)]
    clean = inception_features(imgs, data_range=255, state_dict=sd, resize="clean")
    torchy = inception_features(imgs, data_range=255, state_dict=sd, resize="pytorch-fid")
    assert clean.shape == torchy.shape == (2, 2048) and not np.allclose(clean, torchy)
    # "clean" equals running the network on the clean-resized input directly
    net = fid_inception_from_state_dict(sd)
    x = torch.from_numpy(np.stack([resize_for_inception(im, data_range=255) for im in imgs]))
    with torch.inference_mode():
        direct = net(2 * x - 1).double().numpy()
    np.testing.assert_allclose(clean, direct, rtol=1e-5, atol=1e-6)
