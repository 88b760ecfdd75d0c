"""Read images as arrays without losing bits and without silent rescaling.

:func:`read_image` returns an :class:`Image`: the pixel array exactly as
stored (``uint8``, ``uint16`` or float), its ``data_range`` (255, 65535 or
1.0), its bit depth and notes on every conversion that was applied.

Supported: PNG, JPEG (and camera MPO), BMP, TIFF, WebP; grayscale, RGB,
RGBA / gray+alpha, palette and bilevel images; 8 and 16 bits per sample
(32-bit float grayscale/TIFF too).

Conversions (each one is written to ``Image.notes``):

* EXIF orientation (1-8) is applied with the transforms of
  :func:`PIL.ImageOps.exif_transpose`, so arrays are upright as viewers show
  them; other orientation values are ignored.
* Alpha: ``alpha="composite"`` (default) blends onto white,
  ``out = c * a + white * (1 - a)`` with ``a`` in [0, 1], rounded to the
  stored integer type, and emits an :class:`AlphaWarning`; ``alpha="drop"``
  discards the channel (and warns too).  A fully opaque alpha channel is
  dropped silently.  ``warn=False`` keeps the note and issues no warning:
  callers that report notes pass it instead of silencing the warning with
  :class:`warnings.catch_warnings`, which changes the process's warning
  filters and so swallows other threads' warnings (it is not thread-safe).
* Palette images become RGB (RGBA when the palette has transparency, then
  the alpha rule applies); bilevel images become 8-bit 0/255; CMYK, YCbCr,
  LAB and HSV images are converted to RGB by Pillow.

Values are never rescaled: a 16-bit file stays ``uint16`` with
``data_range=65535``.  Pillow converts 16-bit colour PNGs and 16-bit colour
TIFFs to 8 bits, so those go through pypng and tifffile instead.

A float image must hold values on ``[0, 1]``.  One whose samples fall
outside ``[-FLOAT_TOLERANCE, 1 + FLOAT_TOLERANCE]`` (a float TIFF saved on
0-255, say) is refused with an :class:`ImageReadError` naming its minimum
and maximum, since scoring it with ``data_range=1.0`` would give meaningless
numbers.  A smaller overshoot (an unclipped network output) is read as it is,
with a conversion note giving the range.

Decompression bombs: an image with more pixels than ``max_pixels`` (argument,
else the environment variable ``EYETEST_MAX_PIXELS``, else
:data:`DEFAULT_MAX_PIXELS`) is refused before decoding.  Pillow's own guard
(a process-wide setting, ``PIL.Image.MAX_IMAGE_PIXELS``) is switched off
while Pillow reads a header, under a lock (:data:`_PIL_LIMIT_LOCK`), so that
concurrent reads always put the caller's value back.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eyetest.errors import EyetestError, ImageReadError, MetricInputError

#: Default pixel limit: twice Pillow's ``MAX_IMAGE_PIXELS`` warning threshold,
#: the size at which Pillow itself refuses an image.
DEFAULT_MAX_PIXELS = 178_956_970
MAX_PIXELS_ENV = "EYETEST_MAX_PIXELS"

#: File extensions eyetest treats as images (lower case).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
SUPPORTED_FORMATS = ("PNG", "JPEG", "MPO", "BMP", "TIFF", "WEBP")
ALPHA_MODES = ("composite", "drop")

#: Float images outside [0, 1] by more than this are refused; less is noted (see the module docstring).
FLOAT_TOLERANCE = 0.5

#: Bump when decoding or a conversion changes (part of the score cache key).
#: 2: float images outside [0, 1] refused.
READER_VERSION = "2"


class AlphaWarning(UserWarning):
    """An alpha channel was composited onto white (or dropped)."""


@dataclass(frozen=True)
class Image:
    """A decoded image.

    Attributes
    ----------
    array : ``(H, W)`` or ``(H, W, 3)``; ``uint8``, ``uint16`` or float.
    data_range : 255, 65535 or 1.0 (float images).
    bit_depth : bits per sample as stored (8, 16, 32 or 64).
    path : the file read.
    mode : the file's pixel mode before conversion (Pillow mode names, or
        ``"RGB;16"``-style names for the pypng / tifffile paths).
    notes : human-readable notes on each conversion applied.
    """

    array: np.ndarray
    data_range: float
    bit_depth: int
    path: str
    mode: str
    notes: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape


def max_pixels_limit(max_pixels: int | None = None) -> int:
    """The effective pixel limit: argument, else ``EYETEST_MAX_PIXELS``, else default.

    Raises
    ------
    EyetestError
        ``$EYETEST_MAX_PIXELS`` is not a positive integer (the value is named).
    ValueError
        ``max_pixels`` is not positive.
    """
    if max_pixels is None:
        env = os.environ.get(MAX_PIXELS_ENV)
        if env is None or not env.strip():
            return DEFAULT_MAX_PIXELS
        try:
            max_pixels = int(env)
        except ValueError:
            max_pixels = 0
        if max_pixels <= 0:
            raise EyetestError(f"${MAX_PIXELS_ENV} must be a positive integer, got {env!r}")
    if int(max_pixels) <= 0:
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels}")
    return int(max_pixels)


def apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an ``(H, W[, C])`` array.

    Same transforms as :func:`PIL.ImageOps.exif_transpose`: 2 mirror, 3 rotate
    180, 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate
    90 counter-clockwise.
    """
    a = array
    if orientation == 2:
        a = a[:, ::-1]
    elif orientation == 3:
        a = a[::-1, ::-1]
    elif orientation == 4:
        a = a[::-1]
    elif orientation == 5:
        a = a.swapaxes(0, 1)
    elif orientation == 6:
        a = np.rot90(a, k=-1)
    elif orientation == 7:
        a = a.swapaxes(0, 1)[::-1, ::-1]
    elif orientation == 8:
        a = np.rot90(a, k=1)
    return np.ascontiguousarray(a)


