"""Quality-control stimuli of a study, made to look like the study's other stimuli.

Gold and attention trials are only useful while a rater cannot tell them from
the regular trials, so every control stimulus of an image is stored like the
image's regular stimuli (the display encoding of the first method's output,
:func:`profile_of`): same media type (``/img/`` answers with the same
``Content-Type``), same width and height, and for JPEG the same quantisation
tables, chroma subsampling, ICC profile and progressive coding
(:func:`encode_like`), so neither
the file type, the size, the file size nor the compression look gives it
away.  (A lossless PNG reference among JPEG outputs was 5 to 10 times
larger than them, a flat grey PNG 30 times smaller.)

The stimuli (``eyetest.study.importer`` makes and stores them):

* the **reference** (``__reference``): the ground truth, re-encoded like the
  regular stimuli when its format differs; a ground truth of another size
  than the image's outputs is not used (it would be the only stimulus of its
  size).  With ``context = "gt"`` the reference stimulus is the context
  image itself (a DCR *hidden reference*: the same pixels as the reference
  shown beside it).
* the **degraded copy** (``__degraded``, :func:`degrade`): Gaussian blur of
  sigma = max(4, 2 % of the longer side) pixels, Gaussian noise of sd 12
  levels, JPEG at quality 10.  On natural images (scikit-image's astronaut,
  chelsea, coffee, rocket, camera) its SSIM to the original is 0.43-0.74
  (bicubic x4 upsampling: 0.74-0.83; PSNR 17-23 dB against 25-30 dB), i.e.
  clearly in the bottom categories; on nearly flat content (a sky gradient:
  SSIM 0.965) it is not, so an image whose degraded copy keeps an SSIM above
  :data:`MAX_DEGRADED_SSIM` gets no gold trials (:func:`degraded_enough`).
* **attention checks**.  Pairwise: an output beside a flat mid-grey image
  (``__blank``; "which is better" has one obvious answer).  Ratings: an
  *instructed-response* image (``__instructed``, :func:`render_instruction`):
  a rendered instruction naming the answer ("Attention check.  Please answer
  'Poor' to every question"), as ITU-T P.808 (2018, 6.3.8: trapping
  questions) embeds the answer to give in the stimulus.  A flat grey image
  alone has no unambiguous rating (it has no artefacts; "how noisy is it?"
  has the top answer), so attentive raters failed it.  The instructed answers
  cycle over :data:`INSTRUCTED_CATEGORIES` (acr5, dcr5: one category, a
  random clicker is right with probability 1/5) or the two ends of the
  continuous scale (0-10, 90-100: 1/10).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

#: the instructed answers of rating attention checks, cycled over the control images (not "Fair": the
#: answer of a rater who does not look)
INSTRUCTED_CATEGORIES = (2, 4, 1, 5)
#: continuous100: the two ends of the slider, ``(anchor label, low, high)``
INSTRUCTED_ENDS = (("Bad", 0.0, 10.0), ("Excellent", 90.0, 100.0))
#: an image whose degraded copy keeps a higher SSIM (grey, Wang et al. 2004) to it gets no gold trials
MAX_DEGRADED_SSIM = 0.85
#: below this font size (pixels) an instruction is noted as too small to read
MIN_READABLE_PX = 10


@dataclass(frozen=True)
class Profile:
    """How an image's regular stimuli are encoded: what control stimuli of that image copy."""

    media: str
    width: int
    height: int
    mode: str = "RGB"
    qtables: tuple | None = None        # JPEG quantisation tables
    subsampling: int | None = None      # JPEG chroma subsampling (0 4:4:4, 1 4:2:2, 2 4:2:0)
    icc: bytes | None = None
    progressive: bool = False           # JPEG: progressive (shown coarse-to-fine while loading)


def profile_of(content: bytes, media: str) -> Profile:
    """The :class:`Profile` of a stored stimulus (its display bytes and media type)."""
    from PIL import Image, JpegImagePlugin

    with Image.open(io.BytesIO(content)) as im:
        w, h = im.size
        mode = "L" if im.mode in ("L", "1") else "RGB"
        icc = im.info.get("icc_profile") or None
        if media == "image/jpeg":
            q = getattr(im, "quantization", None) or None
            qtables = tuple(tuple(q[k]) for k in sorted(q)) if q else None
            sampling = JpegImagePlugin.get_sampling(im)
            return Profile(media, w, h, mode, qtables, sampling if sampling in (0, 1, 2) else None, icc,
                           bool(im.info.get("progressive") or im.info.get("progression")))
    return Profile(media, w, h, mode, icc=icc)


def encode_like(array8: np.ndarray, profile: Profile) -> bytes:
    """``array8`` (H x W or H x W x 3, uint8, the profile's size) encoded as the profile says.

    JPEG with the profile's quantisation tables and subsampling (libjpeg via
    Pillow; quality 90 when the profile has no tables), WebP at quality 90,
    anything else as PNG; the profile's ICC profile is embedded.
    """
    from PIL import Image

    a = np.asarray(array8)
    if a.dtype != np.uint8 or a.shape[:2] != (profile.height, profile.width):
        raise ValueError(f"encode_like: need a uint8 image of {profile.height} x {profile.width}, "
                         f"got {a.dtype} {a.shape}")
    im = Image.fromarray(a[..., 0] if a.ndim == 3 and a.shape[2] == 1 else a)
    im = im.convert(profile.mode)
    extra = {"icc_profile": profile.icc} if profile.icc else {}
    if profile.media == "image/jpeg" and profile.progressive:
        extra["progressive"] = True
    buf = io.BytesIO()
    if profile.media == "image/jpeg":
        if profile.qtables:
            tables = [list(t) for t in profile.qtables][:1 if profile.mode == "L" else None]
            im.save(buf, format="JPEG", qtables=tables,
                    subsampling=2 if profile.subsampling is None else profile.subsampling, **extra)
        else:
            im.save(buf, format="JPEG", quality=90, **extra)
    elif profile.media == "image/webp":
        im.save(buf, format="WEBP", quality=90, **extra)
    else:
        im.save(buf, format="PNG", **extra)
    return buf.getvalue()


