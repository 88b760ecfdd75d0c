"""USM, over-sharpening and deblurring against independent references and spectra."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage import data, filters, metrics

from eyetest.core.manipulate import deblur, oversharpen, unsharp_mask


def high_frequency_share(image: np.ndarray, cutoff: float = 0.25) -> float:
    """Share of (non-DC) spectral energy above ``cutoff`` cycles/pixel (radial)."""
    x = image.astype(np.float64)
    x = x - x.mean()
    f = np.abs(np.fft.fft2(x)) ** 2
    fy = np.fft.fftfreq(x.shape[0])[:, None]
    fx = np.fft.fftfreq(x.shape[1])[None, :]
    r = np.hypot(fy, fx)
    return float(f[r > cutoff].sum() / f.sum())


def high_frequency_energy(image: np.ndarray, cutoff: float = 0.25) -> float:
    x = image.astype(np.float64)
    f = np.abs(np.fft.fft2(x - x.mean())) ** 2
    r = np.hypot(np.fft.fftfreq(x.shape[0])[:, None], np.fft.fftfreq(x.shape[1])[None, :])
    return float(f[r > cutoff].sum())


@pytest.fixture(scope="module")
def camera():
    return data.camera()[128:384, 128:384]


def test_usm_matches_skimage_unsharp_mask():
    # skimage.filters.unsharp_mask: x + amount * (x - G_radius * x), clipped when
    # on a float image in [0, 1] (skimage blurs with mode="reflect", truncate 4).
    x = data.camera()[100:200, 150:260].astype(np.float64) / 255.0
    ours = unsharp_mask(x, data_range=1.0, strength=0.8, radius=1.5)
    ref = np.clip(filters.unsharp_mask(x, radius=1.5, amount=0.8,
                                       preserve_range=True), 0, 1)
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_usm_raises_high_frequency_energy_monotonically(camera):
    shares = [high_frequency_share(unsharp_mask(camera, data_range=255, strength=a))
              for a in (0.0, 0.5, 1.0, 2.0)]
    assert all(b > a for a, b in zip(shares, shares[1:])), shares
    # low frequencies barely move: the mean is kept up to clipping/rounding
    assert abs(unsharp_mask(camera, data_range=255, strength=1.0).mean() - camera.mean()) < 1.0


def test_usm_spectrum_follows_transfer_function():
    # On a periodic, unclipped image USM is the linear filter 1 + a (1 - Ghat(f)),
    # Ghat(f) = exp(-2 pi^2 sigma^2 f^2): check the gain of a single sinusoid.
    n, f0, a, sigma = 128, 0.125, 1.0, 1.0
    xx = np.arange(n)
    x = 0.5 + 0.1 * np.cos(2 * np.pi * f0 * xx)[None, :] * np.ones((n, 1))
    y = unsharp_mask(x, data_range=1.0, strength=a, radius=sigma)
    gain = np.abs(np.fft.rfft(y[n // 2] - 0.5))[int(f0 * n)] / np.abs(np.fft.rfft(x[n // 2] - 0.5))[int(f0 * n)]
    expected = 1 + a * (1 - np.exp(-2 * np.pi**2 * sigma**2 * f0**2))
    assert gain == pytest.approx(expected, rel=2e-3)


def test_usm_threshold_leaves_small_detail_alone():
    rng = np.random.default_rng(0)
    x = np.full((40, 40), 120.0) + rng.normal(0, 0.5, (40, 40))  # detail << 3 levels
    x[:, 20:] += 60.0  # one strong edge
    y = unsharp_mask(x, data_range=255.0, strength=1.0, threshold=3.0)
    np.testing.assert_array_equal(y[:, :12], x[:, :12])
    assert not np.array_equal(y[:, 18:22], x[:, 18:22])


def test_oversharpen_exceeds_single_usm(camera):
    once = high_frequency_energy(unsharp_mask(camera, data_range=255, strength=1.0))
    thrice = high_frequency_energy(oversharpen(camera, data_range=255, strength=1.0))
    assert thrice > 1.5 * once
    single = oversharpen(camera, data_range=255, strength=0.7, iterations=1)
    np.testing.assert_array_equal(single, unsharp_mask(camera, data_range=255, strength=0.7))


def test_deblur_undoes_gaussian_blur(camera):
    x = camera.astype(np.float64) / 255.0
    blurred = ndimage.gaussian_filter(x, 1.5, mode="reflect")
    restored = deblur(blurred, data_range=1.0, strength=1.5, iterations=20)
    before = metrics.peak_signal_noise_ratio(x, blurred, data_range=1.0)
    after = metrics.peak_signal_noise_ratio(x, restored, data_range=1.0)
    assert after > before + 1.0
    assert high_frequency_energy(restored) > high_frequency_energy(blurred)
