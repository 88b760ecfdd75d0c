"""read_image touches no process-wide warning state: ``warn=False`` keeps the alpha note without a
warning, an all-NaN float image needs no silenced RuntimeWarning, and Pillow's process-wide size
guard is always put back, however reads interleave across threads."""

from __future__ import annotations

import io
import threading
import warnings

import numpy as np
import png
import pytest
import tifffile
from PIL import Image as PILImage

from eyetest.errors import ImageReadError
from eyetest.io.images import AlphaWarning, read_image

RNG = np.random.default_rng(7)
RGB8 = RNG.integers(0, 256, (9, 11, 3), dtype=np.uint8)
RGB16 = RNG.integers(0, 65536, (9, 11, 3), dtype=np.uint16)


def _alpha(dtype, top):
    a = RNG.integers(0, top + 1, (9, 11)).astype(dtype)
    a[0, 0] = 0                                    # not fully opaque: the alpha rule applies
    return a


def _rgba_png8(p):
    PILImage.fromarray(np.dstack([RGB8, _alpha(np.uint8, 255)])).save(p / "a.png")
    return p / "a.png"


def _rgba_png16(p):
    rgba = np.dstack([RGB16, _alpha(np.uint16, 65535)])
    with open(p / "a16.png", "wb") as fh:
        png.Writer(11, 9, greyscale=False, alpha=True, bitdepth=16).write(fh, rgba.reshape(9, -1))
    return p / "a16.png"


def _rgba_tiff16(p):
    tifffile.imwrite(p / "a16.tif", np.dstack([RGB16, _alpha(np.uint16, 65535)]), photometric="rgb",
                     extrasamples=["unassalpha"])
    return p / "a16.tif"


@pytest.mark.parametrize("make", [_rgba_png8, _rgba_png16, _rgba_tiff16], ids=["png8", "png16", "tiff16"])
@pytest.mark.parametrize("alpha", ["composite", "drop"])
def test_warn_false_keeps_the_note_and_issues_no_warning(tmp_path, make, alpha):
    path = make(tmp_path)
    with pytest.warns(AlphaWarning) as rec:          # the default: a warning naming the file ...
        loud = read_image(path, alpha=alpha)
    assert len(rec) == 1 and path.name in str(rec[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # ... warn=False: none at all
        quiet = read_image(path, alpha=alpha, warn=False)
    np.testing.assert_array_equal(quiet.array, loud.array)
    assert quiet.notes == loud.notes and any(alpha in n for n in quiet.notes)


def _float_tiff(array) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, array, photometric="minisblack")
    return buf.getvalue()


def test_nan_float_images_need_no_silenced_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # an all-NaN image: read as is, no note
        im = read_image("nan.tif", data=_float_tiff(np.full((5, 6), np.nan, np.float32)))
    assert np.isnan(im.array).all() and im.notes == ()
    # NaN samples are skipped when finding the range (as np.nanmin / np.nanmax do)
    part = np.linspace(-0.2, 1.3, 30, dtype=np.float32).reshape(5, 6)
    part[0, 0] = part[4, 5] = np.nan
    lo, hi = float(np.nanmin(part)), float(np.nanmax(part))
    im = read_image("part.tif", data=_float_tiff(part))
    assert f"float values from {lo:.6g} to {hi:.6g}" in im.notes[0]
    part[2, 2] = 1.6
    with pytest.raises(ImageReadError, match=f"values from {lo:.6g} to 1.6,"):
        read_image("part.tif", data=_float_tiff(part))


def test_reading_nan_images_in_threads_swallows_no_other_warning():
    """Threads reading all-NaN float images while this thread warns: every warning arrives (the
    old ``catch_warnings`` around ``np.nanmin`` dropped nearly all of them)."""
    data = _float_tiff(np.full((600, 600), np.nan, np.float32))
    stop, errors = threading.Event(), []

    def reader():
        try:
            while not stop.is_set():
                read_image("nan.tif", data=data)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    n = 200
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        filters = list(warnings.filters)
        readers = [threading.Thread(target=reader) for _ in range(3)]
        for r in readers:
            r.start()
        try:
            for i in range(n):
                warnings.warn(f"w{i}", RuntimeWarning)
                stop.wait(0.001)
        finally:
            stop.set()
            for r in readers:
                r.join()
        assert warnings.filters == filters
    assert errors == []
    assert [str(w.message) for w in rec] == [f"w{i}" for i in range(n)]


def test_concurrent_reads_put_pillows_size_guard_back(tmp_path, monkeypatch):
    """Two reads whose Pillow opens would interleave: Pillow's process-wide MAX_IMAGE_PIXELS is off
    inside each open and back at the caller's value afterwards (it used to be left at None, Pillow's
    decompression-bomb guard off for the whole process)."""
    path = tmp_path / "x.png"
    PILImage.fromarray(RGB8).save(path)
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 50)   # below 9 * 11: Pillow alone would refuse
    real_open = PILImage.open
    second_inside, first_done = threading.Event(), threading.Event()
    seen = []

    def open_(*args, **kwargs):
        seen.append(PILImage.MAX_IMAGE_PIXELS)
        if threading.current_thread().name == "second":
            second_inside.set()
            first_done.wait(5)
        else:  # let the second read start while the first is inside Pillow (if it can)
            second.start()
            second_inside.wait(0.5)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(PILImage, "open", open_)
    results = []
    second = threading.Thread(target=lambda: results.append(read_image(path)), name="second")
    first = read_image(path)
    first_done.set()
    second.join()
    assert seen == [None, None]                      # eyetest's limit governs, not Pillow's
    assert PILImage.MAX_IMAGE_PIXELS == 50
    np.testing.assert_array_equal(first.array, RGB8)
    np.testing.assert_array_equal(results[0].array, RGB8)
