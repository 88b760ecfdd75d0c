"""Create a study in the database from a spec: stimuli into the image store.

:func:`create_study` reads the dataset a spec names (``eyetest.io.dataset``),
keeps the spec's methods and images (default: the images every method has),
and stores each output in the content-addressed image store (``images``,
keyed by the SHA256 of the stored bytes) together with a *stimulus* row whose
random ``token`` is the only thing a rater's URL carries (``/img/<token>``).

Display encodings (:mod:`eyetest.study.display`): 8-bit JPEG, WebP and opaque
8-bit PNG files are stored byte for byte, less their embedded metadata; anything
else is re-encoded as an 8-bit PNG, for display only.  Scores are always
computed from the original files, never from these copies.

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

The images are chosen by :func:`eyetest.study.selection.select_images`: a
human study needs no ground truth unless it is shown (``context = "gt"``), so
an output without a reference in ``gt/`` is kept (scoring skips it).  Images
left out of the default selection, and sessions or quality-control fractions
a session cannot carry (:mod:`eyetest.study.session_notes`), are noted.

Every image is read, converted and blurred *before* the write transaction
opens; the transaction only inserts the prepared rows, so a server on the
same database waits for its writes only that long.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from eyetest.core.judgments.model import condition_id
from eyetest.errors import DatasetError
from eyetest.store import schema
from eyetest.study.controls import decode8, degrade, degraded_enough, encode_like, profile_of
from eyetest.study.display import display_encoding, to_uint8
from eyetest.study.selection import _check_taxonomy, select_images
from eyetest.study.session_notes import CONTROL_NOTE_SESSIONS, _quality_notes, _session_note

__all__ = [
    "ATTENTION_BLANK", "ATTENTION_INSTRUCTED", "CONTROL_NOTE_SESSIONS", "DEGRADE_STREAM", "GOLD_BETTER",
    "GOLD_WORSE", "MAX_CONTROL_IMAGES", "TRAINING_TRIALS", "create_study", "degrade", "display_encoding",
    "gold_condition_pairs", "new_token", "rating_control_items", "select_images", "to_uint8",
]

#: pseudo-methods of quality-control stimuli (role ``gold`` / ``attention``)
GOLD_BETTER, GOLD_WORSE, ATTENTION_BLANK = "__reference", "__degraded", "__blank"
#: pseudo-method of the instructed-response attention stimuli of rating studies (eyetest.study.controls)
ATTENTION_INSTRUCTED = "__instructed"
#: at most this many images get gold/attention stimuli (enough variety, bounded import time)
MAX_CONTROL_IMAGES = 8
#: pairwise sessions start with this many training trials (gold pairs, with feedback)
TRAINING_TRIALS = 2
#: the random stream of the noise in the degraded copies (``default_rng([seed, DEGRADE_STREAM, image])``)
DEGRADE_STREAM = 0xDE6


def _now() -> datetime:
    return datetime.now(timezone.utc)


def new_token(nbytes: int = 24) -> str:
    """An unguessable URL-safe token (``nbytes`` random bytes)."""
    return secrets.token_urlsafe(nbytes)


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
