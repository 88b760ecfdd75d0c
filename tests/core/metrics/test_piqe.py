"""PIQE: literal block-by-block transcription of MATLAB ``piqe``, properties.

MATLAB's documentation examples score images that ship with MATLAB and not
with scikit-image, and no other project records MATLAB ``piqe`` values on an
image available offline, so the vectorised implementation is checked against
the block loop below (written from the algorithm MATLAB documents and the
paper, including its column-deletion detail) and against properties.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage import data

from eyetest.core.color import rgb2gray_matlab
from eyetest.core.metrics._matlab import fspecial_gaussian
from eyetest.core.metrics.piqe import piqe, piqe_maps
from eyetest.core.metrics.registry import get_metric
from eyetest.run.compute import score_arrays


def _piqe_reference(gray_u8):
    img = gray_u8.astype(np.float64)
    h, w = img.shape
    img = np.pad(img, ((0, (-h) % 16), (0, (-w) % 16)), mode="edge")
    win = fspecial_gaussian(7, 7 / 6)
    mu = ndimage.correlate(img, win, mode="nearest")
    sigma = np.sqrt(np.abs(ndimage.correlate(img * img, win, mode="nearest") - mu * mu))
    norm = (img - mu) / (sigma + 1)
    total, n_active = 0.0, 0
    for i in range(0, norm.shape[0], 16):
        for j in range(0, norm.shape[1], 16):
            block = norm[i:i + 16, j:j + 16]
            var = np.var(block, ddof=1)
            if not var > 0.1:
                continue
            n_active += 1
            edges = [block[0, :], block[:, 15], block[15, :], block[:, 0]]
            impaired = any(np.std(e[s:s + 6], ddof=1) < 0.1 for e in edges for s in range(11))
            centre = np.concatenate([block[:, 7], block[:, 8]])
            rest = np.delete(block, 7, axis=1)
            rest = np.delete(rest, 8, axis=1)  # MATLAB deletes column 9 of the shrunken block
            ratio = np.std(centre, ddof=1) / np.std(rest, ddof=1)
            ratio = 0.0 if np.isnan(ratio) else ratio
            s = np.sqrt(var)
            beta = abs(s - ratio) / max(s, ratio)
            total += (1 - var) * impaired + var * (s > 2 * beta)
    return (total + 1) / (n_active + 1) * 100


@pytest.mark.parametrize("name,crop", [("camera", None), ("coffee", (150, 203)),
                                       ("astronaut", (512, 512))])
def test_matches_block_loop_transcription(name, crop):
    g = rgb2gray_matlab(getattr(data, name)())
    if crop:
        g = g[: crop[0], : crop[1]]
    assert abs(piqe(g, data_range=255) - _piqe_reference(g)) < 1e-9


def test_uniform_image_scores_100():
    # MATLAB piqe documentation, note 5: a uniform image gets 100
    assert piqe(np.full((40, 50), 128, np.uint8), data_range=255) == 100.0


def test_masks_have_the_input_size_and_nest():
    g = data.camera()[:100, :150]
    score, active, artifacts, noise = piqe_maps(g, data_range=255)
    assert active.shape == artifacts.shape == noise.shape == g.shape
    assert not np.any(artifacts & ~active) and not np.any(noise & ~active)
    assert 0.0 <= score <= 100.0


def test_float_unit_range_equals_uint8():
    # im2double of uint8 is x/255 and round(255 * .) recovers x
    g = data.camera()
    assert piqe(g / 255.0, data_range=1.0) == piqe(g, data_range=255)


def test_increases_with_blur_and_noise():
    g = data.camera().astype(np.float64)
    rng = np.random.default_rng(0)
    blur = [piqe(ndimage.gaussian_filter(g, s) if s else g, data_range=255) for s in (0, 1, 2, 3)]
    noise = [piqe(np.clip(g + rng.normal(0, s, g.shape), 0, 255), data_range=255)
             for s in (0, 5, 15, 30)]
    assert np.all(np.diff(blur) > 0), blur
    assert np.all(np.diff(noise) > 0), noise


def test_registered_and_colour_via_preset():
    spec = get_metric("piqe")
    assert spec.kind == "NR" and not spec.higher_is_better
    img = data.chelsea()
    assert score_arrays("piqe", img, data_range=255) == piqe(rgb2gray_matlab(img), data_range=255)
