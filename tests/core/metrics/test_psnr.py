"""PSNR: scikit-image equality, closed forms, invariants and input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

from eyetest.core.metrics.psnr import mse, psnr
from eyetest.core.metrics.registry import get_metric
from eyetest.errors import MetricInputError
from eyetest.metrics import score


def _noisy(image: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    info = np.iinfo(image.dtype)
    noisy = image.astype(np.float64) + rng.normal(0.0, sigma, image.shape)
    return np.clip(np.round(noisy), info.min, info.max).astype(image.dtype)


@pytest.mark.parametrize("name", ["camera", "astronaut", "chelsea", "coins"])
def test_equals_skimage_on_bundled_images(name):
    ref = getattr(data, name)()
    dist = _noisy(ref, 12.0, seed=1)
    expected = peak_signal_noise_ratio(ref, dist, data_range=255)
    assert psnr(ref, dist, data_range=255) == pytest.approx(expected, abs=1e-10)


def test_equals_skimage_uint16_and_float():
    ref8 = data.astronaut()
    dist8 = _noisy(ref8, 5.0, seed=2)
    ref16, dist16 = ref8.astype(np.uint16) * 257, dist8.astype(np.uint16) * 257
    expected16 = peak_signal_noise_ratio(ref16, dist16, data_range=65535)
    assert psnr(ref16, dist16, data_range=65535) == pytest.approx(expected16, abs=1e-10)
    # scaling the images and the range together leaves PSNR unchanged
    assert psnr(ref16, dist16, data_range=65535) == pytest.approx(
        psnr(ref8, dist8, data_range=255), abs=1e-10
    )
    reff, distf = ref8 / 255.0, dist8 / 255.0
    expectedf = peak_signal_noise_ratio(reff, distf, data_range=1.0)
    assert psnr(reff, distf, data_range=1.0) == pytest.approx(expectedf, abs=1e-10)
    assert psnr(reff.astype(np.float32), distf, data_range=1.0) == pytest.approx(
        expectedf, abs=1e-5
    )


@settings(max_examples=40, deadline=None)
@given(
    pair=st.integers(1, 12).flatmap(
        lambda h: st.tuples(
            arrays(np.uint8, (h, 7, 3)), arrays(np.uint8, (h, 7, 3))
        )
    )
)
def test_random_uint8_equals_skimage(pair):
    ref, dist = pair
    value = psnr(ref, dist, data_range=255)
    if np.array_equal(ref, dist):
        assert value == math.inf
    else:
        assert value == pytest.approx(peak_signal_noise_ratio(ref, dist, data_range=255), abs=1e-9)


def test_closed_form_constant_error():
    ref = np.full((20, 30), 100.0)
    for d in (1.0, 3.0, 17.5):
        expected = 10 * math.log10(255.0**2 / d**2)
        assert psnr(ref, ref + d, data_range=255) == pytest.approx(expected, abs=1e-12)
    assert mse(ref, ref + 3.0) == pytest.approx(9.0)


def test_identical_is_inf_and_symmetric():
    ref = data.camera()
    dist = _noisy(ref, 8.0, seed=3)
    assert psnr(ref, ref, data_range=255) == math.inf
    assert psnr(ref, dist, data_range=255) == psnr(dist, ref, data_range=255)


def test_bool_and_mixed_dtypes():
    a = np.array([[True, False], [True, True]])
    b = np.array([[False, False], [True, True]])
    assert psnr(a, b, data_range=1) == pytest.approx(10 * math.log10(4.0))
    ref = data.camera()
    dist = _noisy(ref, 4.0, seed=4)
    assert psnr(ref, dist.astype(np.float64), data_range=255) == pytest.approx(
        psnr(ref, dist, data_range=255), abs=1e-10
    )


def test_errors():
    a = np.zeros((8, 9))
    with pytest.raises(MetricInputError, match=r"\(8, 9\).*\(9, 8\)"):
        psnr(a, np.zeros((9, 8)), data_range=1)
    with pytest.raises(TypeError):
        psnr(a, a)  # data_range is required, never guessed
    for bad in (0, -1, float("nan"), "x"):
        with pytest.raises(MetricInputError, match="data_range"):
            psnr(a, a, data_range=bad)
    b = a.copy()
    b[0, 0] = np.nan
    with pytest.raises(MetricInputError, match="NaN"):
        psnr(a, b, data_range=1)
    with pytest.raises(MetricInputError, match="dtype"):
        psnr(a.astype(complex), a.astype(complex), data_range=1)


def test_registry_presets():
    spec = get_metric("psnr")
    assert spec.kind == "FR" and spec.higher_is_better
    assert spec.settings("matlab")["color"] == "as-is"
    ref = data.astronaut()
    dist = _noisy(ref, 6.0, seed=5)
    # matlab preset: the RGB array as given (MATLAB psnr)
    assert score("psnr", dist, ref, data_range=255) == pytest.approx(
        peak_signal_noise_ratio(ref, dist, data_range=255), abs=1e-10
    )
    # sr-y-crop4: BT.601 Y (16-235) as float64 on 0-255, 4-pixel border crop
    w = np.array([65.481, 128.553, 24.966])
    y_ref = (ref / 255.0 @ w + 16.0)[4:-4, 4:-4]
    y_dist = (dist / 255.0 @ w + 16.0)[4:-4, 4:-4]
    assert score("psnr", dist, ref, data_range=255, preset="sr-y-crop4") == pytest.approx(
        peak_signal_noise_ratio(y_ref, y_dist, data_range=255), abs=1e-9
    )
