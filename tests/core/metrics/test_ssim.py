"""SSIM / MS-SSIM: scikit-image equality, a published reference value, an
independent direct implementation of the original MATLAB code, invariants
and input errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.signal import correlate2d
from skimage import data
from skimage.metrics import structural_similarity

from eyetest.core.color import rgb2gray_matlab, rgb_to_y_bt601
from eyetest.core.metrics.registry import get_metric
from eyetest.core.metrics.ssim import box_downsample, ms_ssim, ssim
from eyetest.errors import MetricInputError
from eyetest.metrics import score

SK = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)


def _noisy(image: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noisy = image.astype(np.float64) + rng.normal(0.0, sigma, image.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


# --- an independent, deliberately naive transcription of ssim_index.m ---------

def _fspecial_gaussian(size: int, sigma: float) -> np.ndarray:
    """fspecial('gaussian', size, sigma) built from its 2-D definition."""
    r = (size - 1) / 2
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    h = np.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    return h / h.sum()


def _maps_reference(img1, img2, L=255.0, K=(0.01, 0.03)):
    """ssim_map and cs_map with five filter2(window, ., 'valid') calls."""
    win = _fspecial_gaussian(11, 1.5)
    f = lambda z: correlate2d(z, win, mode="valid")  # noqa: E731
    img1, img2 = np.asarray(img1, float), np.asarray(img2, float)
    C1, C2 = (K[0] * L) ** 2, (K[1] * L) ** 2
    mu1, mu2 = f(img1), f(img2)
    s1 = f(img1 * img1) - mu1 * mu1
    s2 = f(img2 * img2) - mu2 * mu2
    s12 = f(img1 * img2) - mu1 * mu2
    cs = (2 * s12 + C2) / (s1 + s2 + C2)
    ssim_map = (2 * mu1 * mu2 + C1) / (mu1**2 + mu2**2 + C1) * cs
    return ssim_map, cs


def _downsample_reference(img, f):
    """imfilter(img, ones(f)/f^2, 'symmetric', 'same') then img(1:f:end, 1:f:end), by loops."""
    h, w = img.shape
    c = (f + 1) // 2  # MATLAB anchor, 1-based
    def mirror(i, n):  # 'symmetric' padding: ... x1 | x1 x2 ... xn | xn ...
        while i < 0 or i >= n:
            i = -i - 1 if i < 0 else 2 * n - i - 1
        return i
    out = np.empty((-(-h // f), -(-w // f)))
    for oi, i in enumerate(range(0, h, f)):
        for oj, j in enumerate(range(0, w, f)):
            acc = 0.0
            for u in range(f):
                for v in range(f):
                    acc += img[mirror(i + u - (c - 1), h), mirror(j + v - (c - 1), w)]
            out[oi, oj] = acc / (f * f)
    return out


# --- published reference value -----------------------------------------------

def test_camera_vs_ipol_reference_value():
    # scikit-image's test suite (skimage/metrics/tests/test_structural_similarity.py,
    # test_gaussian_structural_similarity_vs_IPOL) records 0.357959091663361 from the
    # IPOL C implementation of Wang's SSIM (imdiff -m mssim, https://www.ipol.im/pub/art/2011/g_lmii/)
    # for data.camera() against this noisy copy (values by G. Lee, scikit-image PR #4913).
    # IPOL computes in single precision, hence the 1e-5 tolerance.
    rs = np.random.RandomState(5)
    cam = data.camera()
    cam_noisy = np.clip(cam + 20.0 * rs.randn(*cam.shape), 0, 255).astype(np.uint8)
    assert ssim(cam, cam_noisy, data_range=255) == pytest.approx(0.357959091663361, abs=1e-5)


# --- the original (wang) mode against the direct transcription ----------------

@pytest.mark.parametrize("shape", [(11, 11), (11, 40), (37, 12), (70, 93), (20, 1900), (200, 15)])
def test_wang_mode_equals_direct_implementation(shape):
    rng = np.random.default_rng(sum(shape))
    a = rng.uniform(0, 255, shape)
    b = np.clip(a + rng.normal(0, 25, shape), 0, 255)
    expected, _ = _maps_reference(a, b)
    assert ssim(a, b, data_range=255) == pytest.approx(expected.mean(), abs=1e-12)


def test_wang_mode_equals_direct_implementation_on_camera():
    cam = data.camera()[100:260, 150:330]
    dist = _noisy(cam, 15.0, seed=7)
    expected, _ = _maps_reference(cam, dist)
    assert ssim(cam, dist, data_range=255) == pytest.approx(expected.mean(), abs=1e-12)


def test_box_downsample_matches_imfilter_symmetric():
    rng = np.random.default_rng(3)
    for f in (2, 3, 4):
        for shape in ((9, 7), (8, 12), (13, 13)):
            img = rng.uniform(0, 1, shape)
            np.testing.assert_allclose(box_downsample(img, f), _downsample_reference(img, f),
                                       rtol=0, atol=1e-13)
    # hand-computed: 3x3 ramp, 2x2 box anchored top-left, last row/col mirrored
    img = np.arange(1.0, 10.0).reshape(3, 3)
    np.testing.assert_allclose(box_downsample(img, 2), [[3.0, 4.5], [7.5, 9.0]])


def test_downsample_follows_ssim_m():
    # ssim.m: f = max(1, round(min(H, W) / 256)) with MATLAB round (384 / 256 = 1.5 -> 2,
    # 640 / 256 = 2.5 -> 3), then imfilter(., ones(f)/f^2, 'symmetric') and x(1:f:end, 1:f:end)
    rng = np.random.default_rng(11)
    for shape, factor in (((383, 400), 1), ((384, 395), 2), ((641, 640), 3)):
        a = rng.uniform(0, 255, shape)
        b = np.clip(a + rng.normal(0, 20, shape), 0, 255)
        got = ssim(a, b, data_range=255, downsample=True)
        if factor == 1:
            assert got == ssim(a, b, data_range=255)
            continue
        ra, rb = _downsample_reference(a, factor), _downsample_reference(b, factor)
        expected, _ = _maps_reference(ra, rb)
        assert got == pytest.approx(expected.mean(), abs=1e-12)


# --- scikit-image compatible mode ---------------------------------------------

@pytest.mark.parametrize("name", ["camera", "moon", "coins", "text", "page"])
def test_equals_skimage_gray(name):
    ref = getattr(data, name)()
    dist = _noisy(ref, 10.0, seed=1)
    expected = structural_similarity(ref, dist, data_range=255, **SK)
    assert abs(ssim(ref, dist, data_range=255, mode="skimage") - expected) < 1e-6
    assert abs(ssim(ref, dist, data_range=255) - expected) < 1e-6
    # float32 input: scikit-image computes in float32, eyetest in float64
    r32, d32 = ref.astype(np.float32), dist.astype(np.float32)
    expected32 = structural_similarity(r32, d32, data_range=255, **SK)
    assert abs(ssim(r32, d32, data_range=255, mode="skimage") - expected32) < 1e-6


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_equals_skimage_colour(name):
    ref = getattr(data, name)()
    dist = _noisy(ref, 12.0, seed=2)
    expected = structural_similarity(ref, dist, data_range=255, channel_axis=-1, **SK)
    assert abs(ssim(ref, dist, data_range=255, mode="skimage") - expected) < 1e-6
    y_ref, y_dist = rgb_to_y_bt601(ref, data_range=255), rgb_to_y_bt601(dist, data_range=255)
    expected_y = structural_similarity(y_ref, y_dist, data_range=255, **SK)
    assert abs(ssim(y_ref, y_dist, data_range=255, mode="skimage") - expected_y) < 1e-6


@pytest.mark.parametrize("sigma", [0.8, 1.0, 2.0, 3.0])
def test_skimage_mode_other_sigmas(sigma):
    # scikit-image derives the window from sigma (truncate=3.5): 7, 9, 15, 23 taps
    ref = data.camera()[:150, :170]
    dist = _noisy(ref, 10.0, seed=15)
    expected = structural_similarity(ref, dist, data_range=255, gaussian_weights=True,
                                     sigma=sigma, use_sample_covariance=False)
    assert abs(ssim(ref, dist, data_range=255, mode="skimage", sigma=sigma) - expected) < 1e-6


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(11, 40), st.integers(11, 40)),
    seed=st.integers(0, 2**32 - 1),
    noise=st.floats(0.0, 1.0),
    unit=st.booleans(),
)
def test_random_images_equal_skimage(shape, seed, noise, unit):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1, shape)
    b = np.clip(a + noise * rng.normal(0, 0.3, shape), 0, 1)
    if not unit:  # 8-bit version of the same images
        a, b = np.round(a * 255).astype(np.uint8), np.round(b * 255).astype(np.uint8)
    L = 1.0 if unit else 255
    expected = structural_similarity(a, b, data_range=L, **SK)
    got = ssim(a, b, data_range=L, mode="skimage")
    assert abs(got - expected) < 1e-6
    assert -1.0 <= got <= 1.0


@pytest.mark.parametrize("seed", range(20))
def test_nearly_identical_images_stay_within_one(seed):
    # hypothesis found (12, 14), seed 0, noise 1e-12: the blocked sums rounded to 1.0000000000000002
    # (scikit-image gives that value too); SSIM and MS-SSIM are <= 1 in exact arithmetic
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1, (12 + seed, 14 + 2 * seed))
    b = np.clip(a + 1e-12 * rng.normal(0, 0.3, a.shape), 0, 1)
    got = ssim(a, b, data_range=1.0, mode="skimage")
    assert got <= 1.0 and got == pytest.approx(structural_similarity(a, b, data_range=1.0, **SK), abs=1e-12)
    big = rng.uniform(0, 1, (176, 176))
    assert ms_ssim(big, np.clip(big + 1e-12 * rng.normal(0, 0.3, big.shape), 0, 1), data_range=1.0) <= 1.0


@settings(max_examples=25, deadline=None)
@given(
    pair=st.tuples(st.integers(11, 30), st.integers(11, 30)).flatmap(
        lambda s: st.tuples(arrays(np.uint8, s), arrays(np.uint8, s))
    )
)
def test_arbitrary_uint8_pairs_bounded_and_symmetric(pair):
    a, b = pair
    v = ssim(a, b, data_range=255)
    assert -1.0 - 1e-12 <= v <= 1.0 + 1e-12
    assert v == pytest.approx(ssim(b, a, data_range=255), abs=1e-12)
    assert v == pytest.approx(structural_similarity(a, b, data_range=255, **SK), abs=1e-6)


# --- invariants and dtypes ----------------------------------------------------

def test_identity_symmetry_and_range():
    ref = data.camera()
    dist = _noisy(ref, 20.0, seed=4)
    assert ssim(ref, ref, data_range=255) == pytest.approx(1.0, abs=1e-12)
    assert ssim(ref, dist, data_range=255) == pytest.approx(ssim(dist, ref, data_range=255),
                                                            abs=1e-12)
    inverted = 255 - ref
    assert -1.0 <= ssim(ref, inverted, data_range=255) < 0.0  # anti-correlated structure


def test_dtypes_agree():
    ref = data.camera()[:200, :240]
    dist = _noisy(ref, 15.0, seed=5)
    v8 = ssim(ref, dist, data_range=255)
    v16 = ssim(ref.astype(np.uint16) * 257, dist.astype(np.uint16) * 257, data_range=65535)
    vf = ssim(ref / 255.0, dist / 255.0, data_range=1.0)
    vf32 = ssim((ref / 255.0).astype(np.float32), (dist / 255.0).astype(np.float32),
                data_range=1.0)
    assert v16 == pytest.approx(v8, abs=1e-12)  # SSIM is invariant to a common rescale
    assert vf == pytest.approx(v8, abs=1e-12)
    assert vf32 == pytest.approx(v8, abs=1e-6)
    assert ssim(ref[..., None], dist[..., None], data_range=255) == v8  # (H, W, 1)


def test_colour_is_mean_over_channels():
    ref = data.astronaut()[:120, :150]
    dist = _noisy(ref, 10.0, seed=6)
    per_channel = [ssim(ref[..., c], dist[..., c], data_range=255) for c in range(3)]
    assert ssim(ref, dist, data_range=255) == pytest.approx(np.mean(per_channel), abs=1e-15)


def test_errors():
    a = np.zeros((20, 30))
    with pytest.raises(MetricInputError, match=r"\(20, 30\).*\(30, 20\)"):
        ssim(a, np.zeros((30, 20)), data_range=1)
    with pytest.raises(TypeError):
        ssim(a, a)  # data_range is required
    with pytest.raises(MetricInputError, match="data_range"):
        ssim(a, a, data_range=0)
    with pytest.raises(MetricInputError, match="10x30.*11x11"):
        ssim(a[:10], a[:10], data_range=1)
    with pytest.raises(MetricInputError, match="mode"):
        ssim(a, a, data_range=1, mode="matlab")
    with pytest.raises(MetricInputError, match="downsample"):
        ssim(a, a, data_range=1, mode="skimage", downsample=True)
    with pytest.raises(MetricInputError, match="win_size"):
        ssim(a, a, data_range=1, mode="skimage", win_size=7)
    with pytest.raises(MetricInputError, match="win_size"):
        ssim(a, a, data_range=1, win_size=8)
    b = a.copy()
    b[3, 3] = np.inf
    with pytest.raises(MetricInputError, match="NaN or infinite"):
        ssim(a, b, data_range=1)
    with pytest.raises(MetricInputError, match="shape"):
        ssim(np.zeros((12, 12, 3, 2)), np.zeros((12, 12, 3, 2)), data_range=1)


# --- MS-SSIM --------------------------------------------------------------------

def _ms_ssim_reference(a, b, weights=(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)):
    """msssim.m transcribed: cs at scales 1..4, ssim at scale 5, 2x2 mean pooling."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    value = 1.0
    for level, beta in enumerate(weights):
        ssim_map, cs_map = _maps_reference(a, b)
        last = level == len(weights) - 1
        value *= (ssim_map.mean() if last else cs_map.mean()) ** beta
        a, b = _downsample_reference(a, 2), _downsample_reference(b, 2)
    return value


