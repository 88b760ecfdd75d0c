"""Shared machinery of the pairwise schedulers: pairs, blocks, raters, positions.

A scheduler is a deterministic state machine.  Its state changes only through
:meth:`PairScheduler.propose` / :meth:`PairScheduler.propose_batch`,
:meth:`PairScheduler.book`, :meth:`PairScheduler.release` and
:meth:`PairScheduler.observe`, so the same seed and the same sequence of calls
give the same schedule on every machine.

Replay.  A scheduler holds no random stream between calls: every random draw
comes from a generator made for that draw, ``default_rng([seed, stream,
*counters])``, whose counters are replayable state (a proposal's generator
uses the number of pairs booked so far, :attr:`PairScheduler.n_booked`).  A
scheduler rebuilt from the history, by :meth:`PairScheduler.book` of every
pair handed out (in the order they were handed out, with their raters) and
:meth:`PairScheduler.observe` / :meth:`PairScheduler.release` of every
answer, therefore continues exactly as the scheduler that lived through it,
however the original run interleaved its proposals with the answers; this is
how the study server recovers from a restart (:mod:`eyetest.study.planning`).
Conditions: each answer is replayed after its pair was booked (the pending
count of a pair never hits zero early), and, for designs whose state depends
on the order of the answers (``active`` with ``inference="adf"``), the
answers are replayed in the order they were first observed.  The designs
document what they keep (``full``: its queue; ``swiss``: its round;
``active``: its batch and posterior).

Concurrency: a proposed pair counts as *pending* until it is observed (or
released with :meth:`PairScheduler.release`, e.g. when its session expired).  Designs use pending counts to
spread concurrent raters over different pairs.  Each rater is remembered by
name: a rater is never proposed a pair (in either order) it was proposed
before; repeat trials are added by :mod:`eyetest.core.design.quality`, not by
the schedulers.

Blocks restrict comparisons to conditions of the same block (e.g. the same
image, or the same scenario); see :func:`block_labels`.
"""

from __future__ import annotations

import abc
import numbers
import warnings
from collections.abc import Hashable, Mapping, Sequence

import numpy as np

from eyetest.core.judgments.model import CONDITION_SEP, split_condition_id
from eyetest.errors import ComparisonGraphWarning, SpecError, UnknownNameError

#: outcome labels accepted by ``observe`` and their sign (+1: first condition preferred)
OUTCOME_SIGN = {"A": 1, "B": -1, "tie": 0}
#: the schedulers' independent random streams (second word of each generator's seed sequence)
STREAMS = {"proposal": 0, "full-order": 1, "full-replicate": 2, "swiss-round": 3}


