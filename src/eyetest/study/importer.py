"""Create a study in the database from a spec: stimuli into the image store.

:func:`create_study` reads the dataset a spec names (``eyetest.io.dataset``),
keeps the spec's methods and images (default: the images every method has),
and stores each output in the content-addressed image store (``images``,
keyed by the SHA256 of the stored bytes) together with a *stimulus* row whose
random ``token`` is the only thing a rater's URL carries (``/img/<token>``).

Display encodings: 8-bit JPEG, WebP and opaque 8-bit PNG files are stored
byte for byte, less their embedded metadata (EXIF, XMP, PNG text chunks, JPEG
comments: :mod:`eyetest.study.metadata`), which could name the method to a
rater; the pixels are unchanged.  Anything a browser may show differently from how eyetest
reads it (16-bit PNG, TIFF, BMP, alpha channels, EXIF-rotated files) is decoded
with :func:`eyetest.io.images.read_image` and re-encoded as an 8-bit PNG, for
display only: ``v8 = round(v * 255 / data_range)``.  Scores are always computed
from the original files, never from these copies.

Quality-control stimuli are made here too: for gold (and training) trials, a
reference (the ground truth, else the first method's output) against a heavily
blurred copy of it (Gaussian, sigma = 2 % of the longer side, at least 4 px);
for attention checks, an output against a flat mid-grey image of its size.

A human study needs no ground truth unless it is shown (``context = "gt"``),
so an output without a reference in ``gt/`` is kept (scoring skips it).
Images left out of the default selection are reported with the reason, and an
image the spec lists that cannot be used is an error saying why.

Every image is read, converted and blurred *before* the write transaction
opens; the transaction only inserts the prepared rows, so a server on the
same database waits for its writes only that long.
"""

from __future__ import annotations

import hashlib
import io
import math
import secrets
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from eyetest.core.judgments.model import condition_id
from eyetest.errors import DatasetError, SpecError
from eyetest.io.images import encode_png
from eyetest.store import schema
from eyetest.study.metadata import strip_metadata

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
        try:
            # raters get these bytes: no text naming the method (eyetest.study.metadata)
            return strip_metadata(raw, media), media, size[0], size[1], None
        except ValueError:
            pass                        # a layout that cannot be walked: re-encoded below
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


class _Stimuli:
    """The images and stimuli of one study, prepared in memory, then written in one go."""

    def __init__(self, study_id: str):
        self.study_id = study_id
        self.images: dict[str, dict] = {}        # sha256 -> images row
        self.stimuli: list[dict] = []

    def add(self, image: str, method: str, role: str, content: bytes, media: str, width: int, height: int):
        sha = hashlib.sha256(content).hexdigest()
        self.images.setdefault(sha, dict(sha256=sha, media_type=media, width=int(width), height=int(height),
                                         content=content))
        self.stimuli.append(dict(study_id=self.study_id, image=image, method=method, role=role, sha256=sha,
                                 token=new_token()))

    def write(self, conn) -> None:
        """Insert the images not stored yet (content-addressed), then the stimuli."""
        im = schema.images.c
        shas, stored = list(self.images), set()
        for k in range(0, len(shas), 500):
            stored.update(conn.execute(sa.select(im.sha256).where(im.sha256.in_(shas[k:k + 500]))).scalars())
        new = [row for sha, row in self.images.items() if sha not in stored]
        if new:
            conn.execute(sa.insert(schema.images), new)
        if self.stimuli:
            conn.execute(sa.insert(schema.stimuli), self.stimuli)


def _outputs(plan, dataset, root: Path) -> tuple[dict[str, dict[str, Path]], list]:
    """Method -> image -> output file, for the plan's methods, and the problems met listing them.

    The method folders are listed here rather than taken from ``dataset.items``,
    which leaves out every output without a reference in ``gt/``.
    """
    from eyetest.io.dataset import list_images

    problems: list = []
    outputs = {m: list_images(root / "methods" / m, problems, method=m)
               for m in plan.methods if (root / "methods" / m).is_dir()}
    missing = [m for m in plan.methods if not outputs.get(m)]
    if missing:
        raise SpecError("stimuli.methods", f"method {missing[0]!r} has no outputs in {str(root)!r} "
                                           f"(methods there: {', '.join(dataset.methods) or 'none'})")
    return outputs, problems