def _handle_alpha(color: np.ndarray, alpha: np.ndarray, *, how: str, white: float, path: str,
                  notes: list[str], warn: bool) -> np.ndarray:
    if np.all(alpha == white):
        notes.append("fully opaque alpha channel dropped")
        return color
    if how == "drop":
        notes.append("alpha channel dropped (alpha='drop')")
        if warn:
            warnings.warn(f"{path}: alpha channel dropped", AlphaWarning, stacklevel=3)
        return color
    a = alpha.astype(np.float64) / white
    if color.ndim == 3:
        a = a[..., None]
    out = color.astype(np.float64) * a + white * (1.0 - a)
    if np.issubdtype(color.dtype, np.integer):
        out = np.floor(out + 0.5).astype(color.dtype)
    else:
        out = out.astype(color.dtype)
    notes.append("alpha composited on white (alpha='composite')")
    if warn:
        warnings.warn(f"{path}: alpha channel composited on white", AlphaWarning, stacklevel=3)
    return out


def _split_alpha(arr: np.ndarray, *, how: str, white: float, path: str, notes: list[str],
                 warn: bool):
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        return _handle_alpha(arr[..., :-1], arr[..., -1], how=how, white=white, path=path,
                             notes=notes, warn=warn)
    return arr


def _finish(arr: np.ndarray, *, path: str, mode: str, notes: list[str]) -> Image:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise ImageReadError(path, f"unsupported channel layout {arr.shape}")
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.dtype == np.uint8:
        data_range, depth = 255.0, 8
    elif arr.dtype == np.uint16:
        data_range, depth = 65535.0, 16
    elif arr.dtype in (np.float32, np.float64):
        data_range, depth = 1.0, arr.dtype.itemsize * 8
    else:
        raise ImageReadError(path, f"unsupported sample type {arr.dtype}")
    if data_range == 1.0 and arr.size:
        _check_float_range(arr, path, notes)
    return Image(arr, data_range, depth, path, mode, tuple(notes))


def _check_float_range(arr: np.ndarray, path: str, notes: list[str]) -> None:
    """Refuse float samples outside ``[0, 1]`` by more than :data:`FLOAT_TOLERANCE`; note a smaller overshoot.

    NaN is left to the metrics, which reject it with their own message.  The
    extremes are ``np.fmin.reduce`` / ``np.fmax.reduce``, which skip NaN as
    ``np.nanmin`` / ``np.nanmax`` do (the same values: those are computed
    with them) but give NaN for an all-NaN image instead of warning, so no
    warning needs silencing (``warnings.catch_warnings`` is not thread-safe).
    """
    lo, hi = float(np.fmin.reduce(arr, axis=None)), float(np.fmax.reduce(arr, axis=None))
    if lo < -FLOAT_TOLERANCE or hi > 1.0 + FLOAT_TOLERANCE:
        raise ImageReadError(
            path, f"float image has values from {lo:.6g} to {hi:.6g}, but float images must "
            "lie on [0, 1] (data_range 1.0; eyetest never guesses another range); "
            "save it as 8/16-bit or divide it by its range (e.g. 255)")
    if lo < 0.0 or hi > 1.0:
        notes.append(f"float values from {lo:.6g} to {hi:.6g} lie outside [0, 1]; scored unclipped")