def block_labels(conditions: Sequence[str], blocks) -> np.ndarray:
    """Block index (0..B-1) of every condition.

    ``blocks`` may be ``None`` (one block), ``"image"`` (the image part of
    ``image::method`` condition ids), a mapping ``condition -> block label``
    covering every condition, or a sequence of groups of conditions that
    partitions them (a group member that is not a condition is an error).
    A condition alone in its block can never be compared: a
    :class:`~eyetest.errors.ComparisonGraphWarning` names it.
    """
    n = len(conditions)
    if blocks is None:
        return np.zeros(n, dtype=np.int64)
    if isinstance(blocks, str):
        if blocks != "image":
            raise SpecError("blocks", f"unknown block rule {blocks!r}; allowed: 'image', a mapping "
                                      "condition -> block, or a list of groups")
        no_sep = [c for c in conditions if CONDITION_SEP not in c]
        if no_sep:
            raise SpecError("blocks", f"blocks='image' needs 'image{CONDITION_SEP}method' condition ids; "
                                      f"{no_sep[0]!r} has no {CONDITION_SEP!r}")
        labels: list[Hashable] = [split_condition_id(c)[0] for c in conditions]
    elif isinstance(blocks, Mapping):
        missing = [c for c in conditions if c not in blocks]
        if missing:
            raise SpecError("blocks", f"condition {missing[0]!r} has no block")
        labels = [blocks[c] for c in conditions]
    else:
        where: dict[str, int] = {}
        known = set(conditions)
        for g, group in enumerate(blocks):
            if isinstance(group, str):
                raise SpecError("blocks", f"group {g} is a string ({group!r}); give a list of conditions")
            for c in group:
                if c not in known:
                    raise SpecError("blocks", f"group {g} lists {c!r}, which is not one of the conditions")
                if c in where:
                    raise SpecError("blocks", f"condition {c!r} is in groups {where[c]} and {g}")
                where[c] = g
        missing = [c for c in conditions if c not in where]
        if missing:
            raise SpecError("blocks", f"condition {missing[0]!r} is in no group")
        labels = [where[c] for c in conditions]
    order: dict[Hashable, int] = {}
    out = np.array([order.setdefault(lab, len(order)) for lab in labels], dtype=np.int64)
    alone = [c for c, b in zip(conditions, np.bincount(out)[out]) if b == 1]
    if alone and len(alone) < n:           # (no block of two at all is the scheduler's error)
        warnings.warn(f"blocks: {len(alone)} condition(s) alone in their block can never be compared "
                      f"(e.g. {alone[0]!r})", ComparisonGraphWarning, stacklevel=2)
    return out


