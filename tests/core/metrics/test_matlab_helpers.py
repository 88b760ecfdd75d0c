"""MATLAB-compatible helpers: closed forms, documented algorithms, published outputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage, signal
from scipy.special import gamma

from eyetest.core.metrics import _matlab as M
from eyetest.errors import MetricInputError


# ---------------------------------------------------------------- kernels
def test_cubic_closed_form_values():
    # Keys (1981), a = -0.5: k(0)=1, k(1)=k(2)=0, k(1/2)=9/16, k(3/2)=-1/16
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, -0.5, -1.5])
    expected = [1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0, 0.5625, -0.0625]
    np.testing.assert_allclose(M.cubic(x), expected, rtol=0, atol=1e-15)


@given(st.floats(-50, 50, allow_nan=False))
def test_cubic_partition_of_unity(x):
    # the Keys kernel interpolates constants exactly: sum_k k(x - k) = 1
    ks = np.arange(math.floor(x) - 3, math.floor(x) + 4)
    assert abs(M.cubic(x - ks).sum() - 1.0) < 1e-12


def test_colon_matches_matlab_grid():
    g = M.colon(0.2, 0.001, 10.0)
    assert g.size == 9801
    assert g[0] == 0.2 and g[-1] == 10.0  # MATLAB's colon hits the end point exactly
    np.testing.assert_allclose(g, np.linspace(0.2, 10.0, 9801), rtol=0, atol=1e-14)
    assert np.all(np.diff(g) > 0)


def test_colon_without_exact_end_point():
    # 0:0.3:1 stops at the last step below the end: [0 0.3 0.6 0.9]
    np.testing.assert_allclose(M.colon(0.0, 0.3, 1.0), [0.0, 0.3, 0.6, 0.9], atol=1e-15)
    np.testing.assert_array_equal(M.colon(1.0, 1.0, 5.0), [1.0, 2.0, 3.0, 4.0, 5.0])


def test_fspecial_gaussian_is_live_niqe_window():
    from eyetest.io.resources import load_resource

    w = M.fspecial_gaussian(7, 7.0 / 6.0)
    assert w.shape == (7, 7)
    assert abs(w.sum() - 1.0) < 1e-15
    np.testing.assert_array_equal(w, w.T)
    np.testing.assert_array_equal(w, w[::-1, ::-1])
    # the window shipped with the LIVE model was made with fspecial('gaussian', 7, 7/6)
    np.testing.assert_allclose(w, load_resource("niqe_pristine")["gaussian_window"],
                               rtol=0, atol=1e-16)


# ---------------------------------------------------------------- imresize
def _contributions_by_hand(in_len, out_len, scale, aa):
    """MATLAB's documented contributions() written out with scalar loops."""
    def h(x):
        if scale < 1 and aa:
            return scale * float(M.cubic(scale * x))
        return float(M.cubic(x))

    width = 4.0 / scale if (scale < 1 and aa) else 4.0
    mat = np.zeros((out_len, in_len))
    for i in range(1, out_len + 1):
        u = i / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        js = [left + p for p in range(int(math.ceil(width)) + 2)]
        ws = [h(u - j) for j in js]
        total = sum(ws)
        for j, w in zip(js, ws):
            # symmetric mirroring of out-of-range 1-based indices
            k = (j - 1) % (2 * in_len)
            k = k if k < in_len else 2 * in_len - 1 - k
            mat[i - 1, k] += w / total
    return mat


@pytest.mark.parametrize(
    "in_len,out_len,scale,aa",
    [(4, 2, 0.5, True), (4, 2, 0.5, False), (7, 3, 0.37, True), (5, 9, 1.8, True),
     (9, 9, 1.0, True)],
)
def test_resize_weights_match_documented_algorithm(in_len, out_len, scale, aa):
    w, idx = M.resize_contributions(in_len, out_len, scale, antialiasing=aa)
    mat = np.zeros((out_len, in_len))
    np.add.at(mat, (np.repeat(np.arange(out_len), w.shape[1]), idx.ravel()), w.ravel())
    np.testing.assert_allclose(mat, _contributions_by_hand(in_len, out_len, scale, aa),
                               rtol=0, atol=1e-15)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-15)


def test_imresize_published_octave_output_without_antialiasing():
    # Octave image package imresize (MATLAB-compatible) on the 4x4 matrix
    # [0 1 2 3; 4 5 6 7; ...; 12 13 14 15], 'bicubic', 'AntiAliasing', false:
    # [2.1875 4.3125; 10.6875 12.8125], as printed in a public Octave script
    # (stored-code search, file id 5072369705).  Tolerance 1e-12.
    img = np.arange(16.0).reshape(4, 4)
    out = M.imresize(img, 0.5, antialiasing=False)
    np.testing.assert_allclose(out, [[2.1875, 4.3125], [10.6875, 12.8125]], rtol=0, atol=1e-12)


