"""FID / KID statistics against closed forms and independent computations."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import linalg

from eyetest.core.metrics import frechet_distance, get_metric
from eyetest.core.metrics.fid import (
    SmallSampleWarning, feature_statistics, fid, kid, mmd2_unbiased, resize_for_inception,
)
from eyetest.errors import MetricInputError


@given(m1=st.floats(-50, 50), m2=st.floats(-50, 50), s1=st.floats(0, 20), s2=st.floats(0, 20))
@settings(max_examples=60, deadline=None)
def test_one_dimensional_closed_form(m1, m2, s1, s2):
    # W2^2 between N(m1, s1^2) and N(m2, s2^2) = (m1 - m2)^2 + (s1 - s2)^2
    got = frechet_distance([m1], [[s1 * s1]], [m2], [[s2 * s2]])
    want = (m1 - m2) ** 2 + (s1 - s2) ** 2
    assert got == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_diagonal_and_commuting_closed_form():
    rng = np.random.default_rng(0)
    d = 12
    a, b = rng.uniform(0.0, 4.0, d), rng.uniform(0.0, 4.0, d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(want, rel=1e-10)
    # commuting covariances: same eigenvectors, any rotation Q
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-9)


def test_general_covariances_match_sqrtm_formula():
    rng = np.random.default_rng(1)
    d = 20
    x = rng.normal(size=(d, d))
    y = rng.normal(size=(d, d)) + 0.5 * x
    s1, s2 = x @ x.T + 0.1 * np.eye(d), y @ y.T + 0.1 * np.eye(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    covmean = linalg.sqrtm(s1 @ s2)
    want = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(covmean))
    got = frechet_distance(mu1, s1, mu2, s2)
    assert got == pytest.approx(want, rel=1e-8)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(got, rel=1e-9)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-8)


def test_singular_covariances_need_no_offset():
    rng = np.random.default_rng(2)
    f = rng.normal(size=(5, 30))  # 5 samples, 30 dims: rank 4
    mu, s = feature_statistics(f)
    assert np.linalg.matrix_rank(s) == 4
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-9)
    assert np.isfinite(frechet_distance(mu, s, mu + 1.0, 2.0 * s))


def test_bad_inputs_are_named():
    with pytest.raises(MetricInputError, match="mu2"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(MetricInputError, match="sigma2 must be 3x3"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(2))
    with pytest.raises(MetricInputError, match="not symmetric"):
        frechet_distance(np.zeros(2), [[1, 0.5], [0, 1]], np.zeros(2), np.eye(2))
    with pytest.raises(MetricInputError, match="non-finite"):
        frechet_distance([np.nan], [[1.0]], [0.0], [[1.0]])


def test_fid_of_features_and_small_sample_warning():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(400, 8))
    b = rng.normal(loc=0.5, size=(300, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = fid(a, b)
    want = frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert got == pytest.approx(want, rel=1e-12)
    assert got > 8 * 0.25 * 0.8  # mean shift alone gives 8 * 0.25
    with pytest.warns(SmallSampleWarning, match="rank-deficient"):
        fid(a[:5], b[:5])


def test_fid_few_images_route_equals_covariance_route():
    # n1 * n2 <= d^2 uses the nuclear norm of A B'; it must equal the d x d route
    rng = np.random.default_rng(8)
    a = rng.normal(size=(6, 40))
    b = rng.normal(loc=0.2, scale=1.5, size=(9, 40))
    with pytest.warns(SmallSampleWarning):
        got = fid(a, b)
    want = frechet_distance(*feature_statistics(a), *feature_statistics(b))
    assert got == pytest.approx(want, rel=1e-9)


def _mmd2_naive(x, y):
    d = x.shape[1]
    k = lambda u, v: (u @ v / d + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    sxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    syy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    sxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return sxx + syy - 2 * sxy


def test_mmd2_unbiased_matches_definition():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(9, 5)), rng.normal(size=(7, 5)) + 0.3
    assert mmd2_unbiased(x, y) == pytest.approx(_mmd2_naive(x, y), rel=1e-10)


def test_kid_unbiased_near_zero_for_same_distribution_and_seeded():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
    mean_same, std_same = kid(a, b, rng=np.random.default_rng(0), n_subsets=20, subset_size=200)
    # unbiased: the mean is within a few standard errors of 0
    assert abs(mean_same) < 3 * std_same / np.sqrt(20) + 1e-3
    shifted = b + 0.5
    mean_diff, _ = kid(a, shifted, rng=np.random.default_rng(0), n_subsets=20, subset_size=200)
    assert mean_diff > 10 * abs(mean_same)
    again = kid(a, b, rng=np.random.default_rng(0), n_subsets=20, subset_size=200)
    assert again == (mean_same, std_same)
    with pytest.warns(SmallSampleWarning, match="subsets of 50 images"):
        kid(a[:50], b, rng=np.random.default_rng(0), n_subsets=3, subset_size=200)


def test_registered_specs():
    for name in ("fid", "kid"):
        spec = get_metric(name)
        assert spec.kind == "distribution" and not spec.higher_is_better
        assert "weights:pt-inception" in spec.requires and "torch" in spec.requires
        assert spec.settings("matlab")["resize"] == "clean"
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    spec = get_metric("kid")
    with pytest.warns(SmallSampleWarning):
        assert spec.func(a, b, seed=1) == spec.func(a, b, seed=1)


def test_clean_resize_is_antialiased_pil_bicubic():
    from PIL import Image

    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, size=(600, 450, 3), dtype=np.uint8)
    got = resize_for_inception(img, data_range=255, resize="clean")
    assert got.shape == (3, 299, 299) and got.dtype == np.float32
    ch0 = np.asarray(Image.fromarray(img[..., 0].astype(np.float32)).resize((299, 299), Image.BICUBIC))
    np.testing.assert_allclose(got[0], np.clip(ch0, 0, 255) / 255.0, rtol=0, atol=1e-6)
    # data_range scales: a 16-bit image of the same content gives the same input
    got16 = resize_for_inception(img.astype(np.uint16) * 257, data_range=65535, resize="clean")
    np.testing.assert_allclose(got16, got, atol=1e-5)
    with pytest.raises(MetricInputError, match="unknown resize mode"):
        resize_for_inception(img, data_range=255, resize="bogus")


def test_metrics_package_imports_without_torch():
    code = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None  # any `import torch` now fails
        from eyetest.core.metrics import frechet_distance, get_metric, list_metrics
        names = {s.name for s in list_metrics()}
        assert {"fid", "kid", "lpips"} <= names, names
        assert frechet_distance([0.0], [[1.0]], [3.0], [[4.0]]) == 10.0
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_score_sets_end_to_end_through_weights_cache(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    import importlib.util
    from pathlib import Path

    from eyetest.backends import weights
    from eyetest.core.metrics.fid import inception_features
    from eyetest.errors import ResourceMissingError
    from eyetest.run.compute import score_sets

    p = Path(__file__).resolve().parents[1] / "nets" / "ckpt_helpers.py"
    spec = importlib.util.spec_from_file_location("ckpt_helpers", p)
    h = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(h)
    sd = h.random_inception(seed=3)
    f = tmp_path / "inc.pth"
    torch.save(sd, f)
    wf = weights.WeightFile("pt-inception", "pt_inception-test.pth", "https://example.invalid/i",
                            weights.sha256_file(f), None, "test")
    monkeypatch.setattr(weights, "WEIGHTS", {"pt-inception": wf})
    monkeypatch.setenv(weights.ENV_DIR, str(tmp_path / "cache"))
    rng = np.random.default_rng(9)
    refs = [rng.integers(0, 256, size=(76, 76, 3), dtype=np.uint8) for _ in range(2)]
    dists = [np.clip(r.astype(int) + 60, 0, 255).astype(np.uint8) for r in refs]
    with pytest.raises(ResourceMissingError, match="eyetest weights fetch pt-inception"):
        score_sets("fid", refs, dists, data_range=255, resize="none", device="cpu")
    weights.import_file(f)
    with pytest.warns(SmallSampleWarning):
        got = score_sets("fid", refs, dists, data_range=255, resize="none", device="cpu")
    sd_loaded = weights.load_state_dict("pt-inception")
    fa = inception_features(refs, data_range=255, state_dict=sd_loaded, resize="none", device="cpu")
    fb = inception_features(dists, data_range=255, state_dict=sd_loaded, resize="none", device="cpu")
    with pytest.warns(SmallSampleWarning):
        want = fid(fa, fb)
    assert got == pytest.approx(want, rel=1e-9) and got > 0
    with pytest.raises(MetricInputError, match="not a distribution metric"):
        score_sets("lpips", refs, dists, data_range=255)


def test_bad_data_range_and_non_finite_images_are_named():
    # data_range 0 used to raise ZeroDivisionError; NaN/inf/negative ones
    # silently gave NaN or garbage Inception inputs
    img = np.full((20, 20, 3), 0.5)
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(MetricInputError, match="data_range must be a positive number"):
            resize_for_inception(img, data_range=bad)
    nan_img = img.copy()
    nan_img[3, 4, 1] = np.nan
    with pytest.raises(MetricInputError, match="NaN or infinite"):
        resize_for_inception(nan_img, data_range=1.0)


def test_inception_features_name_the_bad_image():
    pytest.importorskip("torch")
    import importlib.util
    from pathlib import Path

    from eyetest.core.metrics.fid import inception_features

    p = Path(__file__).resolve().parents[1] / "nets" / "ckpt_helpers.py"
    spec = importlib.util.spec_from_file_location("ckpt_helpers", p)
    h = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(h)
    sd = h.random_inception(seed=4)
    good = np.full((20, 20, 3), 0.5)
    bad = good.copy()
    bad[0, 0, 0] = np.inf
    with pytest.raises(MetricInputError, match="image 2: .*NaN or infinite"):
        inception_features([good, good, bad], data_range=1.0, state_dict=sd, device="cpu",
                           batch_size=2)
    with pytest.raises(MetricInputError, match=r"image 1: .*\(20, 20, 4\)"):
        inception_features([good, np.zeros((20, 20, 4))], data_range=1.0, state_dict=sd,
                           device="cpu")
    with pytest.raises(MetricInputError, match="data_range must be a positive number, got 0"):
        inception_features([good], data_range=0, state_dict=sd, device="cpu")


def test_kid_subset_settings_as_floats_and_bad_values():
    # settings read from JSON/YAML arrive as floats; 20.0 used to raise a numpy TypeError
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=(60, 4)), rng.normal(size=(60, 4)) + 0.2
    want = kid(a, b, rng=np.random.default_rng(0), n_subsets=3, subset_size=20)
    assert kid(a, b, rng=np.random.default_rng(0), n_subsets=3.0, subset_size=20.0) == want
    for bad in (dict(subset_size=20.5), dict(n_subsets="x"), dict(subset_size=1)):
        with pytest.raises(MetricInputError, match="subset_size"):
            kid(a, b, rng=np.random.default_rng(0), **{"n_subsets": 3, "subset_size": 20, **bad})