def _non_negative_int(key: str, value) -> int:
    """``value`` as an int, or a :class:`SpecError` naming ``key`` (bools and non-integers refused)."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    ok = ok or (isinstance(value, float) and value.is_integer())
    if not ok or value < 0:
        raise SpecError(key, f"must be a non-negative integer, got {value!r}")
    return int(value)


class PairScheduler(abc.ABC):
    """Base class of the pairwise designs (see the module docstring).

    Parameters
    ----------
    conditions : sequence of str
        Distinct condition ids (at least two per usable block); ids must be
        strings (e.g. ``"image::method"``), other types are refused.
    seed : int
        Seed (>= 0) of every random draw (see :meth:`stream`).
    ties : bool
        Whether "tie" is an allowed answer.
    blocks : see :func:`block_labels`.
    """

    design = "base"

    def __init__(self, conditions, *, seed: int, ties: bool = True, blocks=None):
        conditions = list(conditions)
        bad = next((c for c in conditions if not isinstance(c, str)), None)
        if bad is not None:
            raise SpecError("conditions", f"condition ids must be strings, got {bad!r} "
                                          f"({type(bad).__name__}); pass e.g. [str(c) for c in ids]")
        if len(set(conditions)) != len(conditions):
            dup = next(c for c in conditions if conditions.count(c) > 1)
            raise SpecError("conditions", f"condition {dup!r} is listed twice")
        if len(conditions) < 2:
            raise SpecError("conditions", f"need at least 2 conditions, got {len(conditions)}")
        self.conditions = tuple(conditions)
        self.ties = bool(ties)
        self.seed = _non_negative_int("seed", seed)
        self._index = {c: k for k, c in enumerate(self.conditions)}
        self.block = block_labels(self.conditions, blocks)
        n = len(self.conditions)
        ii, jj = np.triu_indices(n, k=1)
        keep = self.block[ii] == self.block[jj]
        if not keep.any():
            raise SpecError("blocks", "no block holds two conditions, so no pair can be compared")
        self.pair_i = ii[keep]
        self.pair_j = jj[keep]
        self.n_pairs = len(self.pair_i)
        self._pair_id = np.full((n, n), -1, dtype=np.int64)
        self._pair_id[self.pair_i, self.pair_j] = np.arange(self.n_pairs)
        self._pair_id[self.pair_j, self.pair_i] = np.arange(self.n_pairs)
        self.pending = np.zeros(self.n_pairs)
        self.observed = np.zeros(self.n_pairs)
        self.left = np.zeros(n)      # times shown in the left (A) position
        self.shown = np.zeros(n)     # times proposed
        self.points = np.zeros(n)    # wins + ties / 2
        self.games = np.zeros(n)
        self.n_observed = 0
        self.n_booked = 0            # pairs proposed or booked so far
        self._seen: dict[str, set[int]] = {}

    # ----------------------------------------------------------------- helpers
    def _idx(self, condition: str) -> int:
        try:
            return self._index[condition]
        except (KeyError, TypeError):
            if not isinstance(condition, str):
                raise SpecError("condition", f"condition ids are strings, got {condition!r} "
                                             f"({type(condition).__name__})") from None
            raise UnknownNameError("condition", condition, self.conditions) from None

    def pair_id(self, a: str, b: str) -> int:
        """Index of the unordered pair ``{a, b}`` in ``pair_i``/``pair_j``."""
        i, j = self._idx(a), self._idx(b)
        if i == j:
            raise SpecError("pair", f"a condition cannot be compared with itself ({a!r})")
        pid = int(self._pair_id[i, j])
        if pid < 0:
            raise SpecError("pair", f"{a!r} and {b!r} are in different blocks")
        return pid

    def seen_by(self, rater) -> set[int]:
        """Pair ids already proposed to ``rater`` (empty for an unknown rater)."""
        return self._seen.get(str(rater), set()) if rater is not None else set()

    def stream(self, name: str, *counters: int) -> np.random.Generator:
        """The generator of one random draw: ``default_rng([seed, STREAMS[name], *counters])``.

        A function of the seed and the (replayable) ``counters`` only, so a
        rebuilt scheduler draws the same numbers (module docstring).
        """
        return np.random.default_rng([self.seed, STREAMS[name], *(int(c) for c in counters)])

    def _orient(self, pid: int, rng: np.random.Generator) -> tuple[int, int]:
        """Left/right order that evens out each condition's left share (``rng`` breaks a tie)."""
        i, j = int(self.pair_i[pid]), int(self.pair_j[pid])
        imb_i = 2 * self.left[i] - self.shown[i]
        imb_j = 2 * self.left[j] - self.shown[j]
        if imb_i == imb_j:
            return (i, j) if rng.random() < 0.5 else (j, i)
        return (i, j) if imb_i < imb_j else (j, i)

    def _book(self, a: int, b: int, rater) -> None:
        pid = int(self._pair_id[a, b])
        self.pending[pid] += 1
        self.left[a] += 1
        self.shown[a] += 1
        self.shown[b] += 1
        self.n_booked += 1
        if rater is not None:
            self._seen.setdefault(str(rater), set()).add(pid)
        self._after_book(a, b, pid)

    # ------------------------------------------------------ design interface
    @abc.abstractmethod
    def _next(self, exclude: set[int], rng: np.random.Generator) -> tuple[int, int] | None:
        """Next oriented pair (indices) avoiding pair ids in ``exclude``; None if none left.

        ``rng`` is this proposal's generator (``stream("proposal", n_booked)``).
        """

    def _available(self, exclude: set[int]) -> np.ndarray:
        mask = np.ones(self.n_pairs, bool)
        if exclude:
            mask[np.fromiter(exclude, dtype=np.int64)] = False
        return mask

    # ---------------------------------------------------------------- public
    def propose(self, k: int = 1, *, rater=None) -> list[tuple[str, str]]:
        """Propose up to ``k`` pairs ``(A, B)`` (A shown left).

        The pairs of one call are distinct while possible.  With ``rater``
        they are also new to that rater, and fewer than ``k`` are returned
        only when the rater has seen every comparable pair.
        """
        k = _non_negative_int("k", k)
        out: list[tuple[str, str]] = []
        taken = set(self.seen_by(rater))
        for _ in range(k):
            pair = self._next(taken, self.stream("proposal", self.n_booked))
            if pair is None and rater is None and taken:
                taken = set()          # anonymous: pairs repeat once all were given in this call
                pair = self._next(taken, self.stream("proposal", self.n_booked))
            if pair is None:
                break
            a, b = pair
            self._book(a, b, rater)
            taken.add(int(self._pair_id[a, b]))
            out.append((self.conditions[a], self.conditions[b]))
        return out

    def propose_batch(self, raters: Sequence) -> list[tuple[str, str] | None]:
        """One new pair for each of many concurrent raters (None: rater has seen all)."""
        out: list[tuple[str, str] | None] = []
        for rater in raters:
            got = self.propose(1, rater=rater)
            out.append(got[0] if got else None)
        return out

    def book(self, a: str, b: str, *, rater=None) -> None:
        """Record that the pair (``a`` left, ``b`` right) was handed out elsewhere.

        For schedulers that share state across processes, and for rebuilding
        one (e.g. after a restart) from the pairs already handed out: the
        pair counts as pending here too, exactly as if :meth:`propose` had
        returned it, the design's round / batch counts it (:meth:`_after_book`)
        and the design's own plan forgets it (:meth:`_booked`; e.g. ``full``
        takes it out of its queue, so every pair is still given once per
        replicate).  Booking the pairs in the order they were handed out
        rebuilds the scheduler exactly (module docstring).
        """
        pid = self.pair_id(a, b)
        self._book(self._index[a], self._index[b], rater)
        self._booked(pid)

    def release(self, a: str, b: str, *, reissue: bool = True) -> None:
        """A booked pair that gets no judgment: it is no longer pending.

        ``reissue=True`` (default): the pair was never answered (its session
        expired, or it was proposed past a budget); ``full`` hands it out
        again before its queue, so its replicate still covers every pair.
        ``reissue=False``: the pair was shown and answered without a ranking
        outcome (e.g. "both bad" where ties are off); it is not handed out again.
        Replaying a history (module docstring) must release a reissued pair
        after the same bookings as the original run did, since ``full``'s
        next proposal depends on it; releases among themselves and the other
        designs' releases are order-free.
        """
        pid = self.pair_id(a, b)
        self.pending[pid] = max(self.pending[pid] - 1, 0)
        if reissue:
            self._reissue(pid)

    def observe(self, a: str, b: str, outcome: str, *, rater=None) -> None:
        """Record a judgment: ``outcome`` "A" (a preferred), "B" (b preferred) or "tie"."""
        if outcome not in OUTCOME_SIGN:
            raise SpecError("outcome", f"{outcome!r} is not one of 'A', 'B', 'tie'")
        if outcome == "tie" and not self.ties:
            raise SpecError("outcome", "'tie' is not allowed: the scheduler was made with ties=False")
        pid = self.pair_id(a, b)
        i, j = self._index[a], self._index[b]
        self.pending[pid] = max(self.pending[pid] - 1, 0)
        self.observed[pid] += 1
        sign = OUTCOME_SIGN[outcome]
        self.points[i] += (sign + 1) / 2
        self.points[j] += (1 - sign) / 2
        self.games[i] += 1
        self.games[j] += 1
        self.n_observed += 1
        if rater is not None:
            self._seen.setdefault(str(rater), set()).add(pid)
        self._observe(i, j, sign)

    def _after_book(self, a: int, b: int, pid: int) -> None:
        """Design-specific bookkeeping of every booked pair, proposed or booked (default: nothing)."""

    def _booked(self, pid: int) -> None:
        """Design-specific bookkeeping of a pair handed out elsewhere (:meth:`book`; default: nothing)."""

    def _observe(self, i: int, j: int, sign: int) -> None:
        """Design-specific bookkeeping of one judgment (default: nothing)."""

    def _reissue(self, pid: int) -> None:
        """Design-specific bookkeeping of a pair released unanswered (:meth:`release`; default: nothing)."""