def select_images(plan, dataset, root: Path, notes: list) -> tuple[list[str], dict[str, dict[str, Path]]]:
    """The study's images and their outputs; images left out of the default selection go to ``notes``."""
    outputs, problems = _outputs(plan, dataset, root)

    def why_not(image: str) -> str | None:
        for m in plan.methods:
            if image not in outputs[m]:
                known = [p.reason for p in problems if p.image == image and p.method == m]
                return (f"method {m!r} has no output of it in {str(root / 'methods' / m)!r}"
                        + (f" ({known[0]})" if known else ""))
        if plan.context == "gt" and image not in dataset.references:
            return f"it has no reference in {str(root / 'gt')!r}, which stimuli.context = 'gt' shows"
        return None

    if plan.images is not None:
        for image in plan.images:
            reason = why_not(image)
            if reason:
                raise SpecError("stimuli.images", f"image {image!r} cannot be used: {reason}")
        return list(plan.images), outputs
    images, skipped = [], []
    for image in sorted(set().union(*outputs.values())):
        reason = why_not(image)
        if reason:
            skipped.append(f"image {image!r} skipped: {reason}")
        else:
            images.append(image)
    if not images:
        raise SpecError("stimuli.images", "no image can be used; " + (skipped[0] if skipped else "none found"))
    notes.extend(skipped)
    return images, outputs


def _check_taxonomy(plan, dataset, images, root: Path) -> None:
    allowed = set(plan.scenarios)
    for image in images:
        for tag in dataset.scenarios.get(image, ()):
            if tag not in allowed:
                raise SpecError("scenarios.taxonomy", f"image {image!r} is tagged {tag!r} in "
                                                      f"{str(root / 'scenarios.csv')!r}, which the taxonomy does "
                                                      f"not list ({', '.join(plan.scenarios)}); add the tag to "
                                                      "[scenarios] taxonomy or fix scenarios.csv")


def _session_sizes(plan, images, scenarios) -> tuple[int, int, str]:
    """``(regular trials asked for, regular trials there are to show, what limits them)`` per session."""
    q, n_methods = plan.quality, len(plan.methods)
    if plan.protocol == "pairwise":
        f = q.gold_fraction + q.repeat_fraction + q.attention_fraction
        wanted = max(1, int(round(plan.judgments_per_session * (1.0 - f))))
        if plan.blocks == "none":
            groups = [len(images) * n_methods]
        elif plan.blocks == "image":
            groups = [n_methods] * len(images)
        else:
            tags = [(scenarios.get(i) or ["untagged"])[0] for i in images]
            groups = [tags.count(t) * n_methods for t in set(tags)]
        available = sum(math.comb(g, 2) for g in groups)
        what = f"{available} pairs can be compared (blocks = {plan.blocks!r}); a rater never gets a pair twice"
    else:
        wanted = max(1, int(round(plan.judgments_per_session * (1.0 - q.repeat_fraction))))
        available = len(images) * n_methods
        what = f"there are {available} stimuli; a session rates each at most once"
    return wanted, available, what


def _session_note(plan, images, scenarios) -> str | None:
    """A note when ``judgments_per_session`` asks for more trials than there are to show."""
    wanted, available, what = _session_sizes(plan, images, scenarios)
    if available >= wanted:
        return None
    return (f"study.judgments_per_session = {plan.judgments_per_session} asks for {wanted} regular trials per "
            f"session, but {what}: sessions get {available} (plus training and quality-control trials)")


