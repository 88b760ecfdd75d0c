"""LPIPS: invariants, an independent functional float64 reference, checkpoint
loading through the weights cache, batching and the missing-weights message."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from eyetest.core.metrics import get_metric  # noqa: E402
from eyetest.core.metrics.lpips import lpips, lpips_batch  # noqa: E402
from eyetest.errors import MetricInputError, ResourceMissingError  # noqa: E402

_p = Path(__file__).resolve().parents[1] / "nets" / "ckpt_helpers.py"
_spec = importlib.util.spec_from_file_location("ckpt_helpers", _p)
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)

SHIFT = torch.tensor([-0.030, -0.088, -0.188], dtype=torch.float64).view(1, 3, 1, 1)
SCALE = torch.tensor([0.458, 0.448, 0.450], dtype=torch.float64).view(1, 3, 1, 1)


def _c(x, sd, key, **kw):
    return torch.relu(F.conv2d(x, sd[f"{key}.weight"].double(), sd[f"{key}.bias"].double(), **kw))


def _fire(x, sd, i):
    s = _c(x, sd, f"features.{i}.squeeze")
    return torch.cat([_c(s, sd, f"features.{i}.expand1x1"),
                      _c(s, sd, f"features.{i}.expand3x3", padding=1)], 1)


def ref_features(net, sd, x):
    """Taps written with functional ops from the published architectures."""
    taps = []
    if net == "alex":
        x = _c(x, sd, "features.0", stride=4, padding=2); taps.append(x)  # noqa: E702
        x = _c(F.max_pool2d(x, 3, 2), sd, "features.3", padding=2); taps.append(x)  # noqa: E702
        x = _c(F.max_pool2d(x, 3, 2), sd, "features.6", padding=1); taps.append(x)  # noqa: E702
        x = _c(x, sd, "features.8", padding=1); taps.append(x)  # noqa: E702
        x = _c(x, sd, "features.10", padding=1); taps.append(x)  # noqa: E702
    elif net == "vgg":
        blocks = [[0, 2], [5, 7], [10, 12, 14], [17, 19, 21], [24, 26, 28]]
        for b, convs in enumerate(blocks):
            if b:
                x = F.max_pool2d(x, 2, 2)
            for i in convs:
                x = _c(x, sd, f"features.{i}", padding=1)
            taps.append(x)
    else:
        x = _c(x, sd, "features.0", stride=2); taps.append(x)  # noqa: E702
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        x = _fire(_fire(x, sd, 3), sd, 4); taps.append(x)  # noqa: E702
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        x = _fire(_fire(x, sd, 6), sd, 7); taps.append(x)  # noqa: E702
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        for i in (9, 10, 11, 12):
            x = _fire(x, sd, i); taps.append(x)  # noqa: E702
    return taps


def ref_lpips(net, bsd, hsd, a, b, data_range):
    def prep(img):
        t = torch.from_numpy(np.asarray(img, dtype=np.float64)).permute(2, 0, 1)[None]
        return (2 * t / data_range - 1 - SHIFT) / SCALE

    total = 0.0
    for k, (f0, f1) in enumerate(zip(ref_features(net, bsd, prep(a)), ref_features(net, bsd, prep(b)))):
        n0 = f0 / (f0.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        n1 = f1 / (f1.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        w = hsd[f"lin{k}.model.1.weight"].double().view(1, -1, 1, 1)
        total += float(((n0 - n1) ** 2 * w).sum(1).mean())
    return total


@pytest.fixture(scope="module")
def ckpts():
    return {net: (H.random_backbone(net, seed=11), H.random_heads(net, seed=12))
            for net in ("alex", "vgg", "squeeze")}


def _pair(rng, h=64, w=72):
    a = rng.integers(0, 256, size=(h, w, 3)).astype(np.uint8)
    noise = rng.integers(-40, 41, size=a.shape)
    return a, np.clip(a.astype(int) + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
def test_matches_functional_reference(ckpts, net):
    rng = np.random.default_rng(0)
    a, b = _pair(rng, 48, 56)
    bsd, hsd = ckpts[net]
    got = lpips(a, b, data_range=255, backbone=bsd, heads=hsd, net=net, device="cpu")
    want = ref_lpips(net, bsd, hsd, a, b, 255.0)
    assert want > 0
    assert got == pytest.approx(want, rel=2e-4)


@pytest.mark.parametrize("net", ["alex", "squeeze"])
def test_identity_and_symmetry(ckpts, net):
    rng = np.random.default_rng(1)
    a, b = _pair(rng)
    kw = dict(data_range=255, backbone=ckpts[net][0], heads=ckpts[net][1], net=net, device="cpu")
    assert lpips(a, a, **kw) == 0.0
    ab, ba = lpips(a, b, **kw), lpips(b, a, **kw)
    assert ab > 0 and ab == pytest.approx(ba, rel=1e-6)


def test_data_range_and_grayscale(ckpts):
    rng = np.random.default_rng(2)
    a, b = _pair(rng)
    kw = dict(backbone=ckpts["alex"][0], heads=ckpts["alex"][1], device="cpu")
    d8 = lpips(a, b, data_range=255, **kw)
    df = lpips(a / 255.0, b / 255.0, data_range=1.0, **kw)
    assert df == pytest.approx(d8, rel=1e-5)
    g = lpips(a[..., 0], b[..., 0], data_range=255, **kw)
    g3 = lpips(np.repeat(a[..., :1], 3, 2), np.repeat(b[..., :1], 3, 2), data_range=255, **kw)
    assert g == pytest.approx(g3, rel=1e-6)


def test_batching_with_memory_cap_equals_one_by_one(ckpts):
    rng = np.random.default_rng(3)
    pairs = [_pair(rng) for _ in range(3)] + [_pair(rng, 40, 40) for _ in range(2)]
    refs, dists = [p[0] for p in pairs], [p[1] for p in pairs]
    kw = dict(data_range=255, backbone=ckpts["alex"][0], heads=ckpts["alex"][1], device="cpu")
    one = np.array([lpips(r, d, **kw) for r, d in pairs])
    big = lpips_batch(refs, dists, **kw)
    small = lpips_batch(refs, dists, max_batch_pixels=64 * 72 * 2, **kw)
    np.testing.assert_allclose(big, one, rtol=1e-5)
    np.testing.assert_allclose(small, one, rtol=1e-5)


def test_errors(ckpts):
    rng = np.random.default_rng(4)
    a, b = _pair(rng)
    bsd, hsd = ckpts["alex"]
    with pytest.raises(MetricInputError, match="LPIPS vgg heads.*layout|unexpected|shape"):
        lpips(a, b, data_range=255, backbone=ckpts["vgg"][0], heads=hsd, net="vgg", device="cpu")
    with pytest.raises(MetricInputError, match="reference shape"):
        lpips_batch([a], [b[:-1]], data_range=255, backbone=bsd, heads=hsd, device="cpu")
    with pytest.raises(MetricInputError, match="unknown LPIPS network"):
        lpips(a, b, data_range=255, backbone=bsd, heads=hsd, net="resnet", device="cpu")
    with pytest.raises(MetricInputError, match="too small"):
        lpips(a[:8, :8], b[:8, :8], data_range=255, backbone=bsd, heads=hsd, device="cpu")


def test_non_finite_input_and_bad_data_range_are_errors(ckpts):
    # PSNR/SSIM reject NaN/inf inputs; LPIPS used to return NaN silently, and a
    # data_range of inf/NaN passed the "> 0" check (inf maps every image to -1,
    # so any pair scored 0)
    rng = np.random.default_rng(9)
    a, b = _pair(rng)
    kw = dict(backbone=ckpts["alex"][0], heads=ckpts["alex"][1], device="cpu")
    bad = b.astype(np.float64)
    bad[5, 6, 2] = np.nan
    with pytest.raises(MetricInputError, match="distorted 1 contains NaN or infinite"):
        lpips_batch([a, a], [b, bad], data_range=255, **kw)
    for dr in (float("inf"), float("nan"), 0, -255):
        with pytest.raises(MetricInputError, match="data_range must be a positive number"):
            lpips(a, b, data_range=dr, **kw)


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
def test_minimum_size_agrees_with_functional_reference(ckpts, net):
    from eyetest.core.metrics.lpips import MIN_SIZE

    bsd, hsd = ckpts[net]
    m = MIN_SIZE[net]

    def ref_runs(h, w):
        x = torch.zeros(1, 3, h, w, dtype=torch.float64)
        try:
            return all(t.numel() > 0 for t in ref_features(net, bsd, x))
        except RuntimeError:
            return False

    assert ref_runs(m, 200) and ref_runs(200, m)
    assert not ref_runs(m - 1, 200) and not ref_runs(200, m - 1)
    rng = np.random.default_rng(10)
    a, b = _pair(rng, m, 45)
    kw = dict(data_range=255, backbone=bsd, heads=hsd, net=net, device="cpu")
    assert lpips(a, b, **kw) == pytest.approx(ref_lpips(net, bsd, hsd, a, b, 255.0), rel=2e-4)
    a, b = _pair(rng, 64, m - 1)
    with pytest.raises(MetricInputError, match=f"64x{m - 1} is too small.*at least {m}x{m}"):
        lpips(a, b, **kw)


def test_runtime_errors_are_not_reported_as_small_images(ckpts, monkeypatch):
    # a CUDA out-of-memory message mentions "max_split_size_mb"; it used to be
    # turned into "image ... is too small" because the text contains "size"
    from eyetest.core.metrics import lpips as mod

    class Boom(torch.nn.Module):
        def forward(self, x0, x1):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB; "
                               "try setting max_split_size_mb to avoid fragmentation")

    monkeypatch.setattr(mod, "_model", lambda *a, **k: Boom())
    a = np.zeros((64, 64, 3))
    with pytest.raises(RuntimeError, match="out of memory") as ei:
        lpips(a, a, data_range=1.0, backbone=ckpts["alex"][0], heads=ckpts["alex"][1],
              device="cpu")
    assert not isinstance(ei.value, MetricInputError)


def test_registered_specs():
    spec = get_metric("lpips")
    assert spec.kind == "FR" and not spec.higher_is_better
    assert spec.requires == ("torch", "weights:alexnet", "weights:lpips-alex")
    assert spec.settings("matlab") == {"color": "as-is", "crop": 0, "net": "alex"}
    assert get_metric("lpips-vgg").extra["weights"] == {"backbone": "vgg16", "heads": "lpips-vgg"}
    assert get_metric("lpips-squeeze").settings("matlab")["net"] == "squeeze"


@pytest.fixture
def weights_cache(tmp_path, monkeypatch, ckpts):
    """Checkpoints written as files, registered with their computed SHA256."""
    from eyetest.backends import weights

    monkeypatch.setenv(weights.ENV_DIR, str(tmp_path / "cache"))
    files = {}
    for name, sd in (("alexnet", ckpts["alex"][0]), ("lpips-alex", ckpts["alex"][1])):
        p = tmp_path / f"{name}.pth"
        torch.save(sd, p)
        files[name] = weights.WeightFile(name, f"{name}-test.pth", "https://example.invalid/x",
                                         weights.sha256_file(p), None, "test")
    monkeypatch.setattr(weights, "WEIGHTS", files)
    return tmp_path, weights


def test_score_arrays_missing_weights_names_the_fix(weights_cache):
    from eyetest.run.compute import score_arrays

    rng = np.random.default_rng(5)
    a, b = _pair(rng)
    with pytest.raises(ResourceMissingError) as ei:
        score_arrays("lpips", b, a, data_range=255)
    msg = str(ei.value)
    assert "alexnet-test.pth" in msg and "eyetest weights fetch alexnet" in msg
    assert "eyetest weights import PATH" in msg
    assert weights_cache[1].WEIGHTS["alexnet"].sha256 in msg


def test_score_arrays_loads_checkpoints_from_cache(weights_cache, ckpts):
    from eyetest.run.compute import score_arrays

    tmp_path, weights = weights_cache
    for name in ("alexnet", "lpips-alex"):
        weights.import_file(tmp_path / f"{name}.pth")
    rng = np.random.default_rng(6)
    a, b = _pair(rng)
    got = score_arrays("lpips", b, a, data_range=255, device="cpu")
    want = ref_lpips("alex", ckpts["alex"][0], ckpts["alex"][1], a, b, 255.0)
    assert got == pytest.approx(want, rel=2e-4)
    cropped = score_arrays("lpips", b, a, data_range=255, device="cpu", crop=4)
    assert cropped == pytest.approx(ref_lpips("alex", *ckpts["alex"], a[4:-4, 4:-4], b[4:-4, 4:-4], 255.0),
                                    rel=2e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available on this machine")
def test_cuda_matches_cpu(ckpts):
    rng = np.random.default_rng(7)
    a, b = _pair(rng)
    kw = dict(data_range=255, backbone=ckpts["vgg"][0], heads=ckpts["vgg"][1], net="vgg")
    assert lpips(a, b, device="cuda", **kw) == pytest.approx(lpips(a, b, device="cpu", **kw), rel=1e-4)


def test_cuda_request_without_cuda_is_an_error(ckpts):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    rng = np.random.default_rng(8)
    a, b = _pair(rng)
    with pytest.raises(MetricInputError, match="CUDA is not available"):
        lpips(a, b, data_range=255, backbone=ckpts["alex"][0], heads=ckpts["alex"][1], device="cuda")
