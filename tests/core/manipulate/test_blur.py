"""Gaussian blur, motion blur and synthetic depth of field."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data, metrics

from eyetest.core.manipulate import depth_of_field, focus_mask, gaussian_blur, motion_blur
from eyetest.core.manipulate.blur import motion_kernel
from eyetest.errors import ManipulationError


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()[::2, ::2]


@pytest.mark.parametrize("blur,grid", [
    (gaussian_blur, (0.5, 1.0, 2.0, 3.0, 5.0)),
    (motion_blur, (2.0, 4.0, 8.0, 16.0)),
    (depth_of_field, (1.0, 2.0, 4.0, 8.0)),
])
def test_blur_lowers_psnr_monotonically(astronaut, blur, grid):
    # PSNR from scikit-image (independent of eyetest's metrics).
    psnrs = [metrics.peak_signal_noise_ratio(astronaut, blur(astronaut, data_range=255, strength=s),
                                             data_range=255) for s in grid]
    assert all(b < a for a, b in zip(psnrs, psnrs[1:])), psnrs


def test_motion_kernel_shape_and_mass():
    for length in (0.3, 1.0, 5.0, 9.5):
        for angle in (0.0, 30.0, 90.0, 135.0):
            k = motion_kernel(length, angle)
            assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
            assert k.sum() == pytest.approx(1.0)
            assert np.all(k >= 0)
            # centred: the first moment of a symmetric segment is 0
            c = k.shape[0] // 2
            yy, xx = np.mgrid[-c:c + 1, -c:c + 1]
            assert abs((k * xx).sum()) < 1e-9 and abs((k * yy).sum()) < 1e-9
            # second moment of a uniform segment of length L is L^2 / 12; bilinear
            # spreading of a sample at fractional offset f adds f (1 - f) <= 1/4 per axis
            along = (k * (xx * np.cos(np.deg2rad(angle)) - yy * np.sin(np.deg2rad(angle))) ** 2).sum()
            assert length**2 / 12 - 1e-9 <= along <= length**2 / 12 + 0.5 + 1e-9
    horiz = motion_kernel(6.0, 0.0)
    assert np.count_nonzero(horiz.sum(axis=1)) == 1  # one row only


def test_motion_blur_follows_the_angle():
    # Horizontal stripes are constant along x: horizontal motion leaves them,
    # vertical motion smears them.
    stripes = np.zeros((64, 64))
    stripes[::8] = 1.0
    stripes[1::8] = 1.0
    h = motion_blur(stripes, data_range=1.0, strength=9.0, angle=0.0)
    v = motion_blur(stripes, data_range=1.0, strength=9.0, angle=90.0)
    np.testing.assert_allclose(h, stripes, atol=1e-12)
    assert np.abs(v - stripes).max() > 0.5


def test_dof_keeps_the_focus_region_and_blurs_the_rest(astronaut):
    h, w = astronaut.shape[:2]
    mask = np.zeros((h, w))
    mask[: h // 2] = 1.0
    out = depth_of_field(astronaut, data_range=255, strength=4.0, mask=mask)
    np.testing.assert_array_equal(out[: h // 2], astronaut[: h // 2])
    blurred = gaussian_blur(astronaut, data_range=255, strength=4.0)
    np.testing.assert_array_equal(out[h // 2:], blurred[h // 2:])
    same = depth_of_field(astronaut, data_range=255, strength=4.0, mask=np.ones((h, w)))
    np.testing.assert_array_equal(same, astronaut)
    with pytest.raises(ManipulationError, match="mask shape"):
        depth_of_field(astronaut, data_range=255, strength=1.0, mask=np.ones((3, 3)))


def test_focus_mask_is_centred_and_covers_the_fraction():
    img = np.random.default_rng(0).random((90, 120))
    m = focus_mask(img, data_range=1.0, fraction=0.3)
    assert m.shape == img.shape and 0 <= m.min() and m.max() <= 1
    assert m[45, 60] > 0.9 and m[0, 0] < 0.1 and m[-1, -1] < 0.1
    assert abs(m.mean() - 0.3) < 0.05  # feathering keeps the area roughly


@pytest.mark.parametrize("shape", [(1, 40), (40, 1), (1, 40, 3), (1, 1)])
def test_dof_of_a_one_pixel_wide_image_equals_that_of_the_doubled_strip(shape):
    # A 1-pixel-wide axis has no gradient (np.gradient refused it: ValueError).
    # Invariant: doubling the strip along its 1-pixel axis adds only a zero
    # gradient and a constant factor of the centre prior, so the mask ranks
    # the pixels alike and the doubled image's first row/column is the result.
    rng = np.random.default_rng(1)
    x = (rng.random(shape) * 255).astype(np.uint8)
    axis = 0 if shape[0] == 1 else 1
    doubled = np.concatenate([x, x], axis=axis)
    got = depth_of_field(x, data_range=255, strength=2.0)
    ref = depth_of_field(doubled, data_range=255, strength=2.0)
    np.testing.assert_array_equal(got, np.take(ref, [0], axis=axis))
    np.testing.assert_allclose(focus_mask(x, data_range=255),
                               np.take(focus_mask(doubled, data_range=255), [0], axis=axis))
