"""Down/up sampling: the cubic resampler against Pillow, and aliasing with anti-aliasing off."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from eyetest.core.manipulate.resample import cubic_kernel, down_up, resize, resize_matrix


def test_cubic_kernel_closed_form():
    # Keys (1981), a = -0.5: k(0) = 1, k(+-1) = k(+-2) = 0, k(0.5) = 0.5625, k(1.5) = -0.0625
    np.testing.assert_allclose(cubic_kernel(np.array([0, 1, 2, -1, 0.5, 1.5, -1.5, 3])),
                               [1, 0, 0, 0, 0.5625, -0.0625, -0.0625, 0], atol=1e-15)


@pytest.mark.parametrize("n_in,n_out,aa", [(64, 32, True), (60, 25, True), (32, 64, False), (25, 60, False)])
def test_resize_matches_pillow_bicubic_in_the_interior(n_in, n_out, aa):
    # Pillow's BICUBIC (a = -0.5, support stretched when shrinking, pixel-centre
    # aligned) is an independent implementation of the same resampler; Pillow
    # renormalises clipped kernels at the borders where we mirror, so compare
    # away from them.
    rng = np.random.default_rng(3)
    x = rng.random((n_in, n_in)).astype(np.float32)
    ref = np.asarray(Image.fromarray(x, mode="F").resize((n_out, n_out), Image.BICUBIC), np.float64)
    ours = resize(x.astype(np.float64), (n_out, n_out), antialias=aa)
    b = 4
    np.testing.assert_allclose(ours[b:-b, b:-b], ref[b:-b, b:-b], atol=2e-5)


def test_resize_rows_sum_to_one_and_identity_at_scale_one():
    for aa in (True, False):
        m = resize_matrix(37, 15, antialias=aa)
        np.testing.assert_allclose(m.sum(axis=1), 1.0)
    np.testing.assert_allclose(resize_matrix(20, 20, antialias=True), np.eye(20), atol=1e-12)


def _amplitude(signal_1d: np.ndarray, freq: float) -> float:
    n = signal_1d.size
    spec = np.abs(np.fft.rfft(signal_1d - signal_1d.mean())) / (n / 2)
    return float(spec[int(round(freq * n))])


def test_aliasing_of_a_sinusoid_above_the_new_nyquist():
    # A vertical grating at f = 0.375 cycles/px exceeds the Nyquist limit 0.25 of
    # the grid downsampled by 2.  Anti-aliased, it is removed; without
    # anti-aliasing it folds to 1/2 - 0.375 = 0.125 cycles/px of the original
    # grid (Oppenheim & Schafer, ch. 4) and survives the upsampling.
    n, f0 = 256, 0.375
    x = 0.5 + 0.25 * np.cos(2 * np.pi * f0 * np.arange(n))[None, :] * np.ones((n, 1))
    aliased = down_up(x, data_range=1.0, strength=1.0, antialias=False)
    clean = down_up(x, data_range=1.0, strength=1.0, antialias=True)
    row = n // 2
    alias_amp = _amplitude(aliased[row], 0.125)
    clean_amp = _amplitude(clean[row], 0.125)
    # cubic interpolation between two neighbours passes f0 with gain ~0.55
    # (2 * (9/16 cos(pi f0) - 1/16 cos(3 pi f0)), Keys a = -0.5)
    assert alias_amp > 0.4 * 0.25
    # the stretched (anti-aliasing) cubic leaves a few per cent
    assert clean_amp < 0.1 * 0.25 and clean_amp < 0.2 * alias_amp


def _band_energy(image: np.ndarray, lo: float, hi: float) -> float:
    f = np.abs(np.fft.fft2(image - image.mean())) ** 2
    r = np.hypot(np.fft.fftfreq(image.shape[0])[:, None], np.fft.fftfreq(image.shape[1])[None, :])
    return float(f[(r >= lo) & (r < hi)].sum())


def test_anti_aliasing_changes_energy_near_the_reduced_nyquist_only():
    # White noise has energy at all frequencies.  Downsampling by 2 folds the
    # band (0.25, 0.5) into (0, 0.25); the aliased copy is strongest just below
    # the reduced grid's Nyquist 0.25 cycles/px, where the anti-aliased version
    # has little energy left.  At low frequencies both keep the signal.
    x = np.random.default_rng(0).random((128, 128))
    aliased = down_up(x, data_range=1.0, strength=1.0, antialias=False)
    clean = down_up(x, data_range=1.0, strength=1.0, antialias=True)
    near_nyq = (0.18, 0.25)
    # (measured ratio ~2.9 on this seed; the folded copy roughly doubles the band)
    assert _band_energy(aliased, *near_nyq) > 2 * _band_energy(clean, *near_nyq)
    low = (0.0, 0.05)
    ratio = _band_energy(aliased, *low) / _band_energy(clean, *low)
    assert 0.8 < ratio < 1.25


def test_down_up_keeps_smooth_content():
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    x = 0.5 + 0.2 * np.sin(2 * np.pi * xx) * np.cos(2 * np.pi * yy)
    for aa in (True, False):
        y = down_up(x, data_range=1.0, strength=1.0, antialias=aa)
        assert np.abs(y - x)[4:-4, 4:-4].max() < 0.01