def test_ms_ssim_equals_direct_implementation():
    ref = data.camera()[40:217, 60:241]  # 177 x 181: odd sizes exercise the mirrored edge
    dist = _noisy(ref, 12.0, seed=8)
    expected = _ms_ssim_reference(ref, dist)
    assert ms_ssim(ref, dist, data_range=255) == pytest.approx(expected, abs=1e-12)


def test_ms_ssim_invariants():
    ref = data.camera()
    dist = _noisy(ref, 25.0, seed=9)
    assert ms_ssim(ref, ref, data_range=255) == pytest.approx(1.0, abs=1e-12)
    v = ms_ssim(ref, dist, data_range=255)
    assert 0.0 < v < 1.0
    assert v == pytest.approx(ms_ssim(dist, ref, data_range=255), abs=1e-12)
    # one scale with weight 1 is plain SSIM
    assert ms_ssim(ref, dist, data_range=255, weights=(1.0,)) == pytest.approx(
        ssim(ref, dist, data_range=255), abs=1e-12
    )
    # colour: mean over channels
    rgb = data.astronaut()[:200, :200]
    rgb_dist = _noisy(rgb, 10.0, seed=10)
    per_channel = [ms_ssim(rgb[..., c], rgb_dist[..., c], data_range=255) for c in range(3)]
    assert ms_ssim(rgb, rgb_dist, data_range=255) == pytest.approx(np.mean(per_channel))


