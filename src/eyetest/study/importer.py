"""Create a study in the database from a spec: stimuli into the image store.

:func:`create_study` reads the dataset a spec names (``eyetest.io.dataset``),
keeps the spec's methods and images (default: the images every method has),
and stores each output in the content-addressed image store (``images``,
keyed by the SHA256 of the stored bytes) together with a *stimulus* row whose
random ``token`` is the only thing a rater's URL carries (``/img/<token>``).

Display encodings: 8-bit JPEG, WebP and opaque 8-bit PNG files are stored
byte for byte.  Anything a browser may show differently from how eyetest
reads it (16-bit PNG, TIFF, BMP, alpha channels, EXIF-rotated files) is decoded
with :func:`eyetest.io.images.read_image` and re-encoded as an 8-bit PNG, for
display only: ``v8 = round(v * 255 / data_range)``.  Scores are always computed
from the original files, never from these copies.

Quality-control stimuli are made here too: for gold (and training) trials, a
reference (the ground truth, else the first method's output) against a heavily
blurred copy of it (Gaussian, sigma = 2 % of the longer side, at least 4 px);
for attention checks, an output against a flat mid-grey image of its size.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from eyetest.core.judgments.model import condition_id
from eyetest.errors import DatasetError, SpecError
from eyetest.io.images import encode_png
from eyetest.store import schema

#: pseudo-methods of quality-control stimuli (role ``gold`` / ``attention``)
GOLD_BETTER, GOLD_WORSE, ATTENTION_BLANK = "__reference", "__degraded", "__blank"
#: at most this many images get gold/attention stimuli (enough variety, bounded import time)
MAX_CONTROL_IMAGES = 8
#: pairwise sessions start with this many training trials (gold pairs, with feedback)
TRAINING_TRIALS = 2


def _now() -> datetime:
    return datetime.now(timezone.utc)


def new_token(nbytes: int = 24) -> str:
    """An unguessable URL-safe token (``nbytes`` random bytes)."""
    return secrets.token_urlsafe(nbytes)


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
        return raw, media, size[0], size[1], None
    img = read_image(path)
    arr8 = to_uint8(img.array, data_range=img.data_range)
    return encode_png(arr8), "image/png", arr8.shape[1], arr8.shape[0], arr8


def _blurred(array8: np.ndarray) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    sigma = max(4.0, 0.02 * max(array8.shape[:2]))
    sig = (sigma, sigma) + ((0,) if array8.ndim == 3 else ())
    return np.clip(np.floor(gaussian_filter(array8.astype(np.float64), sig) + 0.5), 0, 255).astype(np.uint8)


def _decode8(content: bytes) -> np.ndarray:
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(content)) as im:
        return np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im)


class _ImageStore:
    """Collects images and stimuli of one study and writes them in one transaction."""

    def __init__(self, conn, study_id: str):
        self.conn, self.study_id = conn, study_id
        self.known = set()
        self.stimuli: list[dict] = []

    def put(self, content: bytes, media: str, width: int, height: int) -> str:
        sha = hashlib.sha256(content).hexdigest()
        if sha not in self.known:
            exists = self.conn.execute(
                sa.select(schema.images.c.sha256).where(schema.images.c.sha256 == sha)).first()
            if exists is None:
                self.conn.execute(sa.insert(schema.images).values(
                    sha256=sha, media_type=media, width=int(width), height=int(height), content=content))
            self.known.add(sha)
        return sha

    def stimulus(self, image: str, method: str, role: str, sha: str) -> str:
        token = new_token()
        self.stimuli.append(dict(study_id=self.study_id, image=image, method=method, role=role,
                                 sha256=sha, token=token))
        return token

    def flush(self) -> None:
        if self.stimuli:
            self.conn.execute(sa.insert(schema.stimuli), self.stimuli)


def _select_images(plan, dataset) -> list[str]:
    by_method: dict[str, set[str]] = {}
    for item in dataset.items:
        by_method.setdefault(item.method, set()).add(item.image)
    missing = [m for m in plan.methods if m not in by_method]
    if missing:
        raise SpecError("stimuli.methods", f"method {missing[0]!r} has no outputs in {str(dataset.root)!r} "
                                           f"(methods there: {', '.join(sorted(by_method)) or 'none'})")
    common = set.intersection(*(by_method[m] for m in plan.methods))
    if plan.images is None:
        images = sorted(common)
        if not images:
            raise SpecError("stimuli.methods", "no image has an output from every listed method")
        return images
    absent = [(i, m) for i in plan.images for m in plan.methods if i not in by_method[m]]
    if absent:
        i, m = absent[0]
        raise SpecError("stimuli.images", f"image {i!r} has no output of method {m!r}")
    return list(plan.images)


def create_study(engine, plan, *, base_dir=None, study_id: str | None = None) -> str:
    """Import the stimuli of ``plan`` (a :class:`~eyetest.study.spec.StudyPlan`) and store the study.

    ``plan.dataset`` is resolved against ``base_dir`` (the spec's folder) when
    relative.  Returns the new study id.  Everything is written in one
    transaction: a failed import leaves nothing behind.
    """
    from eyetest.io.dataset import discover, list_images

    root = Path(plan.dataset)
    if not root.is_absolute() and base_dir is not None:
        root = Path(base_dir) / root
    dataset = discover(root)
    images = _select_images(plan, dataset)
    wanted = {(i.image, i.method): i for i in dataset.items if i.method in plan.methods}
    context_files: dict[str, Path] = {}
    if plan.context == "gt":
        context_files = dict(dataset.references)
    elif plan.context == "lq":
        problems: list = []
        if not (root / "lq").is_dir():
            raise DatasetError(f"stimuli.context = 'lq' but {str(root / 'lq')!r} does not exist")
        context_files = list_images(root / "lq", problems)
    if plan.context != "none":
        lacking = [i for i in images if i not in context_files]
        if lacking:
            raise DatasetError(f"stimuli.context = {plan.context!r} but image {lacking[0]!r} has no "
                               f"file in {str(root / plan.context)!r}")
    pairwise = plan.protocol == "pairwise"
    q = plan.quality
    control_images = images[:MAX_CONTROL_IMAGES]
    want_gold = pairwise and (q.gold_fraction > 0 or TRAINING_TRIALS > 0)
    want_attention = pairwise and q.attention_fraction > 0

    study_id = study_id or secrets.token_hex(6)
    spec = {
        "plan": plan.to_dict(),
        "images": images,
        "scenarios": {i: list(dataset.scenarios.get(i, ())) for i in images},
        "families": {m: dataset.families.get(m) for m in plan.methods if m in dataset.families},
        "gold_images": control_images if want_gold else [],
        "attention_images": control_images if want_attention else [],
        "training_trials": TRAINING_TRIALS if want_gold else 0,
    }
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.studies).values(
            id=study_id, name=plan.name, spec=spec, status="open", created_at=_now()))
        store = _ImageStore(conn, study_id)
        arrays: dict[tuple[str, str], np.ndarray | bytes] = {}
        for image in images:
            for method in plan.methods:
                content, media, w, h, arr8 = display_encoding(wanted[(image, method)].distorted)
                store.stimulus(image, method, "method", store.put(content, media, w, h))
                if image in control_images and method == plan.methods[0]:
                    arrays[(image, method)] = arr8 if arr8 is not None else content
            if plan.context != "none":
                content, media, w, h, _ = display_encoding(context_files[image])
                store.stimulus(image, plan.context, plan.context, store.put(content, media, w, h))
        for image in control_images if (want_gold or want_attention) else ():
            if want_gold:
                ref_path = dataset.references.get(image)
                if ref_path is not None:
                    content, media, w, h, arr8 = display_encoding(ref_path)
                    base = arr8 if arr8 is not None else _decode8(content)
                else:
                    got = arrays[(image, plan.methods[0])]
                    base = got if isinstance(got, np.ndarray) else _decode8(got)
                    content = encode_png(base)
                    media, h, w = "image/png", base.shape[0], base.shape[1]
                store.stimulus(image, GOLD_BETTER, "gold", store.put(content, media, w, h))
                worse = encode_png(_blurred(base))
                store.stimulus(image, GOLD_WORSE, "gold", store.put(worse, "image/png", w, h))
            if want_attention:
                got = arrays[(image, plan.methods[0])]
                base = got if isinstance(got, np.ndarray) else _decode8(got)
                blank = np.full_like(base, 128)
                store.stimulus(image, ATTENTION_BLANK, "attention",
                               store.put(encode_png(blank), "image/png", base.shape[1], base.shape[0]))
        store.flush()
    return study_id


def gold_condition_pairs(spec: dict) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(gold, attention)`` pairs ``(better, worse)`` of a stored study spec."""
    methods = spec["plan"]["methods"]
    gold = [(condition_id(i, GOLD_BETTER), condition_id(i, GOLD_WORSE)) for i in spec["gold_images"]]
    attention = [(condition_id(i, methods[0]), condition_id(i, ATTENTION_BLANK))
                 for i in spec["attention_images"]]
    return gold, attention
