"""Quality-control trials: gold, repeat and attention-check trials in a session.

Crowdsourced quality studies mix control trials into the regular ones
(ITU-T P.808 for crowdsourced listening tests; Hossfeld et al., "Best
practices for QoE crowdtesting", IEEE Trans. Multimedia 2014):

gold trial
    A pair with a known answer, e.g. the ground truth against a heavily
    degraded version of the same image.  Tests whether the rater can see.
attention check
    A pair whose answer is obvious to anyone looking (e.g. an image against a
    flat or broken stand-in).  Tests whether the rater is looking.
repeat trial
    A regular trial of the same session shown again, with left and right
    swapped, at least ``min_gap`` trials later.  Measures self-consistency
    (and, through the swap, position bias).

Every control trial is a pair of two conditions, exactly like a regular one,
so it is indistinguishable to the rater; :class:`Trial` flags it in the data.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from eyetest.errors import SpecError

KINDS = ("regular", "gold", "attention", "repeat")


@dataclass(frozen=True)
class GoldPair:
    """A comparison with a known answer: ``better`` is the clearly better condition."""

    better: str
    worse: str


@dataclass(frozen=True)
class Trial:
    """One screen of a pairwise session.

    ``kind`` is one of :data:`KINDS`; ``expected`` is the known answer
    (``"a"`` or ``"b"``) of gold and attention trials; ``repeat_of`` is the
    index of the trial a repeat shows again.
    """

    trial: int
    condition_a: str
    condition_b: str
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


def insert_quality_trials(pairs, *, rng: np.random.Generator, gold=(), attention=(),
                          gold_fraction: float = 0.0, repeat_fraction: float = 0.0,
                          attention_fraction: float = 0.0, min_gap: int = 5,
                          swap_repeats: bool = True) -> list[Trial]:
    """Mix control trials into a rater's regular ``pairs`` ``[(A, B), ...]``.

    The fractions are shares of the *whole* session: with ``n`` regular
    pairs the session has ``N = round(n / (1 - f))`` trials, ``f`` the sum of
    the fractions, of which ``round(fraction * N)`` are of each control kind
    (repeats at most ``n - min_gap``: a repeat has at least ``min_gap``
    trials between it and its original).  Gold and attention pairs are drawn (cycling
    through a seeded permutation of ``gold`` / ``attention``) and shown in a
    random left/right order; every trial position is random.  Regular pairs
    keep their order.
    """
    g = _fraction("gold_fraction", gold_fraction)
    r = _fraction("repeat_fraction", repeat_fraction)
    a = _fraction("attention_fraction", attention_fraction)
    if g + r + a > 0.5:
        raise SpecError("quality", f"gold + repeat + attention fractions must be <= 0.5, got {g + r + a:g}")
    if isinstance(min_gap, bool) or not isinstance(min_gap, numbers.Integral) or min_gap < 0:
        raise SpecError("min_gap", f"must be a non-negative integer (spec: quality.repeat_min_gap), "
                                   f"got {min_gap!r}")
    gold = list(gold)
    attention = list(attention)
    if g > 0 and not gold:
        raise SpecError("quality.gold_fraction", "is > 0 but no gold pairs were given")
    if a > 0 and not attention:
        raise SpecError("quality.attention_fraction", "is > 0 but no attention-check pairs were given")
    regular = [(str(x), str(y)) for x, y in pairs]
    n = len(regular)
    total = int(round(n / (1.0 - (g + r + a)))) if n else 0
    n_gold, n_att = int(round(g * total)), int(round(a * total))
    n_rep = int(round(r * total))

    # items: ("regular", k) with k the regular index; control items carry their pair
    items: list[tuple] = [("regular", k) for k in range(n)]
    for kind, pool, count in (("gold", gold, n_gold), ("attention", attention, n_att)):
        order = rng.permutation(len(pool)) if pool else []
        for c in range(count):
            pair = pool[int(order[c % len(pool)])]
            items.insert(int(rng.integers(len(items) + 1)), (kind, pair))
    eligible = max(n - int(min_gap), 0)           # originals with min_gap regular trials after them
    n_rep = min(n_rep, eligible)
    repeated = sorted(int(k) for k in rng.choice(eligible, size=n_rep, replace=False)) if n_rep else []
    for k in repeated:
        origin = items.index(("regular", k))
        lo = min(origin + 1 + int(min_gap), len(items))
        items.insert(int(rng.integers(lo, len(items) + 1)), ("repeat", k))

    trials: list[Trial] = []
    position: dict[int, int] = {}
    for t, item in enumerate(items):
        kind = item[0]
        if kind == "regular":
            position[item[1]] = t
            trials.append(Trial(t, *regular[item[1]]))
        elif kind == "repeat":
            x, y = regular[item[1]]
            x, y = (y, x) if swap_repeats else (x, y)
            trials.append(Trial(t, x, y, kind="repeat", repeat_of=position[item[1]]))
        else:
            pair: GoldPair = item[1]
            if rng.random() < 0.5:
                trials.append(Trial(t, pair.better, pair.worse, kind=kind, expected="a"))
            else:
                trials.append(Trial(t, pair.worse, pair.better, kind=kind, expected="b"))
    return trials
