"""Quality-control trials: gold, repeat and attention-check trials in a session.

Crowdsourced quality studies mix control trials into the regular ones
(ITU-T P.808 for crowdsourced listening tests; Hossfeld et al., "Best
practices for QoE crowdtesting", IEEE Trans. Multimedia 2014):

gold trial
    A trial with a known answer.  Pairwise: the ground truth against a
    heavily degraded version of the same image (:class:`GoldPair`).  Rating:
    one stimulus whose rating is known to lie in a region of the scale
    (:class:`GoldRating`): the undistorted reference in the top two
    categories, a heavily degraded version in the bottom two, and, for DCR,
    the reference against itself ("hidden reference"), expected
    "Imperceptible" (:data:`RATING_REGIONS`).  Tests whether the rater can see.
attention check
    A trial whose answer is obvious to anyone looking (an image against a
    flat grey stand-in; rating: an image whose rendered text names the answer
    to give, ITU-T P.808's trapping question, expected in that one category
    or at that end of the continuous scale: ``eyetest.study.controls``).
    Tests whether the rater is looking.
repeat trial
    A regular trial of the same session shown again (pairs with left and
    right swapped) at least ``min_gap`` trials later.  Measures
    self-consistency (and, through the swap, position bias).

Every control trial is built like a regular one (a pair of two conditions,
or one stimulus), so it is indistinguishable to the rater; :class:`Trial`
flags it in the data.

How many: the fractions are shares of the whole session.  With ``n``
regular trials and ``f`` the sum of the fractions, a session should carry
``x_kind = fraction_kind * n / (1 - f)`` control trials of a kind, which is
rarely a whole number.  Rounding it per session (``round(0.4) = 0`` in
every session) would change the study's rate, so it is rounded
*systematically* over the sessions of a study (:func:`control_counts`):
session ``i`` gets ``floor((i + 1) x + u) - floor(i x + u)`` with ``u`` a
seeded uniform offset per kind, i.e. ``floor(x)`` or ``ceil(x)`` trials,
``ceil`` with probability ``frac(x)`` over ``u``, and the first ``N``
sessions together get ``floor(N x + u) - floor(u)``, within one of
``N x`` (systematic sampling; Madow & Madow, Ann. Math. Statist. 15, 1944).
Without a session index the count is rounded stochastically with the
session's own generator (``floor(x) + Bernoulli(frac(x))``, unbiased).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from eyetest.errors import SpecError

KINDS = ("regular", "gold", "attention", "repeat")
#: the random stream of the systematic rounding offsets (``default_rng([seed, STREAM, kind])``)
STREAM = 0x51C
#: inclusive rating regions of gold and attention trials per scale: the top and bottom two categories
#: (acr5 / dcr5: 4-5 and 1-2; continuous100: the five equal labelled intervals of ITU-R BT.500's
#: continuous scale, top two 60-100, bottom two 0-40).  The DCR hidden reference is expected
#: "Imperceptible" (5); "Perceptible but not annoying" (4) is accepted too, the one category of
#: tolerance that the ACR gold trials have (an attentive rater may call a pristine image "Good").
RATING_REGIONS = {
    "acr5": {"top": (4.0, 5.0), "bottom": (1.0, 2.0)},
    "dcr5": {"top": (4.0, 5.0), "bottom": (1.0, 2.0)},
    "continuous100": {"top": (60.0, 100.0), "bottom": (0.0, 40.0)},
}


@dataclass(frozen=True)
class GoldPair:
    """A comparison with a known answer: ``better`` is the clearly better condition."""

    better: str
    worse: str


@dataclass(frozen=True)
class GoldRating:
    """One stimulus with a known answer: a rating in ``[low, high]`` (inclusive) is correct."""

    condition: str
    low: float
    high: float

    @property
    def expected(self) -> str:
        """The region as text, ``"low-high"`` (e.g. ``"4-5"``, ``"0-40"``): :func:`parse_region` reads it."""
        return region_text(self.low, self.high)


def region_text(low: float, high: float) -> str:
    """``"low-high"`` with ``%g`` numbers: the ``expected`` answer of a rating gold trial."""
    return f"{float(low):g}-{float(high):g}"


def parse_region(text) -> tuple[float, float]:
    """Inverse of :func:`region_text`: ``"4-5"`` -> ``(4.0, 5.0)``; a ValueError names the text."""
    parts = str(text).strip().split("-")
    try:
        low, high = (float(parts[0]), float(parts[-1])) if len(parts) in (1, 2) else (math.nan, math.nan)
    except ValueError:
        low = high = math.nan
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise ValueError(f"{text!r} is not a rating region 'low-high' (e.g. '4-5')")
    return low, high


@dataclass(frozen=True)
class Trial:
    """One screen of a session.

    ``condition_b`` is None for a rating trial (one stimulus).  ``kind`` is
    one of :data:`KINDS`; ``expected`` is the known answer of gold and
    attention trials (``"a"`` or ``"b"`` for a pair, the region text
    ``"low-high"`` for a rating); ``repeat_of`` is the index of the trial a
    repeat shows again.
    """

    trial: int
    condition_a: str
    condition_b: str | None
    kind: str = "regular"
    expected: str | None = None
    repeat_of: int | None = None

    @property
    def is_gold(self) -> bool:
        """Known-answer trial (gold or attention check)."""
        return self.kind in ("gold", "attention")

    @property
    def is_repeat(self) -> bool:
        return self.kind == "repeat"


def _fraction(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 0.5:
        raise SpecError(f"quality.{name}", f"must be between 0 and 0.5, got {value!r}")
    return value


def _fractions(gold_fraction, repeat_fraction, attention_fraction) -> dict[str, float]:
    f = {"gold": _fraction("gold_fraction", gold_fraction),
         "attention": _fraction("attention_fraction", attention_fraction),
         "repeat": _fraction("repeat_fraction", repeat_fraction)}
    if sum(f.values()) > 0.5:
        raise SpecError("quality", f"gold + repeat + attention fractions must be <= 0.5, got {sum(f.values()):g}")
    return f


def expected_counts(n_regular: int, *, gold_fraction: float = 0.0, repeat_fraction: float = 0.0,
                    attention_fraction: float = 0.0) -> dict[str, float]:
    """Control trials a session of ``n_regular`` regular trials should carry: ``x = fraction n / (1 - f)``."""
    f = _fractions(gold_fraction, repeat_fraction, attention_fraction)
    total = sum(f.values())
    # rounded to 1e-9 so that a whole number stays whole (0.1 * 48 / 0.8 is 6.000000000000001)
    return {k: round(v * int(n_regular) / (1.0 - total), 9) for k, v in f.items()}


def control_counts(n_regular: int, *, seed: int, session: int, gold_fraction: float = 0.0,
                   repeat_fraction: float = 0.0, attention_fraction: float = 0.0) -> dict[str, int]:
    """Control trials of each kind for the ``session``-th session (0-based) of a study (module docstring).

    ``floor((session + 1) x + u) - floor(session x + u)`` per kind, ``x`` from
    :func:`expected_counts` and ``u = default_rng([seed, STREAM, kind]).random()``:
    a function of the seed and the session index only.
    """
    if isinstance(session, bool) or not isinstance(session, numbers.Integral) or session < 0:
        raise SpecError("session", f"must be an integer >= 0, got {session!r}")
    x = expected_counts(n_regular, gold_fraction=gold_fraction, repeat_fraction=repeat_fraction,
                        attention_fraction=attention_fraction)
    out = {}
    for k, kind in enumerate(("gold", "attention", "repeat")):
        u = np.random.default_rng([int(seed), STREAM, k]).random()
        out[kind] = int(math.floor((session + 1) * x[kind] + u) - math.floor(session * x[kind] + u))
    return out


def insert_quality_trials(items, *, rng: np.random.Generator, gold=(), attention=(),
                          gold_fraction: float = 0.0, repeat_fraction: float = 0.0,
                          attention_fraction: float = 0.0, min_gap: int = 5,
                          swap_repeats: bool = True, counts: dict | None = None) -> list[Trial]:
    """Mix control trials into a rater's regular trials.

    ``items`` are the regular trials in order: pairs ``(A, B)`` (pairwise),
    or condition ids (rating; ``gold``/``attention`` are then
    :class:`GoldRating` s, else :class:`GoldPair` s).  ``counts`` gives the
    number of control trials of each kind (``{"gold": .., "attention": ..,
    "repeat": ..}``, e.g. :func:`control_counts`); by default the expected
    numbers (:func:`expected_counts`) are rounded stochastically with ``rng``.
    Repeats are at most ``n - min_gap``: a repeat has at least ``min_gap``
    trials between it and its original.  Gold and attention items are drawn
    cycling through a seeded permutation of ``gold`` / ``attention``; pairs
    are shown in a random left/right order; every control trial's position
    is random.  Regular trials keep their order.
    """
    f = _fractions(gold_fraction, repeat_fraction, attention_fraction)
    if isinstance(min_gap, bool) or not isinstance(min_gap, numbers.Integral) or min_gap < 0:
        raise SpecError("min_gap", f"must be a non-negative integer (spec: quality.repeat_min_gap), "
                                   f"got {min_gap!r}")
    items, gold, attention = list(items), list(gold), list(attention)
    # a rating session's items are stimulus ids; with none, its control pools say which kind it is
    single = (all(isinstance(x, str) for x in items) if items
              else any(isinstance(p, GoldRating) for p in gold + attention))
    regular = [str(x) for x in items] if single else [(str(x), str(y)) for x, y in items]
    pools = {"gold": list(gold), "attention": list(attention)}
    want = GoldRating if single else GoldPair
    for kind, pool in pools.items():
        if f[kind] > 0 and not pool:
            what = "gold" if kind == "gold" else "attention-check"
            raise SpecError(f"quality.{kind}_fraction", f"is > 0 but no {what} items were given")
        bad = [p for p in pool if not isinstance(p, want)]
        if bad:
            raise SpecError(kind, f"{bad[0]!r} is not a {want.__name__} (a {'rating' if single else 'pairwise'} "
                                  "session)")
    n = len(regular)
    if counts is None:
        x = expected_counts(n, gold_fraction=f["gold"], repeat_fraction=f["repeat"],
                            attention_fraction=f["attention"])
        counts = {k: math.floor(v) + int(rng.random() < v - math.floor(v)) for k, v in x.items()}
    for kind, c in counts.items():
        if kind not in f or isinstance(c, bool) or not isinstance(c, numbers.Integral) or c < 0:
            raise SpecError("counts", f"{kind!r}: {c!r}; expected gold / attention / repeat: integers >= 0")
    counts = {k: int(counts.get(k, 0)) if f[k] > 0 and n else 0 for k in ("gold", "attention", "repeat")}

    # items: ("regular", k) with k the regular index; control items carry their gold item
    slots: list[tuple] = [("regular", k) for k in range(n)]
    for kind in ("gold", "attention"):
        pool = pools[kind]
        order = rng.permutation(len(pool)) if pool else []
        for c in range(counts[kind]):
            slots.insert(int(rng.integers(len(slots) + 1)), (kind, pool[int(order[c % len(pool)])]))
    eligible = max(n - int(min_gap), 0)           # originals with min_gap regular trials after them
    n_rep = min(counts["repeat"], eligible)
    repeated = sorted(int(k) for k in rng.choice(eligible, size=n_rep, replace=False)) if n_rep else []
    for k in repeated:
        origin = slots.index(("regular", k))
        lo = min(origin + 1 + int(min_gap), len(slots))
        slots.insert(int(rng.integers(lo, len(slots) + 1)), ("repeat", k))

    trials: list[Trial] = []
    position: dict[int, int] = {}
    for t, slot in enumerate(slots):
        kind = slot[0]
        if kind == "regular":
            position[slot[1]] = t
            trials.append(Trial(t, regular[slot[1]], None) if single else Trial(t, *regular[slot[1]]))
        elif kind == "repeat":
            if single:
                trials.append(Trial(t, regular[slot[1]], None, kind="repeat", repeat_of=position[slot[1]]))
                continue
            x, y = regular[slot[1]]
            x, y = (y, x) if swap_repeats else (x, y)
            trials.append(Trial(t, x, y, kind="repeat", repeat_of=position[slot[1]]))
        elif single:
            item: GoldRating = slot[1]
            trials.append(Trial(t, item.condition, None, kind=kind, expected=item.expected))
        else:
            pair: GoldPair = slot[1]
            if rng.random() < 0.5:
                trials.append(Trial(t, pair.better, pair.worse, kind=kind, expected="a"))
            else:
                trials.append(Trial(t, pair.worse, pair.better, kind=kind, expected="b"))
    return trials
