"""Image reading: exact round trips for every supported kind, and named errors.

Files are written with independent writers (Pillow, tifffile, pypng) and the
decoded arrays are compared with what was written, bit for bit.
"""

from __future__ import annotations

import warnings

import numpy as np
import png
import pytest
import tifffile
from PIL import Image as PILImage
from PIL import ImageOps

from eyetest.errors import EyetestError, ImageReadError
from eyetest.io.images import (
    DEFAULT_MAX_PIXELS,
    AlphaWarning,
    apply_orientation,
    encode_png,
    max_pixels_limit,
    read_image,
)

RNG = np.random.default_rng(12345)
RGB8 = RNG.integers(0, 256, (13, 17, 3), dtype=np.uint8)
GRAY8 = RNG.integers(0, 256, (13, 17), dtype=np.uint8)
RGB16 = RNG.integers(0, 65536, (13, 17, 3), dtype=np.uint16)
GRAY16 = RNG.integers(0, 65536, (13, 17), dtype=np.uint16)


def _read_quiet(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning expected unless a test says so
        return read_image(path, **kw)


@pytest.mark.parametrize("ext,kwargs", [
    (".png", {}), (".bmp", {}), (".tif", {}), (".tiff", {"compression": "tiff_lzw"}),
    (".webp", {"lossless": True}),
])
@pytest.mark.parametrize("array", [RGB8, GRAY8], ids=["rgb", "gray"])
def test_8bit_round_trip(tmp_path, ext, kwargs, array):
    path = tmp_path / f"x{ext}"
    PILImage.fromarray(array).save(path, **kwargs)
    im = _read_quiet(path)
    if ext == ".webp" and array.ndim == 2:  # WebP stores colour: gray comes back as R=G=B
        assert im.array.shape == array.shape + (3,)
        for c in range(3):
            np.testing.assert_array_equal(im.array[..., c], array)
    else:
        assert im.array.dtype == np.uint8 and im.array.shape == array.shape
        np.testing.assert_array_equal(im.array, array)
    assert im.data_range == 255 and im.bit_depth == 8 and im.path == str(path)


def test_jpeg_matches_pillow_decode(tmp_path):
    path = tmp_path / "x.jpg"
    PILImage.fromarray(RGB8).save(path, quality=90)
    im = _read_quiet(path)
    np.testing.assert_array_equal(im.array, np.asarray(PILImage.open(path).convert("RGB")))
    assert im.data_range == 255 and im.mode == "RGB"


def test_cmyk_jpeg_converted_to_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    PILImage.fromarray(RGB8).convert("CMYK").save(path)
    im = _read_quiet(path)
    assert im.mode == "CMYK" and im.array.shape == RGB8.shape
    np.testing.assert_array_equal(im.array, np.asarray(PILImage.open(path).convert("RGB")))
    assert any("CMYK" in n for n in im.notes)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16bit_gray_round_trip(tmp_path, ext):
    path = tmp_path / f"g16{ext}"
    if ext == ".png":
        PILImage.fromarray(GRAY16).save(path)
    else:
        tifffile.imwrite(path, GRAY16)
    im = _read_quiet(path)
    assert im.array.dtype == np.uint16 and im.data_range == 65535 and im.bit_depth == 16
    np.testing.assert_array_equal(im.array, GRAY16)


def test_16bit_rgb_png_round_trip(tmp_path):
    path = tmp_path / "c16.png"
    with open(path, "wb") as fh:
        png.Writer(17, 13, greyscale=False, bitdepth=16).write(fh, RGB16.reshape(13, -1))
    im = _read_quiet(path)
    assert im.array.dtype == np.uint16 and im.data_range == 65535 and im.mode == "RGB;16"
    np.testing.assert_array_equal(im.array, RGB16)


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("planar", ["contig", "separate"])
def test_16bit_rgb_tiff_round_trip(tmp_path, planar, byteorder):
    path = tmp_path / "c16.tif"
    data = RGB16 if planar == "contig" else np.moveaxis(RGB16, 2, 0)
    tifffile.imwrite(path, data, photometric="rgb", planarconfig=planar, byteorder=byteorder)
    im = _read_quiet(path)
    assert im.array.dtype == np.uint16 and im.data_range == 65535
    np.testing.assert_array_equal(im.array, RGB16)


@pytest.mark.parametrize("shape", [(13, 17), (13, 17, 3)])
def test_float_tiff_keeps_values_and_range_one(tmp_path, shape):
    data = RNG.random(shape).astype(np.float32)
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, data, photometric="rgb" if len(shape) == 3 else "minisblack")
    im = _read_quiet(path)
    assert im.array.dtype == np.float32 and im.data_range == 1.0 and im.bit_depth == 32
    np.testing.assert_array_equal(im.array, data)


