"""NIQE: agreement with a literal transcription of the LIVE algorithm, properties.

No MATLAB output of the LIVE release on an image available offline was found
(the published values are on images not shipped here: BasicSR records MATLAB
R2021a = 5.7296 on its tests/data/baboon.png; pyiqa's calibration uses five
TID2013 images).  The implementation is therefore checked against a
straightforward per-patch transcription of computequality.m /
computefeature.m written below (2-D filtering, per-patch loops, np.roll,
full-table argmin), and by properties.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.special import gamma
from skimage import data

from eyetest.core.color import rgb2gray_matlab, rgb_to_y_bt601, round_half_away
from eyetest.core.metrics._matlab import colon, imresize
from eyetest.core.metrics.niqe import niqe, niqe_features
from eyetest.core.metrics.registry import get_metric
from eyetest.errors import MetricInputError
from eyetest.io.resources import load_resource
from eyetest.run.compute import score_arrays

PRIS = load_resource("niqe_pristine")
GAM = colon(0.2, 0.001, 10.0)
R_GAM = gamma(2 / GAM) ** 2 / (gamma(1 / GAM) * gamma(3 / GAM))


def _aggd(vec):
    left = math.sqrt(np.mean(vec[vec < 0] ** 2))
    right = math.sqrt(np.mean(vec[vec > 0] ** 2))
    g = left / right
    r = np.mean(np.abs(vec)) ** 2 / np.mean(vec**2)
    rn = r * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    alpha = GAM[int(np.argmin((R_GAM - rn) ** 2))]
    c = math.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return alpha, left * c, right * c


def _computefeature(block):
    alpha, bl, br = _aggd(block.ravel())
    feat = [alpha, (bl + br) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        pair = block.ravel() * np.roll(block, shift, axis=(0, 1)).ravel()
        alpha, bl, br = _aggd(pair)
        feat += [alpha, (br - bl) * gamma(2 / alpha) / gamma(1 / alpha), bl, br]
    return feat


def _niqe_reference(gray):
    im = gray.astype(np.float64)
    bs = 96
    im = im[: im.shape[0] // bs * bs, : im.shape[1] // bs * bs]
    window = np.asarray(PRIS["gaussian_window"])
    feats = []
    for scale in (1, 2):
        mu = ndimage.correlate(im, window, mode="nearest")
        sigma = np.sqrt(np.abs(ndimage.correlate(im * im, window, mode="nearest") - mu * mu))
        sd = (im - mu) / (sigma + 1)
        size = bs // scale
        rows = []
        for c in range(sd.shape[1] // size):
            for r in range(sd.shape[0] // size):
                rows.append(_computefeature(sd[r * size:(r + 1) * size, c * size:(c + 1) * size]))
        feats.append(np.array(rows))
        im = imresize(im, 0.5)
    f = np.hstack(feats)
    mu_d = np.mean(f, axis=0)
    cov_d = np.cov(f, rowvar=False)
    d = np.asarray(PRIS["mu_pris_param"]).ravel() - mu_d
    return float(np.sqrt(d @ np.linalg.pinv((np.asarray(PRIS["cov_pris_param"]) + cov_d) / 2) @ d))


@pytest.fixture(scope="module")
def camera():
    return data.camera()


def test_matches_literal_transcription(camera):
    # camera has no flat 7x7 regions, so the exact-zero rule of mscn() is moot
    ref = _niqe_reference(camera)
    assert abs(niqe(camera, data_range=255, niqe_pristine=PRIS) - ref) < 1e-9


def test_matches_transcription_on_colour_via_matlab_preset():
    img = data.chelsea()
    ref = _niqe_reference(rgb2gray_matlab(img))
    assert abs(score_arrays("niqe", img, data_range=255) - ref) < 1e-9


def test_features_shape_and_patch_count(camera):
    f = niqe_features(camera[:300, :500], data_range=255, window=PRIS["gaussian_window"])
    assert f.shape == ((300 // 96) * (500 // 96), 36)
    assert np.all(np.isfinite(f))
    # shape parameters live on the LIVE grid 0.2:0.001:10
    assert np.all(np.isin(f[:, [0, 2, 6, 10, 14, 18, 20, 24, 28, 32]], GAM))


def test_remainder_beyond_whole_patches_is_ignored(camera):
    a = niqe(camera[:480, :480], data_range=255, niqe_pristine=PRIS)
    b = niqe(camera[:500, :510], data_range=255, niqe_pristine=PRIS)
    assert a == b


def test_uint8_and_float_of_same_values_agree_and_range_scaling(camera):
    base = niqe(camera, data_range=255, niqe_pristine=PRIS)
    assert niqe(camera.astype(np.float64), data_range=255, niqe_pristine=PRIS) == base
    u16 = camera.astype(np.uint16) * 257  # same picture on 0..65535
    assert abs(niqe(u16, data_range=65535, niqe_pristine=PRIS) - base) < 1e-9
    assert abs(niqe(camera / 255.0, data_range=1.0, niqe_pristine=PRIS) - base) < 1e-9


def test_deterministic(camera):
    vals = {niqe(camera, data_range=255, niqe_pristine=PRIS) for _ in range(3)}
    assert len(vals) == 1


@pytest.mark.parametrize("name", ["camera", "astronaut"])
def test_increases_with_blur_and_noise(name):
    g = rgb2gray_matlab(getattr(data, name)()).astype(np.float64)
    rng = np.random.default_rng(0)
    blur = [niqe(np.round(ndimage.gaussian_filter(g, s)) if s else g, data_range=255,
                 niqe_pristine=PRIS) for s in (0, 1, 2, 3)]
    noise = [niqe(np.clip(np.round(g + rng.normal(0, s, g.shape)), 0, 255), data_range=255,
                  niqe_pristine=PRIS) for s in (0, 5, 15, 30)]
    assert np.all(np.diff(blur) > 0), blur
    assert np.all(np.diff(noise) > 0), noise


def test_sr_y_preset_is_rounded_cropped_bt601_y():
    img = data.coffee()
    y = rgb_to_y_bt601(img, data_range=255)[4:-4, 4:-4]
    expected = niqe(round_half_away(y), data_range=255, niqe_pristine=PRIS)
    assert score_arrays("niqe", img, data_range=255, preset="sr-y-crop4") == expected
    assert get_metric("niqe").settings("sr-y-crop4") == {"round_input": True, "color": "y",
                                                         "crop": 4}


def test_registered_as_nr_lower_is_better():
    spec = get_metric("niqe")
    assert spec.kind == "NR" and not spec.higher_is_better
    assert spec.resources == ("niqe_pristine",)
    assert spec.settings("matlab")["color"] == "gray"


def test_pristine_model_shapes():
    mu, cov = np.asarray(PRIS["mu_pris_param"]), np.asarray(PRIS["cov_pris_param"])
    assert mu.shape == (1, 36) and cov.shape == (36, 36)
    np.testing.assert_allclose(cov, cov.T, atol=1e-12)
    assert np.linalg.eigvalsh((cov + cov.T) / 2).min() > -1e-10


def test_bad_inputs():
    with pytest.raises(MetricInputError, match="at least 96x96"):
        niqe(np.zeros((95, 200)), data_range=255, niqe_pristine=PRIS)
    with pytest.raises(MetricInputError, match="constant"):
        niqe(np.full((96, 96), 7.0), data_range=255, niqe_pristine=PRIS)
    with pytest.raises(MetricInputError, match="2-D"):
        niqe(np.zeros((96, 96, 3)), data_range=255, niqe_pristine=PRIS)
    with pytest.raises(MetricInputError, match="data_range"):
        niqe(np.zeros((96, 96)), data_range=0, niqe_pristine=PRIS)