def test_imresize_tiny_array_hand_weights_with_antialiasing():
    # x = [0 1 2 3] halved with antialiasing: output 1 sits at u = 1.5 and uses
    # h(d) = 0.5 k(0.5 d) at d = u - j, j = -3..6, mirrored into 1..4.
    # Hand-computed kernel values: h(±0.5) = 0.5*k(0.25) = 0.43359375,
    # h(±1.5) = 0.5*k(0.75) = 0.11328125, h(±2.5) = 0.5*k(1.25) = -0.03515625,
    # h(±3.5) = 0.5*k(1.75) = -0.01171875, h(±4.5) = 0; they sum to 1 over
    # j = -3..6, and the mirrored sum gives exactly 0.4609375.
    hv = {0.5: 0.43359375, 1.5: 0.11328125, 2.5: -0.03515625, 3.5: -0.01171875, 4.5: 0.0}
    u = 1.5
    mirror = {-3: 4, -2: 3, -1: 2, 0: 1, 1: 1, 2: 2, 3: 3, 4: 4, 5: 4, 6: 3}
    num = sum(hv[abs(u - j)] * (mirror[j] - 1) for j in range(-3, 7))
    den = sum(hv[abs(u - j)] for j in range(-3, 7))
    first = num / den
    assert den == 1.0 and first == 0.4609375
    out = M.imresize(np.arange(4.0)[None, :].repeat(3, axis=0), output_shape=(3, 2))
    assert out.shape == (3, 2)
    assert abs(out[0, 0] - first) < 1e-14
    # the ramp is antisymmetric about its centre, and so is the mirrored kernel
    assert abs(out[0, 1] - (3 - first)) < 1e-14


@settings(max_examples=30, deadline=None)
@given(
    h=st.integers(1, 40), w=st.integers(1, 40),
    scale=st.floats(0.1, 3.0), value=st.floats(-1e3, 1e3, allow_nan=False),
)
def test_imresize_constant_stays_constant(h, w, scale, value):
    out = M.imresize(np.full((h, w), value), scale)
    assert out.shape == (math.ceil(scale * h), math.ceil(scale * w))
    np.testing.assert_allclose(out, value, rtol=1e-12, atol=1e-12)


def test_imresize_integer_input_keeps_class_and_range():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (31, 17), dtype=np.uint8)
    out = M.imresize(img, 0.5)
    assert out.dtype == np.uint8 and out.shape == (16, 9)
    # rounded per pass, so within 1 of the float result
    assert np.max(np.abs(out.astype(float) - M.imresize(img.astype(float), 0.5))) <= 1.0


def test_imresize_channels_independent():
    rng = np.random.default_rng(4)
    img = rng.random((20, 30, 3))
    out = M.imresize(img, 0.5)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], M.imresize(img[..., c], 0.5), atol=1e-15)


def test_imresize_bad_arguments():
    with pytest.raises(MetricInputError):
        M.imresize(np.zeros((4, 4)), 0.0)
    with pytest.raises(MetricInputError):
        M.imresize(np.zeros((4, 4)))
    with pytest.raises(MetricInputError):
        M.imresize(np.zeros(4), 0.5)


