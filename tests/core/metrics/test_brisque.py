"""BRISQUE: literal transcription of the LIVE release, SVR details, properties.

No MATLAB output of the LIVE release (brisquescore.m) on an image available
offline was found; the values other projects record are on TID2013/LIVE images
not shipped here (pyiqa ResultsCalibra) and MATLAB's own ``brisque`` uses a
different model.  Checked instead against a literal transcription of
brisque_feature.m written below and against properties.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from scipy import ndimage, signal
from scipy.special import gamma
from skimage import data

from eyetest.core.color import rgb2gray_matlab
from eyetest.core.metrics._matlab import colon, imresize
from eyetest.core.metrics.brisque import brisque, brisque_features, brisque_predict
from eyetest.core.metrics.registry import get_metric
from eyetest.errors import MetricInputError
from eyetest.io.resources import load_resource, resource_path
from eyetest.run.compute import score_arrays

MODEL = load_resource("brisque_live")
GAM = colon(0.2, 0.001, 10.0)
R_AGGD = gamma(2 / GAM) ** 2 / (gamma(1 / GAM) * gamma(3 / GAM))
R_GGD = gamma(1 / GAM) * gamma(3 / GAM) / gamma(2 / GAM) ** 2


def _features_reference(img):
    """brisque_feature.m line by line (2-D zero-padded correlation, full argmins)."""
    x = np.arange(-3, 4)
    w = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * (7 / 6) ** 2))
    w /= w.sum()
    im = img.astype(np.float64)
    feat = []
    for _ in range(2):
        mu = signal.correlate2d(im, w, mode="same")
        sigma = np.sqrt(np.abs(signal.correlate2d(im * im, w, mode="same") - mu * mu))
        sd = (im - mu) / (sigma + 1)
        v = sd.ravel()
        rho = np.mean(v**2) / np.mean(np.abs(v)) ** 2
        feat += [GAM[int(np.argmin(np.abs(rho - R_GGD)))], np.mean(v**2)]
        for shift in ((0, 1), (1, 0), (1, 1), (-1, 1)):
            pair = v * np.roll(sd, shift, axis=(0, 1)).ravel()
            left = math.sqrt(np.mean(pair[pair < 0] ** 2))
            right = math.sqrt(np.mean(pair[pair > 0] ** 2))
            g = left / right
            r = np.mean(np.abs(pair)) ** 2 / np.mean(pair**2)
            rn = r * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
            a = GAM[int(np.argmin((R_AGGD - rn) ** 2))]
            const = math.sqrt(gamma(1 / a)) / math.sqrt(gamma(3 / a))
            feat += [a, (right - left) * gamma(2 / a) / gamma(1 / a) * const, left**2, right**2]
        im = imresize(im, 0.5)
    return np.array(feat)


def _svr_reference(feat, text_io):
    """svm-scale + svm-predict written out with a loop over support vectors.

    With ``text_io`` the numbers pass through the release's text files:
    MATLAB ``fprintf('%f')``, svm-scale ``printf("%g")``, and the libsvm 2.x
    svm-predict ``fprintf(output, "%g\\n", predict_label)``.
    """
    lo, hi = MODEL["feature_min"], MODEL["feature_max"]
    x = [float(f"{v:f}") if text_io else v for v in feat]
    scaled = []
    for j, v in enumerate(x):
        if v == lo[j]:
            s = -1.0
        elif v == hi[j]:
            s = 1.0
        else:
            s = -1.0 + 2.0 * (v - lo[j]) / (hi[j] - lo[j])
        scaled.append(float(f"{s:g}") if text_io else s)
    total = 0.0
    for coef, sv in zip(MODEL["dual_coef"], MODEL["support_vectors"]):
        total += coef * math.exp(-MODEL["gamma"] * sum((a - b) ** 2 for a, b in zip(scaled, sv)))
    score = total - float(MODEL["rho"])
    return float(f"{score:g}") if text_io else score


@pytest.fixture(scope="module")
def camera():
    return data.camera()


def test_features_match_literal_transcription(camera):
    np.testing.assert_allclose(brisque_features(camera, data_range=255),
                               _features_reference(camera), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("text_io", [True, False])
def test_score_matches_transcribed_svr(camera, text_io):
    feat = _features_reference(camera)
    expected = _svr_reference(feat, text_io)
    got = brisque(camera, data_range=255, brisque_live=MODEL, libsvm_text_io=text_io)
    assert abs(got - expected) < 1e-8


def test_text_io_rounding_is_a_small_effect(camera):
    a = brisque(camera, data_range=255, brisque_live=MODEL, libsvm_text_io=True)
    b = brisque(camera, data_range=255, brisque_live=MODEL, libsvm_text_io=False)
    assert a != b and abs(a - b) < 0.05


def test_scaling_hits_range_ends_exactly():
    # svm-scale maps a feature equal to its minimum (maximum) to -1 (+1); with
    # all features at the minimum every scaled value is -1
    lo = np.asarray(MODEL["feature_min"])
    sv, coef = np.asarray(MODEL["support_vectors"]), np.asarray(MODEL["dual_coef"])
    k = np.exp(-MODEL["gamma"] * ((sv + 1.0) ** 2).sum(axis=1))
    expected = float(coef @ k - MODEL["rho"])
    got = brisque_predict(lo, brisque_live=MODEL, libsvm_text_io=False)
    assert abs(got - expected) < 1e-9
    # with the release's text output the score keeps 6 significant digits
    assert brisque_predict(lo, brisque_live=MODEL) == float(f"{expected:g}")


def test_colour_input_uses_matlab_rgb2gray():
    img = data.astronaut()[:200, :256]
    direct = brisque(rgb2gray_matlab(img), data_range=255, brisque_live=MODEL)
    assert score_arrays("brisque", img, data_range=255) == direct


def test_uint8_and_float_of_same_values_agree(camera):
    a = brisque(camera, data_range=255, brisque_live=MODEL)
    assert brisque(camera.astype(np.float64), data_range=255, brisque_live=MODEL) == a
    assert abs(brisque(camera.astype(np.uint16) * 257, data_range=65535,
                       brisque_live=MODEL) - a) < 1e-6


def test_deterministic(camera):
    assert len({brisque(camera, data_range=255, brisque_live=MODEL) for _ in range(3)}) == 1


def test_increases_with_blur_and_noise(camera):
    g = camera.astype(np.float64)
    rng = np.random.default_rng(0)
    blur = [brisque(np.round(ndimage.gaussian_filter(g, s)) if s else g, data_range=255,
                    brisque_live=MODEL) for s in (0, 1, 2, 3)]
    noise = [brisque(np.clip(np.round(g + rng.normal(0, s, g.shape)), 0, 255), data_range=255,
                     brisque_live=MODEL) for s in (0, 5, 15, 30)]
    assert np.all(np.diff(blur) > 0), blur
    assert np.all(np.diff(noise) > 0), noise


def test_model_file_is_the_pinned_live_release():
    raw = resource_path("brisque_live").read_bytes()
    # SHA256 of the converted LIVE allmodel/allrange (../shared/data/brisque)
    assert hashlib.sha256(raw).hexdigest() == (
        "55fe26655906beb3b2ca2127f1f7b29f82c6e5d5e45c5f447df8b2a263346724"
    )
    assert MODEL["support_vectors"].shape == (774, 36)
    assert float(MODEL["gamma"]) == 0.05 and float(MODEL["rho"]) == -153.591
    assert np.all(np.asarray(MODEL["feature_max"]) > np.asarray(MODEL["feature_min"]))


def test_registered_as_nr_lower_is_better():
    spec = get_metric("brisque")
    assert spec.kind == "NR" and not spec.higher_is_better
    assert spec.resources == ("brisque_live",)


def test_bad_inputs():
    with pytest.raises(MetricInputError, match="constant"):
        brisque(np.full((64, 64), 9.0), data_range=255, brisque_live=MODEL)
    with pytest.raises(MetricInputError, match="at least"):
        brisque(np.zeros((5, 64)), data_range=255, brisque_live=MODEL)
    with pytest.raises(MetricInputError, match="36 features"):
        brisque_predict(np.zeros(35), brisque_live=MODEL)
