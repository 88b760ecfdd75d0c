"""Browser-safe display copies of study images (:func:`display_encoding`).

8-bit JPEG, WebP and opaque 8-bit PNG files are stored byte for byte, less
their embedded metadata (EXIF, XMP, PNG text chunks, JPEG comments:
:mod:`eyetest.study.metadata`), which could name the method to a rater; the
pixels are unchanged.  Anything a browser may show differently from how
eyetest reads it (16-bit PNG, TIFF, BMP, alpha channels, EXIF-rotated files)
is decoded with :func:`eyetest.io.images.read_image` and re-encoded as an
8-bit PNG, for display only: ``v8 = round(v * 255 / data_range)``.  Scores are
always computed from the original files, never from these copies.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from eyetest.io.images import encode_png
from eyetest.study.metadata import strip_metadata


def _png_bit_depth(head: bytes) -> int | None:
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and len(head) >= 25:
        return head[24]
    return None


def to_uint8(array: np.ndarray, *, data_range: float) -> np.ndarray:
    """Scale to 8 bits for display: ``round(v * 255 / data_range)`` clipped to 0..255."""
    if array.dtype == np.uint8:
        return array
    scaled = np.asarray(array, dtype=np.float64) * (255.0 / float(data_range))
    return np.clip(np.floor(scaled + 0.5), 0, 255).astype(np.uint8)


def display_encoding(path) -> tuple[bytes, str, int, int, np.ndarray | None]:
    """Browser-safe bytes for ``path``: ``(content, media_type, width, height, array8)``.

    ``array8`` is the decoded 8-bit array when the file had to be converted
    (``None`` when the original bytes are kept).
    """
    from PIL import Image as PILImage

    from eyetest.io.images import read_image

    path = Path(path)
    try:
        raw = path.read_bytes()
        with PILImage.open(io.BytesIO(raw)) as im:
            fmt, mode, size = im.format, im.mode, im.size
            orientation = im.getexif().get(0x0112, 1) if fmt in ("JPEG", "MPO", "WEBP", "PNG") else 1
            transparent = "transparency" in im.info
    except (OSError, SyntaxError, ValueError) as exc:
        from eyetest.errors import ImageReadError

        raise ImageReadError(str(path), f"cannot be read as an image: {exc}") from None
    keep = orientation in (1, None) and not transparent and (
        (fmt in ("JPEG", "WEBP") and mode in ("L", "RGB"))
        or (fmt == "PNG" and mode in ("L", "RGB", "P") and _png_bit_depth(raw[:32]) in (1, 2, 4, 8))
    )
    if keep:
        media = {"JPEG": "image/jpeg", "WEBP": "image/webp", "PNG": "image/png"}[fmt]
        try:
            # raters get these bytes: no text naming the method (eyetest.study.metadata)
            return strip_metadata(raw, media), media, size[0], size[1], None
        except ValueError:
            pass                        # a layout that cannot be walked: re-encoded below
    img = read_image(path)
    arr8 = to_uint8(img.array, data_range=img.data_range)
    return encode_png(arr8), "image/png", arr8.shape[1], arr8.shape[0], arr8