def _png_header(head: bytes) -> tuple[int, int] | None:
    """(bit depth, colour type) of a PNG from its first 26 bytes, else None."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and len(head) >= 26:
        return head[24], head[25]
    return None


def read_image(path, *, alpha: str = "composite", max_pixels: int | None = None,
               data: bytes | None = None, warn: bool = True) -> Image:
    """Read an image file without losing bits or rescaling.

    Parameters
    ----------
    path : file to read.
    alpha : ``"composite"`` (blend on white, warn) or ``"drop"``.
    max_pixels : refuse images with more pixels (default: ``$EYETEST_MAX_PIXELS``
        or :data:`DEFAULT_MAX_PIXELS`).
    data : the file's bytes, already read (``path`` then only names them):
        decoding the very bytes that were hashed keeps a cache key and the
        pixels it stands for together.
    warn : issue an :class:`AlphaWarning` when an alpha channel is composited
        or dropped (the note is in ``Image.notes`` either way).  Callers that
        report the notes pass ``False`` instead of silencing the warning with
        ``warnings.catch_warnings``, which is not thread-safe.

    Raises
    ------
    ImageReadError
        The file is missing, not an image, of an unsupported kind, corrupt,
        truncated, larger than the pixel limit, or a float image outside
        ``[0, 1]`` (see the module docstring); the message names it.
    """
    if alpha not in ALPHA_MODES:
        raise ValueError(f"alpha must be one of {ALPHA_MODES}, got {alpha!r}")
    limit = max_pixels_limit(max_pixels)
    p = Path(path)
    spath = str(p)
    if data is not None:
        head = bytes(data[:32])
    else:
        if not p.exists():
            raise ImageReadError(spath, "no such file")
        if not p.is_file():
            raise ImageReadError(spath, "not a regular file")
        try:
            with open(p, "rb") as fh:
                head = fh.read(32)
        except OSError as exc:
            raise ImageReadError(spath, f"cannot open: {exc.strerror or exc}") from exc
    try:
        if head[:4] in (b"II*\x00", b"MM\x00*"):
            return _read_tiff(p, data, alpha=alpha, limit=limit, warn=warn)
        png = _png_header(head)
        if png is not None and png[0] == 16 and png[1] in (2, 4, 6):
            return _read_png16(p, data, alpha=alpha, limit=limit, warn=warn)
        return _read_pillow(p, data, alpha=alpha, limit=limit, warn=warn)
    except ImageReadError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error, IndexError, KeyError,
            MemoryError) as exc:
        raise ImageReadError(spath, f"corrupt or truncated file ({type(exc).__name__}: {exc})") \
            from exc
    except Exception as exc:  # third-party decoders raise their own classes (png.FormatError...)
        raise ImageReadError(spath, f"cannot decode ({type(exc).__name__}: {exc})") from exc


def _check_pixels(path: str, width: int, height: int, limit: int) -> None:
    if width * height > limit:
        raise ImageReadError(
            path,
            f"{width}x{height} = {width * height} pixels exceeds the limit of {limit} "
            f"(decompression-bomb guard; raise it with max_pixels= or ${MAX_PIXELS_ENV})",
        )


def _source(p: Path, data: bytes | None):
    """What decoders open: the path, or an in-memory file of ``data``."""
    return p if data is None else io.BytesIO(data)


#: Serialises the switch of Pillow's process-wide ``MAX_IMAGE_PIXELS`` in :func:`_open_pillow`.
_PIL_LIMIT_LOCK = threading.Lock()


def _open_pillow(p: Path, data: bytes | None, limit: int):
    """Open (header only) with Pillow's size guard off; eyetest applies its own ``limit``.

    Pillow has no per-call limit: its guard reads the module global
    ``PIL.Image.MAX_IMAGE_PIXELS`` (warns above it, refuses above twice it),
    which would refuse images that a raised ``max_pixels`` allows.  So it is
    set to None for the open and put back; the lock keeps two threads from
    interleaving that save-and-restore (which could leave Pillow's guard off
    for the whole process, or on during the other thread's open).  With the
    guard off Pillow issues no :class:`PIL.Image.DecompressionBombWarning`,
    so none is silenced here (``warnings.catch_warnings`` is not thread-safe).
    Opening reads the header only; decoding happens later, outside the lock.
    """
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    with _PIL_LIMIT_LOCK:
        saved = PILImage.MAX_IMAGE_PIXELS
        PILImage.MAX_IMAGE_PIXELS = None
        try:
            im = PILImage.open(_source(p, data))
        except UnidentifiedImageError:
            raise ImageReadError(str(p), "not an image file (unknown format)") from None
        finally:
            PILImage.MAX_IMAGE_PIXELS = saved
    _check_pixels(str(p), im.width, im.height, limit)
    return im


def _read_pillow(p: Path, data: bytes | None, *, alpha: str, limit: int, warn: bool) -> Image:
    spath = str(p)
    im = _open_pillow(p, data, limit)
    with im:
        fmt = im.format or "?"
        if fmt not in SUPPORTED_FORMATS:
            raise ImageReadError(
                spath, f"unsupported format {fmt}; supported: PNG, JPEG, BMP, TIFF, WebP"
            )
        mode = im.mode
        # TIFFs reach this point only without an orientation tag (see _read_tiff).
        orientation = im.getexif().get(0x0112, 1) if fmt != "TIFF" else 1
        im.load()  # decodes now: truncated/corrupt data raises here
        notes: list[str] = []
        if mode == "1":
            im = im.convert("L")
            notes.append("bilevel image converted to 8-bit 0/255")
        elif mode in ("P", "PA"):
            has_alpha = mode == "PA" or "transparency" in im.info
            im = im.convert("RGBA" if has_alpha else "RGB")
            notes.append("palette image converted to " + ("RGBA" if has_alpha else "RGB"))
        elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
            im = im.convert("RGB")
            notes.append(f"{mode} converted to RGB")
        elif mode in ("RGBa", "La"):
            im = im.convert(mode.upper())
            notes.append(f"premultiplied {mode} un-premultiplied")
        if im.mode in ("L", "LA", "RGB", "RGBA"):
            arr = np.asarray(im)
            arr = _split_alpha(arr, how=alpha, white=255.0, path=spath, notes=notes, warn=warn)
        elif im.mode.startswith("I;16"):
            arr = np.asarray(im).astype(np.uint16)
        elif im.mode == "I":
            arr = np.asarray(im)
            if arr.size and (arr.min() < 0 or arr.max() > 65535):
                raise ImageReadError(spath, "32-bit integer samples outside 0..65535 unsupported")
            arr = arr.astype(np.uint16)
            notes.append("32-bit integer samples within 0..65535 stored as uint16")
        elif im.mode == "F":
            arr = np.asarray(im).astype(np.float32)
        else:
            raise ImageReadError(spath, f"unsupported pixel mode {im.mode}")
        if orientation in range(2, 9):
            arr = apply_orientation(arr, orientation)
            notes.append(f"EXIF orientation {orientation} applied")
        return _finish(arr, path=spath, mode=mode, notes=notes)


def _read_png16(p: Path, data: bytes | None, *, alpha: str, limit: int, warn: bool) -> Image:
    """16-bit colour / gray+alpha PNG through pypng (Pillow would reduce to 8 bits)."""
    import png

    spath = str(p)
    im = _open_pillow(p, data, limit)  # header, size check and EXIF (eXIf chunk)
    with im:
        orientation = im.getexif().get(0x0112, 1)
    with open(p, "rb") if data is None else io.BytesIO(data) as fh:
        width, height, rows, info = png.Reader(file=fh).read()
        planes = int(info["planes"])
        arr = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows])
    arr = arr.reshape(height, width, planes)
    notes: list[str] = []
    mode = {1: "L;16", 2: "LA;16", 3: "RGB;16", 4: "RGBA;16"}[planes]
    if orientation in range(2, 9):
        arr = apply_orientation(arr, orientation)
        notes.append(f"EXIF orientation {orientation} applied")
    arr = _split_alpha(arr, how=alpha, white=65535.0, path=spath, notes=notes, warn=warn)
    return _finish(arr, path=spath, mode=mode, notes=notes)


def _read_tiff(p: Path, data: bytes | None, *, alpha: str, limit: int, warn: bool) -> Image:
    """TIFF through tifffile (keeps 16-bit colour and float samples); palette via Pillow."""
    import tifffile

    spath = str(p)
    with tifffile.TiffFile(spath if data is None else io.BytesIO(data)) as tif:
        if not tif.pages:
            raise ImageReadError(spath, "TIFF has no pages")
        page = tif.pages[0]
        photometric = int(page.photometric)
        bits, spp = int(page.bitspersample), int(page.samplesperpixel)
        tag = page.tags.get(274)
        orientation = int(tag.value) if tag is not None else 1
        # Pillow decodes these without loss (and every compression): palette,
        # CMYK, YCbCr, LAB, 8-bit anything and 16-bit unsigned single-sample.
        # Pillow also rotates TIFFs in place while loading, which garbles
        # non-square images (Pillow 13), so oriented TIFFs stay with tifffile.
        pillow_ok = photometric in (0, 3, 5, 6, 8) or bits <= 8 or (
            bits == 16 and spp == 1 and int(page.sampleformat) == 1)
        oriented = orientation in range(2, 9)
        if pillow_ok and not oriented:
            return _read_pillow(p, data, alpha=alpha, limit=limit, warn=warn)
        if oriented and photometric not in (1, 2):
            raise ImageReadError(spath, f"TIFF with photometric {page.photometric.name} and "
                                 f"orientation {orientation} is not supported")
        if photometric not in (1, 2):
            raise ImageReadError(spath, f"unsupported TIFF photometric {page.photometric!r}")
        _check_pixels(spath, int(page.imagewidth), int(page.imagelength), limit)
        try:
            arr = page.asarray()
        except ValueError as exc:  # e.g. a compression that needs imagecodecs
            raise ImageReadError(spath, f"cannot decode this TIFF: {exc}") from exc
        axes = page.axes
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    order = [axes.index(a) for a in "YXS" if a in axes]
    if len(order) != arr.ndim:
        raise ImageReadError(spath, f"unsupported TIFF layout (axes {axes!r})")
    arr = np.transpose(arr, order)
    notes: list[str] = []
    if orientation in range(2, 9):
        arr = apply_orientation(arr, orientation)
        notes.append(f"EXIF orientation {orientation} applied")
    bits = arr.dtype.itemsize * 8
    mode = ("L" if arr.ndim == 2 else {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}.get(arr.shape[2], "?"))
    mode += f";{bits}" if arr.dtype != np.uint8 else ""
    if arr.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise ImageReadError(spath, f"unsupported TIFF sample type {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] > 4:
        raise ImageReadError(spath, f"unsupported TIFF with {arr.shape[2]} samples per pixel")
    white = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(arr.dtype, 1.0)
    arr = _split_alpha(arr, how=alpha, white=white, path=spath, notes=notes, warn=warn)
    return _finish(arr, path=spath, mode=mode, notes=notes)


def encode_png(array: np.ndarray) -> bytes:
    """Lossless PNG bytes of a ``uint8`` / ``uint16`` gray or RGB array.

    8-bit arrays go through Pillow (default zlib level 6), 16-bit ones through
    pypng, because Pillow cannot write 16-bit colour PNGs; the bit depth is
    kept, so :func:`read_image` gives the array back exactly.
    """
    a = np.asarray(array)
    if a.dtype not in (np.uint8, np.uint16):
        raise MetricInputError(f"cannot export a {a.dtype} image losslessly as PNG; "
                               "only 8- and 16-bit integer images can be exported")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise MetricInputError(f"cannot export an image of shape {a.shape} (need H x W or H x W x 3)")
    buf = io.BytesIO()
    if a.dtype == np.uint8:
        from PIL import Image as PILImage

        PILImage.fromarray(np.ascontiguousarray(a)).save(buf, format="PNG")
    else:
        import png

        h, w = a.shape[:2]
        png.Writer(w, h, greyscale=a.ndim == 2, bitdepth=16).write(buf, a.reshape(h, -1))
    return buf.getvalue()