def decode8(content: bytes, mode: str = "RGB") -> np.ndarray:
    """The 8-bit pixels of stored display bytes (``mode`` RGB or L)."""
    from PIL import Image

    with Image.open(io.BytesIO(content)) as im:
        return np.asarray(im.convert(mode))


def degrade(array8: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """The heavily degraded copy of an 8-bit image that gold trials use (``eyetest.core.manipulate``).

    Gaussian blur of sigma = max(4, 0.02 x the longer side) pixels, additive
    Gaussian noise of sd 12 levels (``rng``), JPEG at quality 10: clearly in
    the bottom categories of any quality scale for an image with detail
    (module docstring; :func:`degraded_enough`).
    """
    from eyetest.core.manipulate import gaussian_blur, jpeg, noise

    sigma = max(4.0, 0.02 * max(array8.shape[:2]))
    out = gaussian_blur(array8, data_range=255, strength=sigma)
    out = noise(out, data_range=255, strength=12.0, rng=rng)
    if out.ndim == 2 or out.shape[2] in (1, 3):
        out = jpeg(out, data_range=255, strength=90.0)
    return out


def degraded_ssim(original8: np.ndarray, degraded8: np.ndarray) -> float:
    """SSIM (Wang et al., IEEE TIP 2004; ``eyetest.core.metrics.ssim``) of the grey images (channel mean)."""
    from eyetest.core.metrics.ssim import ssim

    def grey(a):
        a = np.asarray(a, dtype=np.float64)
        return a.mean(axis=2) if a.ndim == 3 else a

    x, y = grey(original8), grey(degraded8)
    if min(x.shape) < 11:                      # the 11 x 11 window does not fit: no evidence of detail
        return 1.0
    return float(ssim(x, y, data_range=255.0))


def degraded_enough(original8: np.ndarray, degraded8: np.ndarray) -> bool:
    """Whether the degraded copy is clearly worse: SSIM to the original <= :data:`MAX_DEGRADED_SSIM`."""
    return degraded_ssim(original8, degraded8) <= MAX_DEGRADED_SSIM


def instructed_answer(scale: str, k: int, labels: dict) -> tuple[str, float, float]:
    """``(label, low, high)`` of the ``k``-th control image's attention check on ``scale``.

    ``labels`` maps the scale's categories (1-5) to the labels the rater's
    buttons show (``eyetest.study.planning``); the continuous scale names the
    anchors its slider shows ("Bad" left, "Excellent" right).
    """
    if scale == "continuous100":
        return INSTRUCTED_ENDS[k % len(INSTRUCTED_ENDS)]
    c = INSTRUCTED_CATEGORIES[k % len(INSTRUCTED_CATEGORIES)]
    return labels[c], float(c), float(c)


def instruction_lines(scale: str, label: str) -> list[str]:
    """The text of an instructed-response stimulus: the answer to give, by the label the rater sees."""
    if scale == "continuous100":
        return ["Attention check.", "Please move every slider", f"all the way to \u201c{label}\u201d."]
    return ["Attention check.", "Please answer", f"\u201c{label}\u201d", "to every question."]


def _font(size: int):
    """Pillow's scalable default font (Pillow >= 10.1 with FreeType), else None."""
    from PIL import ImageFont

    try:
        font = ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError, AttributeError):
        return None
    return font if isinstance(font, ImageFont.FreeTypeFont) else None


def render_instruction(height: int, width: int, lines: list[str]) -> tuple[np.ndarray, int]:
    """``(image, text_px)``: ``lines`` in black on a light panel centred on mid grey, H x W x 3 uint8.

    The font is the largest that fits the text in 90 % of the width and 70 %
    of the height; ``text_px`` is its size in pixels.  Without FreeType,
    Pillow's bitmap font is drawn and scaled up by a whole factor.
    """
    from PIL import Image, ImageDraw, ImageFont

    probe = _font(100)
    if probe is not None:
        wide = max(probe.getbbox(t)[2] for t in lines)
        size = max(int(100 * min(0.9 * width / max(wide, 1), 0.7 * height / (130 * len(lines)))), 1)
        font, factor = _font(size), 1
        step = round(1.3 * size)
    else:
        font = ImageFont.load_default()
        wide = max(font.getbbox(t)[2] for t in lines)
        step = max(font.getbbox(t)[3] for t in lines) + 2
        factor = max(int(min(0.9 * width / max(wide, 1), 0.7 * height / (step * len(lines)))), 1)
        size = step * factor
    pad = max(step // 3, 1)
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    widths = [measure.textbbox((0, 0), t, font=font)[2] for t in lines]
    block = Image.new("L", (max(widths) + 2 * pad, step * len(lines) + 2 * pad), 235)
    draw = ImageDraw.Draw(block)
    for n, (t, tw) in enumerate(zip(lines, widths)):
        draw.text(((block.width - tw) // 2, pad + n * step), t, fill=0, font=font)
    if factor > 1:
        block = block.resize((block.width * factor, block.height * factor), Image.NEAREST)
    block = block.crop((0, 0, min(block.width, width), min(block.height, height)))
    canvas = Image.new("L", (width, height), 128)
    canvas.paste(block, ((width - block.width) // 2, (height - block.height) // 2))
    return np.repeat(np.asarray(canvas)[..., None], 3, axis=2), int(size)