def test_ms_ssim_too_small_and_minimum_size():
    a = np.zeros((175, 300))
    with pytest.raises(MetricInputError, match="175x300.*176"):
        ms_ssim(a, a, data_range=255)
    rng = np.random.default_rng(12)
    b = rng.uniform(0, 255, (176, 176))
    assert ms_ssim(b, b, data_range=255) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(MetricInputError, match=r"\(176, 176\).*\(176, 177\)"):
        ms_ssim(b, np.zeros((176, 177)), data_range=255)


def test_ms_ssim_clamps_negative_scales():
    rng = np.random.default_rng(13)
    a = rng.uniform(0, 255, (200, 200))
    assert ms_ssim(a, 255.0 - a, data_range=255) == 0.0


# --- registry and presets -------------------------------------------------------

def test_registry_presets():
    spec = get_metric("ssim")
    assert spec.settings("matlab")["color"] == "gray"
    assert spec.settings("skimage")["mode"] == "skimage"
    assert spec.settings("sr-y-crop4") == {"color": "y", "crop": 4}
    ref = data.astronaut()
    dist = _noisy(ref, 8.0, seed=14)
    g_ref, g_dist = rgb2gray_matlab(ref), rgb2gray_matlab(dist)
    assert score("ssim", dist, ref, data_range=255) == pytest.approx(
        ssim(g_ref, g_dist, data_range=255), abs=1e-15
    )
    y_ref, y_dist = rgb_to_y_bt601(ref, data_range=255), rgb_to_y_bt601(dist, data_range=255)
    assert abs(score("ssim", dist, ref, data_range=255, preset="skimage")
               - structural_similarity(y_ref, y_dist, data_range=255, **SK)) < 1e-6
    assert abs(score("ssim", dist, ref, data_range=255, preset="skimage-rgb")
               - structural_similarity(ref, dist, data_range=255, channel_axis=-1, **SK)) < 1e-6
    assert score("ssim", dist, ref, data_range=255, preset="sr-y-crop4") == pytest.approx(
        ssim(y_ref[4:-4, 4:-4], y_dist[4:-4, 4:-4], data_range=255), abs=1e-15
    )
    ms = get_metric("ms-ssim")
    assert ms.settings("matlab")["color"] == "gray"
    assert score("ms-ssim", dist, ref, data_range=255) == pytest.approx(
        ms_ssim(g_ref, g_dist, data_range=255), abs=1e-15
    )