@pytest.mark.parametrize("low,high", [(3.0, 218.0), (-0.6, 0.9), (0.0, 1.51)])
def test_float_outside_unit_range_refused_naming_min_max(tmp_path, low, high):
    data = np.linspace(low, high, 13 * 17, dtype=np.float32).reshape(13, 17)
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, data, photometric="minisblack")
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert info.value.path == str(path)
    assert f"values from {float(data.min()):.6g} to {float(data.max()):.6g}" in str(info.value)
    assert "[0, 1]" in str(info.value)


def test_float_within_tolerance_accepted_with_a_note(tmp_path):
    data = np.linspace(-0.04, 1.2, 13 * 17 * 3, dtype=np.float32).reshape(13, 17, 3)
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, data, photometric="rgb")
    im = _read_quiet(path)
    np.testing.assert_array_equal(im.array, data)
    assert any("outside [0, 1]" in n and "1.2" in n for n in im.notes)
    inside = tmp_path / "g.tif"
    tifffile.imwrite(inside, np.clip(data, 0, 1), photometric="rgb")
    assert not any("outside" in n for n in _read_quiet(inside).notes)


@pytest.mark.parametrize("write", [
    lambda p: PILImage.fromarray(RGB8).save(p.with_suffix(".png")) or p.with_suffix(".png"),
    lambda p: png.from_array(RGB16.reshape(13, -1), "RGB;16").save(p.with_suffix(".png"))
    or p.with_suffix(".png"),
    lambda p: tifffile.imwrite(p.with_suffix(".tif"), RNG.random((13, 17, 3)).astype(np.float32),
                               photometric="rgb") or p.with_suffix(".tif"),
], ids=["png8", "png16", "float-tiff"])
def test_data_decodes_the_given_bytes(tmp_path, write):
    path = write(tmp_path / "x")
    from_file = read_image(path)
    data = path.read_bytes()
    path.unlink()  # only the bytes are read
    from_bytes = read_image(path, data=data)
    np.testing.assert_array_equal(from_bytes.array, from_file.array)
    assert (from_bytes.data_range, from_bytes.mode, from_bytes.path) == (
        from_file.data_range, from_file.mode, from_file.path)


def _rgba8():
    a = RNG.integers(0, 256, (13, 17), dtype=np.uint8)
    a[0, 0] = 0
    a[0, 1] = 255
    return np.dstack([RGB8, a])


