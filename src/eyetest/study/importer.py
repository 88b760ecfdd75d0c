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

Quality-control stimuli are made here too, for up to :data:`MAX_CONTROL_IMAGES`
images, with the project's own manipulations, and stored like the image's
regular stimuli (same media type, size, JPEG tables: :mod:`eyetest.study.controls`,
which describes them): a reference (``__reference``: the ground truth, else,
for pairwise studies only, the first method's output), a heavily degraded
copy (``__degraded``: Gaussian blur of sigma = 2 % of the longer side, at
least 4 px, then Gaussian noise of sd 12 levels, then JPEG at quality 10;
images where it stays too close to the original get no gold trials), and an
attention stimulus: pairwise, a flat mid-grey image (``__blank``) beside an
output; rating, an image whose rendered text names the answer to give
(``__instructed``).  Rating gold trials show one stimulus with the region its
rating must fall in (:data:`eyetest.core.design.quality.RATING_REGIONS`): the
reference in the top two categories (for ``dcr5`` beside itself: the hidden
reference), the degraded copy in the bottom two; attention checks expect the
instructed category (continuous scale: the instructed end, 0-10 or 90-100).
The list is stored with the study (``spec["rating_controls"]``), so later
changes of the defaults leave a study's answers as they were.

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
from eyetest.study.controls import decode8, degrade, degraded_enough, encode_like, profile_of
from eyetest.study.metadata import strip_metadata

#: pseudo-methods of quality-control stimuli (role ``gold`` / ``attention``)
GOLD_BETTER, GOLD_WORSE, ATTENTION_BLANK = "__reference", "__degraded", "__blank"
#: pseudo-method of the instructed-response attention stimuli of rating studies (eyetest.study.controls)
ATTENTION_INSTRUCTED = "__instructed"
#: at most this many images get gold/attention stimuli (enough variety, bounded import time)
MAX_CONTROL_IMAGES = 8
#: pairwise sessions start with this many training trials (gold pairs, with feedback)
TRAINING_TRIALS = 2
#: sessions whose control-trial counts the "more control than regular trials" note looks at
CONTROL_NOTE_SESSIONS = 1000
#: the random stream of the noise in the degraded copies (``default_rng([seed, DEGRADE_STREAM, image])``)
DEGRADE_STREAM = 0xDE6


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
        f = q.gold_fraction + q.repeat_fraction + q.attention_fraction
        wanted = max(1, int(round(plan.judgments_per_session * (1.0 - f))))
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
    """Notes for quality-control fractions a session cannot carry, or carries too many of.

    A session should carry ``x = fraction x n / (1 - f)`` control trials of a
    kind (``n`` regular trials), rounded systematically over the sessions to
    ``floor(x)`` or ``ceil(x)`` per kind and session
    (:func:`eyetest.core.design.quality.control_counts`, each kind with its own
    offset).  Noted: a repeat comes at least ``repeat_min_gap`` regular trials
    after its original, so at most ``n - repeat_min_gap`` fit (fewer than
    ``ceil(x)``); the kinds round up together in some sessions, so a session
    can carry ``sum ceil(x)`` control trials, more than its ``n`` regular ones
    when the fractions add up to nearly 0.5 in short sessions (10 trials at
    0.25 gold and 0.25 attention: 5 regular, up to 6 control); and a session
    with fewer than ``ScreeningRules.min_gold_trials`` gold and attention
    trials is never screened by the gold rule (each session is one rater).
    """
    from eyetest.core.design.quality import control_counts, expected_counts
    from eyetest.core.judgments.screening import ScreeningRules

    wanted, available, _ = _session_sizes(plan, images, scenarios)
    n = min(wanted, available)
    q = plan.quality
    x = expected_counts(n, gold_fraction=q.gold_fraction, repeat_fraction=q.repeat_fraction,
                        attention_fraction=q.attention_fraction)
    room = max(n - q.repeat_min_gap, 0)
    out = []
    if q.repeat_fraction > 0 and room < math.ceil(x["repeat"]):
        out.append(f"quality.repeat_min_gap = {q.repeat_min_gap} leaves room for {room} repeat trial(s) in sessions "
                   f"of {n} regular trials, fewer than the {x['repeat']:.3g} per session that repeat_fraction = "
                   f"{q.repeat_fraction:g} asks for (a repeat comes at least {q.repeat_min_gap} regular trials "
                   "after its original): lower repeat_min_gap or make the sessions longer")
    fractions = {"gold_fraction": q.gold_fraction, "repeat_fraction": q.repeat_fraction,
                 "attention_fraction": q.attention_fraction}
    if math.ceil(x["gold"]) + math.ceil(x["attention"]) + min(math.ceil(x["repeat"]), room) > n:
        # the study's own counts (a function of the seed): how many its first sessions really get
        most = max(c["gold"] + c["attention"] + min(c["repeat"], room) for c in (
            control_counts(n, seed=plan.seed, session=i, **fractions) for i in range(CONTROL_NOTE_SESSIONS)))
        if most > n:
            out.append(f"sessions of {n} regular trials get up to {most} control trials (gold, attention and repeat "
                       f"trials each rounded up in some sessions: {x['gold']:.3g}, {x['attention']:.3g} and "
                       f"{x['repeat']:.3g} on average), more than their regular trials: make the sessions longer "
                       "or lower the quality fractions")
    checks = math.ceil(x["gold"]) + math.ceil(x["attention"])
    need = ScreeningRules().min_gold_trials
    if (q.gold_fraction > 0 or q.attention_fraction > 0) and checks < need:
        out.append(f"sessions of {n} regular trials get at most {checks} gold and attention trial(s): the screening's "
                   f"gold rule (accuracy on at least {need}) never applies to a rater; raise gold_fraction or make the "
                   "sessions longer")
    return out


def _control_stimuli(plan, dataset, control_images, firsts, contexts, store, notes, root) -> dict:
    """Make and add the gold and attention stimuli of ``control_images`` (:mod:`eyetest.study.controls`).

    ``firsts``: image -> ``(content, media)`` of the first method's output as
    stored (the encoding every control stimulus of the image copies);
    ``contexts``: image -> ``(content, media, w, h)`` of the stored context.
    Returns ``{"gold_images", "attention_images"}`` (pairwise) and, for a
    rating study, ``"rating_controls"``: ``{"gold": [[condition, low, high],
    ...], "attention": [...]}`` (the regions of
    :data:`eyetest.core.design.quality.RATING_REGIONS`; attention checks: the
    instructed answer).
    """
    from eyetest.core.design.quality import RATING_REGIONS
    from eyetest.study.controls import (
        MAX_DEGRADED_SSIM,
        MIN_READABLE_PX,
        degraded_ssim,
        instructed_answer,
        instruction_lines,
        render_instruction,
    )

    pairwise, q = plan.protocol == "pairwise", plan.quality
    want_gold = q.gold_fraction > 0 or (pairwise and TRAINING_TRIALS > 0)
    want_attention = q.attention_fraction > 0
    gold_images, attention_images, gold, attention = [], [], [], []
    regions = None if pairwise else RATING_REGIONS[plan.scale]
    labels = None
    if not pairwise and plan.scale != "continuous100":
        from eyetest.study.planning import ACR_LABELS, DCR_LABELS

        labels = dict(enumerate(ACR_LABELS if plan.scale == "acr5" else DCR_LABELS, start=1))
    flat, odd_size, smallest = [], [], None
    for k, image in enumerate(control_images):
        first, first_media = firsts[image]
        prof = profile_of(first, first_media)
        size = (prof.width, prof.height)
        if want_gold:
            ref_path, reference, base = dataset.references.get(image), None, None
            if ref_path is not None:
                content, media, w, h, arr8 = display_encoding(ref_path)
                if (w, h) != size:
                    odd_size.append(f"{image!r} ({w} x {h}, its outputs {size[0]} x {size[1]})")
                else:
                    base = arr8 if arr8 is not None else decode8(content)
                    if plan.context == "gt":
                        reference = contexts[image][:2]          # the hidden reference: the context itself
                    elif media == prof.media:
                        reference = (content, media)
                    else:
                        reference = (encode_like(base, prof), prof.media)
            if base is None:
                base = decode8(first)
            worse = degrade(base, rng=np.random.default_rng([plan.seed, DEGRADE_STREAM, k]))
            if not degraded_enough(base, worse):
                flat.append(f"{image!r} (SSIM {degraded_ssim(base, worse):.2f})")
            else:
                if reference is None and pairwise:
                    reference = (first, first_media)          # no usable ground truth: the first output
                if reference is not None:
                    store.add(image, GOLD_BETTER, "gold", reference[0], reference[1], *size)
                store.add(image, GOLD_WORSE, "gold", encode_like(worse, prof), prof.media, *size)
                gold_images.append(image)
                if not pairwise:
                    if reference is not None:
                        gold.append([condition_id(image, GOLD_BETTER), *regions["top"]])
                    gold.append([condition_id(image, GOLD_WORSE), *regions["bottom"]])
        if want_attention and pairwise:
            grey = np.full((prof.height, prof.width, 3), 128, np.uint8)
            store.add(image, ATTENTION_BLANK, "attention", encode_like(grey, prof), prof.media, *size)
            attention_images.append(image)
        elif want_attention:
            label, low, high = instructed_answer(plan.scale, k, labels)
            pixels, px = render_instruction(prof.height, prof.width, instruction_lines(plan.scale, label))
            store.add(image, ATTENTION_INSTRUCTED, "attention", encode_like(pixels, prof), prof.media, *size)
            attention.append([condition_id(image, ATTENTION_INSTRUCTED), low, high])
            smallest = px if smallest is None else min(smallest, px)
    if odd_size:
        notes.append(f"the reference in {str(root / 'gt')!r} of {', '.join(odd_size)} differs in size from the "
                     "outputs: not shown as a gold stimulus (it would be the only stimulus of its size)")
    if flat:
        notes.append(f"image(s) {', '.join(flat)}: the degraded copy is too close to the image to be a clear "
                     f"gold answer (SSIM above {MAX_DEGRADED_SSIM:g}, nearly flat content): no gold trials "
                     "of them")
    if want_gold and not gold_images:
        notes.append(f"no image has gold stimuli: quality.gold_fraction = {q.gold_fraction:g} gives no gold trials"
                     + (" and sessions get no training trials" if pairwise else ""))
    elif not pairwise and want_gold and not any(c.endswith(GOLD_BETTER) for c, _, _ in gold):
        notes.append(f"quality.gold_fraction = {q.gold_fraction:g}, but no image has a usable reference in "
                     f"{str(root / 'gt')!r}: the rating gold trials are the degraded copies only (expected at the "
                     "bottom of the scale), none checks the top; add the references to check both ends")
    if smallest is not None and smallest < MIN_READABLE_PX:
        notes.append(f"the attention-check instructions fit the images only at {smallest} px: too small to read "
                     f"(under {MIN_READABLE_PX} px); use larger images or quality.attention_fraction = 0")
    out = {"gold_images": gold_images if pairwise else [], "attention_images": attention_images}
    if not pairwise:
        out["rating_controls"] = {"gold": gold, "attention": attention}
    return out


def create_study(engine, plan, *, base_dir=None, study_id: str | None = None, notes: list | None = None) -> str:
    """Import the stimuli of ``plan`` (a :class:`~eyetest.study.spec.StudyPlan`) and store the study.

    ``plan.dataset`` is resolved against ``base_dir`` (the spec's folder) when
    relative.  Returns the new study id.  Every image is prepared first; then
    everything is written in one short transaction: a failed import leaves
    nothing behind.  What the caller should know (images left out and why,
    sessions shorter than ``judgments_per_session``, quality-control fractions
    that give fewer control trials per session than asked, control stimuli
    that could not be made) is appended to ``notes``.
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
    want_gold = q.gold_fraction > 0 or (pairwise and TRAINING_TRIALS > 0)
    want_attention = q.attention_fraction > 0
    note = _session_note(plan, images, dataset.scenarios)
    if note:
        notes.append(note)
    notes.extend(_quality_notes(plan, images, dataset.scenarios))

    study_id = study_id or secrets.token_hex(6)
    store = _Stimuli(study_id)
    firsts: dict[str, tuple[bytes, str]] = {}
    contexts: dict[str, tuple] = {}
    for image in images:
        for method in plan.methods:
            content, media, w, h, _ = display_encoding(outputs[method][image])
            store.add(image, method, "method", content, media, w, h)
            if method == plan.methods[0]:
                firsts[image] = (content, media)
        if plan.context != "none":
            contexts[image] = display_encoding(context_files[image])[:4]
            store.add(image, plan.context, plan.context, *contexts[image])
    controls = {"gold_images": [], "attention_images": []}
    if not pairwise:
        controls["rating_controls"] = {"gold": [], "attention": []}
    if want_gold or want_attention:
        controls = _control_stimuli(plan, dataset, control_images, firsts, contexts, store, notes, root)
    spec = {
        "plan": plan.to_dict(),
        "images": images,
        "scenarios": {i: list(dataset.scenarios.get(i, ())) for i in images},
        "families": {m: dataset.families.get(m) for m in plan.methods if m in dataset.families},
        "gold_images": controls["gold_images"],
        "attention_images": controls["attention_images"],
        "training_trials": TRAINING_TRIALS if controls["gold_images"] else 0,
    }
    if not pairwise:
        spec["rating_controls"] = controls["rating_controls"]
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


def rating_control_items(spec: dict) -> tuple[list, list]:
    """``(gold, attention)`` :class:`~eyetest.core.design.quality.GoldRating` items of a stored rating study.

    Studies stored before rating studies had gold and attention trials have none.
    """
    from eyetest.core.design.quality import GoldRating

    controls = spec.get("rating_controls") or {}
    return ([GoldRating(c, float(lo), float(hi)) for c, lo, hi in controls.get("gold", ())],
            [GoldRating(c, float(lo), float(hi)) for c, lo, hi in controls.get("attention", ())])