# ---------------------------------------------------------------- filtering
@pytest.mark.parametrize("kernel", [
    M.fspecial_gaussian(7, 7.0 / 6.0),
    np.arange(15.0).reshape(3, 5),  # not separable, not symmetric
])
def test_filter2_is_zero_padded_same_correlation(kernel):
    rng = np.random.default_rng(5)
    img = rng.random((23, 19)) * 255
    ref = signal.correlate2d(img, kernel, mode="same", boundary="fill", fillvalue=0)
    np.testing.assert_allclose(M.filter2(kernel, img), ref, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("padding,np_mode", [("zero", "constant"), ("replicate", "edge"),
                                             ("symmetric", "symmetric"), ("circular", "wrap")])
@pytest.mark.parametrize("kernel", [M.fspecial_gaussian(7, 7.0 / 6.0),
                                    np.arange(15.0).reshape(3, 5)])
def test_imfilter_paddings_match_explicit_pad_then_valid_correlation(padding, np_mode, kernel):
    # MATLAB pads by floor((n+1)/2)-1 before and the rest after, then keeps 'valid'
    rng = np.random.default_rng(6)
    img = rng.random((23, 19)) * 255
    widths = [((n + 1) // 2 - 1, n - (n + 1) // 2) for n in kernel.shape]
    ref = signal.correlate2d(np.pad(img, widths, mode=np_mode), kernel, mode="valid")
    np.testing.assert_allclose(M.imfilter(img, kernel, padding=padding), ref,
                               rtol=1e-12, atol=1e-10)


def test_imfilter_replicate_matches_scipy_nearest():
    rng = np.random.default_rng(6)
    img = rng.random((23, 19)) * 255
    k = M.fspecial_gaussian(7, 7.0 / 6.0)
    ref = ndimage.correlate(img, k, mode="nearest")
    np.testing.assert_allclose(M.imfilter(img, k, padding="replicate"), ref, rtol=1e-13, atol=1e-11)


def test_imfilter_even_kernel_centre_is_matlab_floor_half():
    # MATLAB centres an n-tap kernel at floor((n+1)/2): for [0 1; 0 0] the
    # output at (i, j) is x(i, j+1) (zero beyond the border).
    img = np.arange(12.0).reshape(3, 4)
    out = M.imfilter(img, np.array([[0.0, 1.0], [0.0, 0.0]]), padding="zero")
    expected = np.zeros_like(img)
    expected[:, :-1] = img[:, 1:]
    np.testing.assert_array_equal(out, expected)


def test_mscn_flat_region_is_exactly_zero():
    img = np.full((20, 20), 255.0)
    img[:, 15:] = np.arange(100.0).reshape(20, 5)
    out, sigma = M.mscn(img, M.fspecial_gaussian(7, 7.0 / 6.0), padding="replicate")
    assert np.all(out[:, :9] == 0.0) and np.all(sigma[:, :9] == 0.0)
    assert np.all(sigma[:, 12:] > 0)


# ---------------------------------------------------------------- GGD / AGGD fits
GAM = M.colon(0.2, 0.001, 10.0)
R_AGGD = gamma(2 / GAM) ** 2 / (gamma(1 / GAM) * gamma(3 / GAM))
R_GGD = gamma(1 / GAM) * gamma(3 / GAM) / gamma(2 / GAM) ** 2


def _aggd_brute(v):
    """estimateaggdparam.m with a full-table argmin (first index on ties)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return _aggd_brute_inner(v)


def _aggd_brute_inner(v):
    left = math.sqrt(np.mean(v[v < 0] ** 2)) if np.any(v < 0) else math.nan
    right = math.sqrt(np.mean(v[v > 0] ** 2)) if np.any(v > 0) else math.nan
    g = left / right
    r = np.mean(np.abs(v)) ** 2 / np.mean(v**2)
    rn = r * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    d = (R_AGGD - rn) ** 2
    idx = 0 if np.all(np.isnan(d)) else int(np.nanargmin(d))
    return GAM[idx], left, right


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shape=st.floats(0.3, 4.0), skew=st.floats(0.3, 3.0))
def test_aggd_fit_equals_full_table_argmin(seed, shape, skew):
    rng = np.random.default_rng(seed)
    v = rng.gamma(1.0 / shape, 1.0, 500) ** (1.0 / shape) * rng.choice([-1.0, skew], 500)
    alpha, left, right = M.aggd_fit(v)
    ra, rl, rr = _aggd_brute(v)
    assert alpha == ra
    assert abs(left - rl) <= 1e-12 * rl and abs(right - rr) <= 1e-12 * rr


def test_aggd_fit_vectorised_rows_and_degenerate_samples():
    rng = np.random.default_rng(8)
    rows = rng.normal(size=(6, 300))
    rows[1] = np.abs(rows[1])  # no negative values: left NaN, alpha = grid[0]
    rows[2] = 0.0  # all zero: everything undefined, alpha = grid[0] (MATLAB min of NaNs)
    alpha, left, right = M.aggd_fit(rows)
    for i in range(6):
        ra, rl, rr = _aggd_brute(rows[i])
        assert alpha[i] == ra
        np.testing.assert_allclose([left[i], right[i]], [rl, rr], rtol=1e-12)
    assert alpha[1] == 0.2 and np.isnan(left[1]) and alpha[2] == 0.2


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shape=st.floats(0.3, 6.0))
def test_ggd_fit_equals_full_table_argmin(seed, shape):
    rng = np.random.default_rng(seed)
    v = rng.gamma(1.0 / shape, 1.0, 400) ** (1.0 / shape) * rng.choice([-1.0, 1.0], 400)
    alpha, sigma = M.ggd_fit(v)
    rho = np.mean(v**2) / np.mean(np.abs(v)) ** 2
    assert alpha == GAM[int(np.argmin(np.abs(rho - R_GGD)))]
    assert abs(sigma - math.sqrt(np.mean(v**2))) < 1e-12


def test_ggd_fit_recovers_gaussian_and_laplacian_shapes():
    rng = np.random.default_rng(9)
    a_gauss, _ = M.ggd_fit(rng.normal(size=400_000))
    a_lap, _ = M.ggd_fit(rng.laplace(size=400_000))
    assert abs(a_gauss - 2.0) < 0.05 and abs(a_lap - 1.0) < 0.05
