"""Colour conventions against independent references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage.color import rgb2ycbcr

from eyetest.core.color import MATLAB_GRAY_WEIGHTS, rgb2gray_matlab, rgb_to_y_bt601, round_half_away
from eyetest.errors import MetricInputError


def test_matlab_gray_weights():
    # rgb2gray.m documents 0.2989 R + 0.5870 G + 0.1140 B (rounded to 4 digits).
    np.testing.assert_allclose(MATLAB_GRAY_WEIGHTS, [0.2989, 0.5870, 0.1140], atol=5e-5)
    assert MATLAB_GRAY_WEIGHTS.sum() == pytest.approx(1.0, abs=1e-12)


def test_round_half_away_from_zero():
    np.testing.assert_array_equal(round_half_away(np.array([0.5, 1.5, 2.5, -0.5, -2.5, 0.49])),
                                  [1, 2, 3, -1, -3, 0])


@settings(max_examples=50, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9), st.just(3))))
def test_gray_uint8_is_matlab_rounded_weighted_sum(img):
    expected = np.floor(img.astype(np.float64) @ MATLAB_GRAY_WEIGHTS + 0.5).astype(np.uint8)
    out = rgb2gray_matlab(img)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)


def test_gray_uint16_and_float_and_passthrough():
    img16 = np.array([[[65535, 0, 0], [1, 2, 3]]], dtype=np.uint16)
    out = rgb2gray_matlab(img16)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, np.floor(img16.astype(float) @ MATLAB_GRAY_WEIGHTS + 0.5))
    f = np.random.default_rng(0).random((4, 5, 3))
    np.testing.assert_allclose(rgb2gray_matlab(f), f @ MATLAB_GRAY_WEIGHTS, rtol=1e-15)
    g = np.zeros((3, 3), np.uint8)
    assert rgb2gray_matlab(g) is g
    with pytest.raises(MetricInputError, match="shape"):
        rgb2gray_matlab(np.zeros((3, 3, 4)))


@pytest.mark.parametrize("dtype,data_range", [(np.uint8, 255), (np.uint16, 65535)])
def test_y_matches_scikit_image_rgb2ycbcr(dtype, data_range):
    # skimage.color.rgb2ycbcr implements ITU-R BT.601 with Y on 16..235.
    rng = np.random.default_rng(1)
    img = rng.integers(0, data_range + 1, (16, 17, 3)).astype(dtype)
    ref = rgb2ycbcr(img.astype(np.float64) / data_range)[..., 0]
    np.testing.assert_allclose(rgb_to_y_bt601(img, data_range=data_range), ref, atol=1e-10)


def test_y_of_gray_is_rescaled_and_range_required():
    g = np.array([[0, 65535]], dtype=np.uint16)
    np.testing.assert_allclose(rgb_to_y_bt601(g, data_range=65535), [[0.0, 255.0]])
    with pytest.raises(MetricInputError, match="data_range"):
        rgb_to_y_bt601(g, data_range=0)
