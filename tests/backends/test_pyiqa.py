"""pyiqa adapter.  Against the real package where it can be imported; otherwise
the package-dependent tests are skipped with the reason printed (pytest -ra)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eyetest.backends import pyiqa as adapter
from eyetest.errors import ResourceMissingError

needs_pyiqa = pytest.mark.skipif(
    not adapter.available(),
    reason="pyiqa is not installed here (non-commercial licence; it must not be installed "
           "in this environment), so the adapter cannot be checked against it")


def test_score_range_parsing():
    # forms used in pyiqa configs
    assert adapter.parse_score_range("~0, ~100") == (0.0, 100.0)
    assert adapter.parse_score_range("0, 1") == (0.0, 1.0)
    assert adapter.parse_score_range("-1.5, 2e1") == (-1.5, 20.0)
    assert adapter.parse_score_range(None) == (-math.inf, math.inf)
    assert adapter.parse_score_range("unknown") == (-math.inf, math.inf)


@pytest.mark.skipif(adapter.available(), reason="pyiqa is installed; the missing-package path cannot run")
def test_missing_pyiqa_is_a_clear_error():
    with pytest.raises(ResourceMissingError, match="pyiqa is not installed"):
        adapter.resolve("pyiqa:musiq")
    assert adapter.register_common() == []


@needs_pyiqa
def test_direction_and_mode_follow_pyiqa_config():
    import pyiqa

    cfg = pyiqa.DEFAULT_CONFIGS
    for name in ("psnr", "lpips", "niqe"):
        spec = adapter.resolve(f"pyiqa:{name}")
        assert spec.kind == cfg[name]["metric_mode"]
        assert spec.higher_is_better is not bool(cfg[name].get("lower_better", False))


@needs_pyiqa
def test_pyiqa_psnr_matches_skimage():
    from skimage.metrics import peak_signal_noise_ratio

    from eyetest.run.compute import score_arrays

    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, size=(48, 40, 3), dtype=np.uint8)
    dist = np.clip(ref.astype(int) + rng.integers(-20, 21, size=ref.shape), 0, 255).astype(np.uint8)
    adapter.resolve("pyiqa:psnr")
    got = score_arrays("pyiqa:psnr", dist, ref, data_range=255, device="cpu")
    want = peak_signal_noise_ratio(ref, dist, data_range=255)
    assert got == pytest.approx(want, abs=1e-3)


@needs_pyiqa
def test_seeded_metric_is_reproducible():
    from eyetest.backends.weights import weights_dir

    name = "musiq"
    if not (weights_dir() / "pyiqa").is_dir():
        pytest.skip("pyiqa weights are not in the eyetest cache (run `eyetest weights fetch pyiqa:musiq`)")
    spec = adapter.resolve(name)
    img = np.random.default_rng(1).integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
    assert spec.func(img, data_range=255, seed=3) == spec.func(img, data_range=255, seed=3)
