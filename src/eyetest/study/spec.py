"""Study spec (TOML) -> validated, versioned :class:`StudyPlan`.

A spec file (sketch in ``docs/study-design.md``)::

    schema_version = 1                 # optional; the only version so far
    [study]
    name = "sr-x4-generative"
    protocol = "pairwise"              # pairwise | rating
    design = "active"                  # pairwise: full | random | swiss | active; rating: balanced
    active_utility = "misorder"        # design "active" only: misorder | ranking | eig
    scale = "acr5"                     # rating only: acr5 | dcr5 | continuous100
    ties = true                        # pairwise only
    both_bad = false                   # pairwise only: offer a "both bad" answer
    blocks = "image"                   # none | image | scenario: what may be compared
    seed = 7
    judgments_per_session = 60
    [stimuli]
    dataset = "data/sr-x4"
    methods = ["hat", "supir", "bicubic"]
    images = ["0801", "0802"]          # optional; default: every image of the dataset
    context = "lq"                     # none | lq | gt
    [[dimensions]]                     # omitted: overall preference only; at most 32
    name = "naturalness"               # a known dimension, or any name with a prompt (<= 64 of A-Za-z0-9_.-)
    prompt = "Which image looks more natural?"   # default: DIMENSIONS (pairwise), RATING_PROMPTS
                                       # (acr5, continuous100) or DCR_PROMPTS (dcr5, which needs context = "gt")
    [scenarios]
    taxonomy = ["text", "food"]        # optional; default: the DOMAIN taxonomy; scenarios.csv tags must be in it
    [quality]                          # shares of the whole session (pairwise and rating studies)
    gold_fraction = 0.08               # known-answer trials (pairwise: reference vs degraded; rating: see below)
    repeat_fraction = 0.05
    attention_fraction = 0.0           # obvious-answer trials (pairwise: vs a flat grey image; rating: an instruction)
    repeat_min_gap = 5
    min_ms_per_trial = 1200
    [crowd]
    platform = "prolific"              # prolific | mturk | link
    completion_code = "C1A2B3"         # 1-64 of A-Za-z0-9_- (it goes into the platform's URL)
    session_timeout_min = 30           # minutes without an answer before an unfinished session expires
                                       # and its unanswered trials go to other raters; 0: never

Rating gold trials (``eyetest.core.design.quality``): the reference (``gt/``)
expected in the top two categories, a heavily degraded copy in the bottom two;
with ``scale = "dcr5"`` the reference against itself (hidden reference),
expected "Imperceptible".  Attention checks: an image whose rendered text
names the answer to give, expected in that category (continuous: that end of
the slider); ``eyetest.study.controls``.

Every error is a :class:`~eyetest.errors.SpecError` whose ``key`` is the
dotted path of the offending key (``study.design``, ``dimensions[1].name``)
and whose message says what is allowed.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eyetest.core.design.active import DEFAULT_UTILITY
from eyetest.core.design.active import UTILITIES as ACTIVE_UTILITIES
from eyetest.core.judgments.model import condition_id
from eyetest.errors import SpecError

SCHEMA_VERSION = 1

#: perceptual dimensions (DOMAIN.md) and their default question
DIMENSIONS = {
    "overall": "Which image do you prefer overall?",
    "semantic_validity": "In which image is the content (objects, text, faces) rendered correctly?",
    "detail_realism": "Which image has more realistic details?",
    "sharpness": "Which image is sharper?",
    "naturalness": "Which image looks more natural?",
    "visual_comfort": "Which image is more comfortable to look at?",
    "stylistic_consistency": "Which image better keeps the style of the original?",
}
#: the same dimensions asked of one image at a time (protocol "rating": ACR and continuous scales)
RATING_PROMPTS = {
    "overall": "How would you rate the overall quality of this image?",
    "semantic_validity": "How would you rate the correctness of the content (objects, text, faces) of this image?",
    "detail_realism": "How would you rate the realism of the details of this image?",
    "sharpness": "How would you rate the sharpness of this image?",
    "naturalness": "How would you rate the naturalness of this image?",
    "visual_comfort": "How would you rate the visual comfort of this image?",
    "stylistic_consistency": "How would you rate how well this image keeps the style of the original?",
}
#: ... and against the reference shown beside it (scale "dcr5", degradation category rating, ITU-T P.910)
DCR_PROMPTS = {
    "overall": "Compared with the reference, how annoying are the impairments of this image?",
    "semantic_validity": "Compared with the reference, how annoying are the errors in the content (objects, text, "
                         "faces) of this image?",
    "detail_realism": "Compared with the reference, how annoying are the unrealistic details of this image?",
    "sharpness": "Compared with the reference, how annoying is the loss of sharpness of this image?",
    "naturalness": "Compared with the reference, how annoying is the unnaturalness of this image?",
    "visual_comfort": "Compared with the reference, how annoying is the visual discomfort of this image?",
    "stylistic_consistency": "Compared with the reference, how annoying are the departures from its style in this "
                             "image?",
}
#: scenario taxonomy of the SUPIR-vs-HAT study (DOMAIN.md)
SCENARIOS = (
    "print media", "fabric texture", "food", "reflective glass", "hands/feet", "large face",
    "medium face", "text", "complex texture", "crowd", "trees & leaves", "water flow", "animal fur",
    "street view", "architecture", "aerial view", "cartoon/comic", "hand-drawn",
)
PROTOCOLS = ("pairwise", "rating")
PAIRWISE_DESIGNS = ("full", "random", "swiss", "active")
RATING_DESIGNS = ("balanced",)
SCALES = ("acr5", "dcr5", "continuous100")
CONTEXTS = ("none", "lq", "gt")
BLOCKS = ("none", "image", "scenario")
PLATFORMS = ("prolific", "mturk", "link")

_TABLES = ("schema_version", "study", "stimuli", "dimensions", "scenarios", "quality", "crowd")
_KEYS = {
    "study": ("name", "description", "protocol", "design", "active_utility", "scale", "ties", "both_bad",
              "blocks", "seed", "judgments_per_session"),
    "stimuli": ("dataset", "methods", "images", "context"),
    "dimensions": ("name", "prompt"),
    "scenarios": ("taxonomy",),
    "quality": ("gold_fraction", "repeat_fraction", "attention_fraction", "repeat_min_gap", "min_ms_per_trial"),
    "crowd": ("platform", "completion_code", "session_timeout_min"),
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: the rater API takes at most this many answers per judgment, with keys of at most this length
MAX_DIMENSIONS, MAX_DIMENSION_NAME = 32, 64
#: minutes without an answer before an unfinished session expires (``crowd.session_timeout_min``):
#: far longer than any one trial takes, short enough that an abandoned session's trials go to others
DEFAULT_SESSION_TIMEOUT_MIN = 30
#: completion codes go into the crowd platform's URL as they are
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Dimension:
    name: str
    prompt: str


@dataclass(frozen=True)
class QualityControl:
    gold_fraction: float = 0.0
    repeat_fraction: float = 0.0
    attention_fraction: float = 0.0
    repeat_min_gap: int = 5
    min_ms_per_trial: int = 0


@dataclass(frozen=True)
class Crowd:
    platform: str = "link"
    completion_code: str | None = None
    session_timeout_min: int = DEFAULT_SESSION_TIMEOUT_MIN


@dataclass(frozen=True)
class StudyPlan:
    """A validated study spec (see module docstring for the keys and defaults)."""

    name: str
    protocol: str
    design: str
    dataset: str
    methods: tuple
    schema_version: int = SCHEMA_VERSION
    description: str = ""
    active_utility: str | None = None     # design "active" only (None otherwise)
    scale: str | None = None
    ties: bool = True
    both_bad: bool = False
    blocks: str = "image"
    seed: int = 0
    judgments_per_session: int = 60
    images: tuple | None = None
    context: str = "none"
    dimensions: tuple = (Dimension("overall", DIMENSIONS["overall"]),)
    scenarios: tuple = SCENARIOS
    quality: QualityControl = field(default_factory=QualityControl)
    crowd: Crowd = field(default_factory=Crowd)

    def conditions(self, images=None) -> list[str]:
        """Condition ids ``image::method`` for ``images`` (default: the spec's images)."""
        images = self.images if images is None else tuple(images)
        if not images:
            raise SpecError("stimuli.images", "no images listed; pass the dataset's images")
        return [condition_id(i, m) for i in images for m in self.methods]

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON/TOML-able), ``schema_version`` included."""
        return asdict(self)


def _check_keys(table: dict, allowed, where: str) -> None:
    for key in table:
        if key not in allowed:
            raise SpecError(f"{where}.{key}" if where else key,
                            f"unknown key; allowed: {', '.join(allowed)}")


def _choice(value, allowed, key):
    if value not in allowed:
        raise SpecError(key, f"{value!r} is not allowed; allowed: {', '.join(allowed)}")
    return value


def _bool(value, key):
    if not isinstance(value, bool):
        raise SpecError(key, f"must be true or false, got {value!r}")
    return value


def _int(value, key, lo=None):
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(key, f"must be an integer, got {value!r}")
    if lo is not None and value < lo:
        raise SpecError(key, f"must be >= {lo}, got {value}")
    return value


def _str(value, key):
    if not isinstance(value, str) or not value.strip():
        raise SpecError(key, f"must be a non-empty string, got {value!r}")
    return value


def _names(value, key, minimum):
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SpecError(key, "must be a list of non-empty strings")
    dup = [v for v in value if value.count(v) > 1]
    if dup:
        raise SpecError(key, f"{dup[0]!r} is listed twice")
    if len(value) < minimum:
        raise SpecError(key, f"needs at least {minimum} entries, got {len(value)}")
    return tuple(value)


def _table(raw: dict, name: str) -> dict:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise SpecError(name, "must be a table ([" + name + "])")
    _check_keys(value, _KEYS[name], name)
    return value


def parse_spec(raw: dict | str) -> StudyPlan:
    """Validate a spec given as TOML text or as the parsed mapping."""
    if isinstance(raw, str):
        try:
            raw = tomllib.loads(raw)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError("spec", f"not valid TOML: {exc}") from None
    if not isinstance(raw, dict):
        raise SpecError("spec", "must be a TOML document (a table)")
    _check_keys(raw, _TABLES, "")
    version = _int(raw.get("schema_version", SCHEMA_VERSION), "schema_version")
    if version != SCHEMA_VERSION:
        raise SpecError("schema_version", f"{version} is not supported; allowed: {SCHEMA_VERSION}")
    study, stimuli = _table(raw, "study"), _table(raw, "stimuli")
    quality, crowd, scen = _table(raw, "quality"), _table(raw, "crowd"), _table(raw, "scenarios")

    if "name" not in study:
        raise SpecError("study.name", "is required (letters, digits, '_', '.', '-')")
    name = _str(study["name"], "study.name")
    if not _NAME.match(name):
        raise SpecError("study.name", f"{name!r} may contain only letters, digits, '_', '.', '-'")
    protocol = _choice(study.get("protocol", "pairwise"), PROTOCOLS, "study.protocol")
    pairwise = protocol == "pairwise"
    designs = PAIRWISE_DESIGNS if pairwise else RATING_DESIGNS
    design = _choice(study.get("design", "active" if pairwise else "balanced"), designs, "study.design")
    if design == "active":
        active_utility = _choice(study.get("active_utility", DEFAULT_UTILITY), ACTIVE_UTILITIES, "study.active_utility")
    elif "active_utility" in study:
        raise SpecError("study.active_utility", f"applies to design 'active' only, not {design!r}")
    else:
        active_utility = None
    for key in ("ties", "both_bad"):
        if not pairwise and key in study:
            raise SpecError(f"study.{key}", "applies to protocol 'pairwise' only")
    if pairwise and "scale" in study:
        raise SpecError("study.scale", "applies to protocol 'rating' only")
    scale = None if pairwise else _choice(study.get("scale", "acr5"), SCALES, "study.scale")
    defaults = DIMENSIONS if pairwise else DCR_PROMPTS if scale == "dcr5" else RATING_PROMPTS

    if scale == "dcr5" and stimuli.get("context", "none") in CONTEXTS and stimuli.get("context", "none") != "gt":
        raise SpecError("stimuli.context", f"{stimuli.get('context', 'none')!r} is not allowed with scale 'dcr5': "
                                           "degradation category rating (ITU-T P.910 DCR) rates each image "
                                           "against its reference, so the reference must be shown; set "
                                           "context = \"gt\", or use scale \"acr5\" to rate images on their own")
    if "dataset" not in stimuli:
        raise SpecError("stimuli.dataset", "is required (the dataset folder)")
    if "methods" not in stimuli:
        raise SpecError("stimuli.methods", "is required (the methods to compare)")
    images = stimuli.get("images")

    dims_raw = raw.get("dimensions", [])
    if not isinstance(dims_raw, list):
        raise SpecError("dimensions", "must be an array of tables ([[dimensions]])")
    if len(dims_raw) > MAX_DIMENSIONS:
        raise SpecError("dimensions", f"at most {MAX_DIMENSIONS} dimensions (one answer each per judgment), "
                                      f"got {len(dims_raw)}")
    dims = []
    for k, d in enumerate(dims_raw):
        key = f"dimensions[{k}]"
        if not isinstance(d, dict):
            raise SpecError(key, "must be a table with 'name' and optional 'prompt'")
        _check_keys(d, _KEYS["dimensions"], key)
        if "name" not in d:
            raise SpecError(f"{key}.name", f"is required; known: {', '.join(DIMENSIONS)} (others need a prompt)")
        dname = _str(d["name"], f"{key}.name")
        if len(dname) > MAX_DIMENSION_NAME:
            raise SpecError(f"{key}.name", f"{dname!r} has {len(dname)} characters; at most {MAX_DIMENSION_NAME}")
        if not _NAME.match(dname):
            raise SpecError(f"{key}.name", f"{dname!r} may contain only letters, digits, '_', '.', '-'")
        if dname in (x.name for x in dims):
            raise SpecError(f"{key}.name", f"{dname!r} is listed twice")
        if "prompt" in d:
            prompt = _str(d["prompt"], f"{key}.prompt")
        elif dname in defaults:
            prompt = defaults[dname]
        else:
            raise SpecError(f"{key}.prompt", f"is required for the custom dimension {dname!r} "
                                             f"(known dimensions: {', '.join(DIMENSIONS)})")
        dims.append(Dimension(dname, prompt))

    fractions = {k: quality.get(k, 0.0) for k in ("gold_fraction", "repeat_fraction", "attention_fraction")}
    for k, v in fractions.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 0.5:
            raise SpecError(f"quality.{k}", f"must be a number between 0 and 0.5, got {v!r}")
    if sum(fractions.values()) > 0.5:
        raise SpecError("quality", "gold_fraction + repeat_fraction + attention_fraction must be <= 0.5")
    platform = _choice(crowd.get("platform", "link"), PLATFORMS, "crowd.platform")
    code = crowd.get("completion_code")
    if code is not None:
        code = _str(code, "crowd.completion_code")
        if not _CODE.match(code):
            raise SpecError("crowd.completion_code", f"{code!r}: 1-64 letters, digits, '_' or '-' (it becomes "
                                                     "part of the platform's completion URL)")
    if platform == "prolific" and code is None:
        raise SpecError("crowd.completion_code", "is required for platform 'prolific'")

    return StudyPlan(
        name=name,
        description=str(study.get("description", "")),
        protocol=protocol,
        design=design,
        active_utility=active_utility,
        scale=scale,
        ties=_bool(study.get("ties", True), "study.ties") if pairwise else False,
        both_bad=_bool(study.get("both_bad", False), "study.both_bad") if pairwise else False,
        blocks=_choice(study.get("blocks", "image"), BLOCKS, "study.blocks"),
        seed=_int(study.get("seed", 0), "study.seed", 0),
        judgments_per_session=_int(study.get("judgments_per_session", 60), "study.judgments_per_session", 1),
        dataset=_str(stimuli["dataset"], "stimuli.dataset"),
        methods=_names(stimuli["methods"], "stimuli.methods", 2 if pairwise else 1),
        images=None if images is None else _names(images, "stimuli.images", 1),
        context=_choice(stimuli.get("context", "none"), CONTEXTS, "stimuli.context"),
        dimensions=tuple(dims) or (Dimension("overall", defaults["overall"]),),
        scenarios=_names(scen["taxonomy"], "scenarios.taxonomy", 1) if "taxonomy" in scen else SCENARIOS,
        quality=QualityControl(
            **{k: float(v) for k, v in fractions.items()},
            repeat_min_gap=_int(quality.get("repeat_min_gap", 5), "quality.repeat_min_gap", 0),
            min_ms_per_trial=_int(quality.get("min_ms_per_trial", 0), "quality.min_ms_per_trial", 0),
        ),
        crowd=Crowd(platform=platform, completion_code=code,
                    session_timeout_min=_int(crowd.get("session_timeout_min", DEFAULT_SESSION_TIMEOUT_MIN),
                                             "crowd.session_timeout_min", 0)),
    )


def load_spec(path) -> StudyPlan:
    """Read and validate a spec file; errors name the file for I/O and TOML problems."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(str(path), f"cannot read the spec file: {exc.strerror or exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(str(path), f"not valid TOML: {exc}") from None
    return parse_spec(raw)