def test_rgba_composited_on_white_with_warning(tmp_path):
    rgba = _rgba8()
    path = tmp_path / "a.png"
    PILImage.fromarray(rgba).save(path)
    with pytest.warns(AlphaWarning, match="a.png"):
        im = read_image(path)
    a = rgba[..., 3:].astype(float) / 255
    expected = np.floor(rgba[..., :3] * a + 255 * (1 - a) + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(im.array, expected)
    np.testing.assert_array_equal(im.array[0, 0], [255, 255, 255])  # transparent -> white
    np.testing.assert_array_equal(im.array[0, 1], RGB8[0, 1])  # opaque -> unchanged
    assert im.mode == "RGBA" and any("composited" in n for n in im.notes)


def test_rgba_drop(tmp_path):
    rgba = _rgba8()
    path = tmp_path / "a.png"
    PILImage.fromarray(rgba).save(path)
    with pytest.warns(AlphaWarning):
        im = read_image(path, alpha="drop")
    np.testing.assert_array_equal(im.array, RGB8)


def test_opaque_alpha_dropped_without_warning(tmp_path):
    path = tmp_path / "o.png"
    PILImage.fromarray(np.dstack([RGB8, np.full(GRAY8.shape, 255, np.uint8)])).save(path)
    im = _read_quiet(path)
    np.testing.assert_array_equal(im.array, RGB8)


def test_gray_alpha_8bit(tmp_path):
    la = np.dstack([GRAY8, np.full(GRAY8.shape, 128, np.uint8)])
    path = tmp_path / "la.png"
    PILImage.fromarray(la, mode="LA").save(path)
    with pytest.warns(AlphaWarning):
        im = read_image(path)
    expected = np.floor(GRAY8 * (128 / 255) + 255 * (1 - 128 / 255) + 0.5).astype(np.uint8)
    assert im.array.shape == GRAY8.shape
    np.testing.assert_array_equal(im.array, expected)


def test_rgba_16bit_png_composite(tmp_path):
    alpha = RNG.integers(0, 65536, (13, 17), dtype=np.uint16)
    rgba = np.dstack([RGB16, alpha])
    path = tmp_path / "a16.png"
    with open(path, "wb") as fh:
        png.Writer(17, 13, greyscale=False, alpha=True, bitdepth=16).write(fh, rgba.reshape(13, -1))
    with pytest.warns(AlphaWarning):
        im = read_image(path)
    a = alpha[..., None] / 65535
    expected = np.floor(RGB16 * a + 65535 * (1 - a) + 0.5).astype(np.uint16)
    assert im.array.dtype == np.uint16
    np.testing.assert_array_equal(im.array, expected)


def test_palette_image_converted(tmp_path):
    path = tmp_path / "p.png"
    pil = PILImage.fromarray(RGB8).quantize(colors=16)
    pil.save(path)
    im = _read_quiet(path)
    assert im.mode == "P" and im.array.shape == RGB8.shape
    np.testing.assert_array_equal(im.array, np.asarray(pil.convert("RGB")))


def test_palette_with_transparency_composited(tmp_path):
    path = tmp_path / "pt.png"
    pil = PILImage.fromarray(RGB8).quantize(colors=8)
    idx = np.asarray(pil)
    pil.save(path, transparency=int(idx[0, 0]))
    with pytest.warns(AlphaWarning):
        im = read_image(path)
    np.testing.assert_array_equal(im.array[0, 0], [255, 255, 255])
    rgb = np.asarray(pil.convert("RGB"))
    keep = idx != idx[0, 0]
    np.testing.assert_array_equal(im.array[keep], rgb[keep])


def test_bilevel_becomes_0_255(tmp_path):
    bits = RNG.integers(0, 2, (13, 17)).astype(bool)
    path = tmp_path / "b.png"
    PILImage.fromarray(bits).save(path)
    im = _read_quiet(path)
    np.testing.assert_array_equal(im.array, bits.astype(np.uint8) * 255)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_like_pillow(tmp_path, orientation):
    pil = PILImage.fromarray(RGB8)
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"
    pil.save(path, exif=exif.tobytes())
    im = _read_quiet(path)
    expected = np.asarray(ImageOps.exif_transpose(PILImage.open(path)).convert("RGB"))
    np.testing.assert_array_equal(im.array, expected)
    # The numpy transform used for the 16-bit paths agrees with Pillow's transpose too.
    np.testing.assert_array_equal(apply_orientation(RGB8, orientation), expected)


def test_jpeg_exif_orientation_like_pillow(tmp_path):
    exif = PILImage.Exif()
    exif[0x0112] = 6
    path = tmp_path / "cam.jpg"
    PILImage.fromarray(RGB8).save(path, exif=exif.tobytes(), quality=95)
    im = _read_quiet(path)
    expected = np.asarray(ImageOps.exif_transpose(PILImage.open(path)))
    assert im.array.shape == (17, 13, 3)
    np.testing.assert_array_equal(im.array, expected)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("array", [GRAY16, RGB8], ids=["gray16", "rgb8"])
def test_pillow_written_tiff_orientation(tmp_path, orientation, array):
    # Pillow 13 rotates TIFFs in place while loading and garbles non-square ones,
    # so oriented TIFFs are decoded by tifffile; the result must match the
    # transform verified against ImageOps.exif_transpose above.
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.tif"
    PILImage.fromarray(array).save(path, exif=exif.tobytes())
    im = _read_quiet(path)
    assert im.array.dtype == array.dtype
    np.testing.assert_array_equal(im.array, apply_orientation(array, orientation))


def test_tiff_orientation_tag_applied(tmp_path):
    path = tmp_path / "o.tif"
    tifffile.imwrite(path, RGB16, photometric="rgb", extratags=[(274, "H", 1, 6, False)])
    im = _read_quiet(path)
    np.testing.assert_array_equal(im.array, np.rot90(RGB16, k=-1))  # 6 = rotate 90 clockwise


def test_pixel_limit_argument_and_env(tmp_path, monkeypatch):
    path = tmp_path / "x.png"
    PILImage.fromarray(RGB8).save(path)
    with pytest.raises(ImageReadError, match="x.png.*exceeds the limit of 100"):
        read_image(path, max_pixels=100)
    monkeypatch.setenv("EYETEST_MAX_PIXELS", "220")
    assert max_pixels_limit() == 220
    with pytest.raises(ImageReadError, match="decompression-bomb"):
        read_image(path)
    assert read_image(path, max_pixels=221).array.shape == RGB8.shape  # 13*17 = 221
    for bad in ("lots", "0", "-5"):
        monkeypatch.setenv("EYETEST_MAX_PIXELS", bad)
        with pytest.raises(EyetestError,
                           match=rf"\$EYETEST_MAX_PIXELS must be a positive integer, got '{bad}'"):
            read_image(path)
    monkeypatch.delenv("EYETEST_MAX_PIXELS")
    assert max_pixels_limit() == DEFAULT_MAX_PIXELS


def test_pixel_limit_checked_before_decoding_16bit_paths(tmp_path):
    path = tmp_path / "c16.tif"
    tifffile.imwrite(path, RGB16, photometric="rgb")
    with pytest.raises(ImageReadError, match="exceeds"):
        read_image(path, max_pixels=10)


def _truncated_png(tmp_path):
    path = tmp_path / "trunc.png"
    PILImage.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("make,reason", [
    (lambda d: d / "missing.png", "no such file"),
    (lambda d: (d / "sub.png").mkdir() or d / "sub.png", "not a regular file"),
    (lambda d: (d / "noise.png").write_bytes(bytes(range(256)) * 4) and d / "noise.png",
     "not an image"),
    (_truncated_png, "corrupt or truncated"),
])
def test_bad_files_raise_named_errors(tmp_path, make, reason):
    path = make(tmp_path)
    with pytest.raises(ImageReadError, match=reason) as info:
        read_image(path)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)


