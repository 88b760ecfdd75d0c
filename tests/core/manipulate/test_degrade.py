"""JPEG, noise, over-generation and tone boosts."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data, metrics

from eyetest.core.manipulate import (
    contrast_boost,
    jpeg,
    noise,
    overgenerate,
    saturation_boost,
    texture_mask,
)


def test_jpeg_is_pillow_round_trip_at_quality_100_minus_strength():
    img = data.astronaut()[:96, :128]
    ours = jpeg(img, data_range=255, strength=40)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=60)
    ref = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
    np.testing.assert_array_equal(ours, ref)


def test_jpeg_psnr_falls_with_strength_and_keeps_16_bit():
    img = data.camera()[:128, :128]
    psnrs = [metrics.peak_signal_noise_ratio(img, jpeg(img, data_range=255, strength=s), data_range=255)
             for s in (5, 30, 60, 90)]
    assert all(b < a for a, b in zip(psnrs, psnrs[1:])), psnrs
    img16 = img.astype(np.uint16) * 257
    out16 = jpeg(img16, data_range=65535, strength=30)
    assert out16.dtype == np.uint16
    np.testing.assert_array_equal(out16, jpeg(img, data_range=255, strength=30).astype(np.uint16) * 257)


def test_noise_has_the_requested_sigma_in_levels():
    x = np.full((200, 200), 0.5)
    y = noise(x, data_range=1.0, strength=10.0, rng=np.random.default_rng(0))
    assert (y - x).std() == pytest.approx(10 / 255, rel=0.02)
    assert abs((y - x).mean()) < 1e-3


def test_overgen_adds_texture_only_where_textured():
    rng = np.random.default_rng(1)
    x = np.full((128, 128), 0.5)
    x[:, 64:] += rng.normal(0, 0.08, (128, 64))  # right half textured, left half flat
    x = np.clip(x, 0, 1)
    m = texture_mask(x, data_range=1.0)
    assert m[:, :50].max() < 0.05 and m[:, 80:].mean() > 0.5
    y = overgenerate(x, data_range=1.0, strength=8.0, rng=np.random.default_rng(2))
    np.testing.assert_allclose(y[:, :50], x[:, :50], atol=0.05 * 8 / 255)
    added = (y - x)[:, 80:]
    # amplitude scales with strength (8-bit levels RMS, times the mask <= 1)
    assert 0.3 * 8 / 255 < added.std() < 8 / 255 * 1.05


def test_overgen_texture_is_band_limited():
    # The added field has most of its energy above 0.1 cycles/px (a band-pass + grain).
    x = np.random.default_rng(3).random((128, 128)) * 0.2 + 0.4
    y = overgenerate(x, data_range=1.0, strength=10.0, rng=np.random.default_rng(4))
    d = y - x
    f = np.abs(np.fft.fft2(d - d.mean())) ** 2
    r = np.hypot(np.fft.fftfreq(128)[:, None], np.fft.fftfreq(128)[None, :])
    assert f[r > 0.1].sum() > 0.8 * f.sum()


def test_contrast_keeps_mean_luma_and_stretches():
    x = np.random.default_rng(0).random((32, 32, 3)) * 0.4 + 0.3  # no clipping at gain 1.5
    y = contrast_boost(x, data_range=1.0, strength=0.5)
    luma = np.array([0.299, 0.587, 0.114])
    assert (y @ luma).mean() == pytest.approx((x @ luma).mean(), abs=1e-12)
    assert y.std() == pytest.approx(1.5 * x.std(), rel=1e-9)


def test_saturation_leaves_greys_and_luma_alone():
    x = np.random.default_rng(0).random((16, 16, 3)) * 0.3 + 0.35
    x[0, 0] = 0.5  # a grey pixel
    y = saturation_boost(x, data_range=1.0, strength=0.8)
    np.testing.assert_allclose(y[0, 0], 0.5)
    luma = np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(y @ luma, x @ luma, atol=1e-12)
    grey = np.random.default_rng(1).integers(0, 256, (16, 16)).astype(np.uint8)
    np.testing.assert_array_equal(saturation_boost(grey, data_range=255, strength=1.0), grey)
