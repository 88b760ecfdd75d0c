"""Properties every registered manipulation must have (hypothesis over images and dtypes)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eyetest.core.manipulate import get_manipulation, list_manipulations
from eyetest.errors import ManipulationError, UnknownNameError

NAMES = [m.name for m in list_manipulations()]
DTYPES = {"uint8": 255.0, "uint16": 65535.0, "float32": 1.0, "float64": 1.0}


@st.composite
def images(draw):
    dtype = draw(st.sampled_from(sorted(DTYPES)))
    h = draw(st.integers(8, 24))
    w = draw(st.integers(8, 24))
    channels = draw(st.sampled_from([0, 1, 3]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shape = (h, w) if channels == 0 else (h, w, channels)
    data_range = DTYPES[dtype]
    if dtype.startswith("uint"):
        arr = rng.integers(0, int(data_range) + 1, size=shape).astype(dtype)
    else:
        arr = rng.random(shape).astype(dtype)
    return arr, data_range


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=15, deadline=None)
@given(sample=images())
def test_strength_zero_is_exact_identity(name, sample):
    image, data_range = sample
    before = image.copy()
    out = get_manipulation(name)(image, data_range=data_range, strength=0.0,
                                 rng=np.random.default_rng(0))
    assert out.dtype == image.dtype and out.shape == image.shape
    np.testing.assert_array_equal(out, image)
    assert out is not image  # a copy, never the caller's array
    np.testing.assert_array_equal(image, before)  # input untouched


@settings(max_examples=25, deadline=None)
@given(sample=images(), strength=st.floats(0, 100))
def test_identity_is_exact_at_any_strength(sample, strength):
    image, data_range = sample
    out = get_manipulation("identity")(image, data_range=data_range, strength=strength)
    assert out.dtype == image.dtype
    np.testing.assert_array_equal(out, image)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=10, deadline=None)
@given(sample=images(), pick=st.integers(0, 4))
def test_dtype_shape_and_range_preserved(name, sample, pick):
    image, data_range = sample
    m = get_manipulation(name)
    if name == "jpeg" and image.ndim == 3 and image.shape[2] not in (1, 3):
        return
    strength = m.strengths[min(pick, len(m.strengths) - 1)]
    out = m(image, data_range=data_range, strength=strength, rng=np.random.default_rng(1))
    assert out.dtype == image.dtype and out.shape == image.shape
    assert np.all(np.isfinite(out))
    assert out.min() >= 0 and out.max() <= data_range
    if np.issubdtype(image.dtype, np.integer):
        assert out.dtype == image.dtype  # rounded and clipped, not wrapped


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_for_fixed_rng(name):
    image = np.random.default_rng(5).integers(0, 256, (32, 40, 3)).astype(np.uint8)
    m = get_manipulation(name)
    s = m.strengths[2 if len(m.strengths) > 2 else 0]
    a = m(image, data_range=255, strength=s, rng=np.random.default_rng(42))
    b = m(image, data_range=255, strength=s, rng=np.random.default_rng(42))
    np.testing.assert_array_equal(a, b)
    if m.random:
        c = m(image, data_range=255, strength=s, rng=np.random.default_rng(43))
        assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", [m.name for m in list_manipulations() if m.random])
def test_random_manipulations_require_rng(name):
    image = np.full((16, 16), 128, np.uint8)
    with pytest.raises(ManipulationError, match="rng"):
        get_manipulation(name)(image, data_range=255, strength=5.0)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "x"])
def test_bad_strength_is_named(bad):
    with pytest.raises(ManipulationError, match="strength"):
        get_manipulation("usm")(np.zeros((8, 8)), data_range=1.0, strength=bad)


def test_bad_inputs_are_named():
    with pytest.raises(ManipulationError, match="data_range"):
        get_manipulation("usm")(np.zeros((8, 8)), data_range=0, strength=1.0)
    with pytest.raises(ManipulationError, match="dtype"):
        get_manipulation("usm")(np.zeros((8, 8), bool), data_range=1, strength=1.0)
    with pytest.raises(ManipulationError, match="shape"):
        get_manipulation("usm")(np.zeros((8,)), data_range=1, strength=1.0)
    with pytest.raises(ManipulationError, match="exceeds"):
        get_manipulation("usm")(np.zeros((8, 8), np.uint8), data_range=1000, strength=1.0)
    with pytest.raises(ManipulationError, match="< 100"):
        get_manipulation("jpeg")(np.zeros((8, 8), np.uint8), data_range=255, strength=100)
    with pytest.raises(UnknownNameError, match="usm"):
        get_manipulation("unsharp")


def test_registry_kinds_and_grids():
    ms = list_manipulations()
    assert {m.kind for m in ms} == {"trick", "degradation", "enhancement", "identity"}
    for m in ms:
        assert list(m.strengths) == sorted(m.strengths) and m.strengths[0] > 0
        assert m.fidelity_reducing == (m.kind in ("trick", "degradation"))
    assert get_manipulation("USM").sharpening
    assert not get_manipulation("contrast").fidelity_reducing
    assert get_manipulation("downup-alias").fidelity_reducing


def test_integer_results_round_half_away_and_clip():
    from eyetest.core.color import round_half_away
    from eyetest.core.manipulate._common import restore

    vals = np.array([0.5, 1.5, 2.5, 3.49999, 254.5, 300.0, -3.0])
    out = restore(vals.copy(), np.zeros(1, np.uint8), data_range=255)
    expected = np.clip(round_half_away(np.clip(vals, 0, 255)), 0, 255)
    np.testing.assert_array_equal(out, expected.astype(np.uint8))
    np.testing.assert_array_equal(out, [1, 2, 3, 3, 255, 255, 0])
    f = restore(np.array([-0.1, 0.25, 1.7]), np.zeros(1, np.float32), data_range=1.0)
    assert f.dtype == np.float32
    np.testing.assert_array_equal(f, np.array([0.0, 0.25, 1.0], np.float32))