def test_empty_file_named(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert info.value.path == str(path)


def test_unsupported_format_named(tmp_path):
    path = tmp_path / "x.gif"
    PILImage.fromarray(RGB8).save(path)
    with pytest.raises(ImageReadError, match="unsupported format GIF"):
        read_image(path)


def test_corrupt_16bit_png_named(tmp_path):
    path = tmp_path / "c16.png"
    with open(path, "wb") as fh:
        png.Writer(17, 13, greyscale=False, bitdepth=16).write(fh, RGB16.reshape(13, -1))
    data = bytearray(path.read_bytes())
    data[60:80] = b"\x00" * 20  # inside the IDAT stream
    path.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="c16.png"):
        read_image(path)


def test_bad_alpha_argument():
    with pytest.raises(ValueError, match="alpha"):
        read_image("whatever.png", alpha="keep")


@pytest.mark.parametrize("array", [RGB8, GRAY8, RGB16, RGB16[..., 0], GRAY8[..., None]])
def test_encode_png_round_trips_exactly(tmp_path, array):
    # decoded by read_image (Pillow / pypng), the pixels and the bit depth come back unchanged
    path = tmp_path / "x.png"
    path.write_bytes(encode_png(array))
    img = read_image(path)
    np.testing.assert_array_equal(img.array, array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array)
    assert img.array.dtype == array.dtype


@pytest.mark.parametrize("array", [RGB8 / 255.0, RGB8[..., :2], np.zeros((2, 3, 4, 5), np.uint8)])
def test_encode_png_refuses_what_it_cannot_store_losslessly(array):
    with pytest.raises(EyetestError, match="cannot export"):
        encode_png(array)