def _quality_notes(plan, images, scenarios) -> list[str]:
    """Notes for quality-control fractions a session cannot carry.

    The session planner inserts ``round(fraction x session length)`` trials
    of each kind (:func:`eyetest.core.design.quality.insert_quality_trials`)
    and a repeat only with ``repeat_min_gap`` regular trials between it and
    its original; the same function, run on a session of the planned size,
    counts what each session will really get.
    """
    from eyetest.core.design.quality import GoldPair, insert_quality_trials

    wanted, available, _ = _session_sizes(plan, images, scenarios)
    n = min(wanted, available)
    q = plan.quality
    pairwise = plan.protocol == "pairwise"
    fractions = {"gold": q.gold_fraction, "attention": q.attention_fraction, "repeat": q.repeat_fraction}
    if not pairwise:
        fractions = {"repeat": q.repeat_fraction}
    got = insert_quality_trials([(f"r{k}", f"s{k}") for k in range(n)], rng=np.random.default_rng(0),
                                gold=[GoldPair("g", "h")], attention=[GoldPair("a", "b")],
                                gold_fraction=fractions.get("gold", 0.0),
                                attention_fraction=fractions.get("attention", 0.0),
                                repeat_fraction=q.repeat_fraction, min_gap=q.repeat_min_gap)
    total = round(n / (1.0 - sum(fractions.values()))) if n else 0
    notes = []
    for kind, fraction in fractions.items():
        if fraction <= 0:
            continue
        count = sum(t.kind == kind for t in got)
        asked = round(fraction * total)
        where = f"sessions of {total} trials ({n} regular)"
        if asked == 0:
            notes.append(f"quality.{kind}_fraction = {fraction:g} gives no {kind} trial in {where} "
                         f"(round({fraction:g} x {total}) = 0): raise it to {1 / max(total, 1):.2g} (one "
                         "per session) or make the sessions longer")
        elif count < asked:
            notes.append(f"quality.repeat_min_gap = {q.repeat_min_gap} leaves room for {count} of the {asked} "
                         f"repeat trials in {where} (a repeat comes at least {q.repeat_min_gap} regular trials "
                         f"after its original): lower repeat_min_gap or make the sessions longer")
    return notes


def create_study(engine, plan, *, base_dir=None, study_id: str | None = None, notes: list | None = None) -> str:
    """Import the stimuli of ``plan`` (a :class:`~eyetest.study.spec.StudyPlan`) and store the study.

    ``plan.dataset`` is resolved against ``base_dir`` (the spec's folder) when
    relative.  Returns the new study id.  Every image is prepared first; then
    everything is written in one short transaction: a failed import leaves
    nothing behind.  What the caller should know (images left out and why,
    sessions shorter than ``judgments_per_session``, quality-control fractions
    that give fewer control trials per session than asked) is appended to ``notes``.
    """
    from eyetest.io.dataset import discover, list_images

    notes = [] if notes is None else notes
    root = Path(plan.dataset)
    if not root.is_absolute() and base_dir is not None:
        root = Path(base_dir) / root
    dataset = discover(root)
    images, outputs = select_images(plan, dataset, root, notes)
    _check_taxonomy(plan, dataset, images, root)
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
    note = _session_note(plan, images, dataset.scenarios)
    if note:
        notes.append(note)
    notes.extend(_quality_notes(plan, images, dataset.scenarios))

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
    store = _Stimuli(study_id)
    arrays: dict[tuple[str, str], np.ndarray | bytes] = {}
    for image in images:
        for method in plan.methods:
            content, media, w, h, arr8 = display_encoding(outputs[method][image])
            store.add(image, method, "method", content, media, w, h)
            if image in control_images and method == plan.methods[0]:
                arrays[(image, method)] = arr8 if arr8 is not None else content
        if plan.context != "none":
            store.add(image, plan.context, plan.context, *display_encoding(context_files[image])[:4])
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
            store.add(image, GOLD_BETTER, "gold", content, media, w, h)
            store.add(image, GOLD_WORSE, "gold", encode_png(_blurred(base)), "image/png", w, h)
        if want_attention:
            got = arrays[(image, plan.methods[0])]
            base = got if isinstance(got, np.ndarray) else _decode8(got)
            store.add(image, ATTENTION_BLANK, "attention", encode_png(np.full_like(base, 128)), "image/png",
                      base.shape[1], base.shape[0])
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.studies).values(
            id=study_id, name=plan.name, spec=spec, status="open", created_at=_now()))
        store.write(conn)
    return study_id


def gold_condition_pairs(spec: dict) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(gold, attention)`` pairs ``(better, worse)`` of a stored study spec."""
    methods = spec["plan"]["methods"]
    gold = [(condition_id(i, GOLD_BETTER), condition_id(i, GOLD_WORSE)) for i in spec["gold_images"]]
    attention = [(condition_id(i, methods[0]), condition_id(i, ATTENTION_BLANK))
                 for i in spec["attention_images"]]
    return gold, attention
