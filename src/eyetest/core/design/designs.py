"""Non-adaptive and score-adaptive pair designs: ``full``, ``random`` and ``swiss``.

``full``
    Every comparable pair once per replicate.  Pairs are ordered by the circle
    method of round-robin scheduling (Kirkman 1847; each round shows every
    condition at most once), rounds are shuffled with the seed and blocks are
    interleaved (the seeded draws of replicate ``r`` come from their own
    generator, ``stream("full-replicate", r)``, so the queue is a fixed
    sequence).  Left/right follows a rotational tournament: with ``L``
    conditions on a circle, ``p`` is left of ``q`` iff ``(q - p) mod L`` is in
    ``1 .. (L - 1) / 2``, so for odd ``L`` every condition is left exactly
    ``(L - 1) / 2`` times; for even ``L`` the extra condition alternates, so
    left and right counts differ by at most one.  Odd replicates mirror the
    orientation, so two replicates are exactly balanced.  A pair released
    unanswered (its session expired) is handed out again before the queue
    (its left/right evened out per condition), so every replicate still
    covers every pair.
``random``
    Pairs drawn uniformly from the comparable pairs (blocks weighted by their
    number of pairs), left/right evened out per condition.
``swiss``
    Swiss-system rounds (as in chess tournaments, FIDE Handbook C.04): the
    conditions of each block are ranked by score (wins + ties/2 per judgment,
    ties of the score broken by a random key drawn once per round,
    ``stream("swiss-round", r)``) and paired top-down, each with the
    nearest-ranked unpaired opponent it has met least often.
    This greedy pairing avoids most rematches but does not exclude them: a
    condition paired late in a round may find only opponents it has met,
    while an unmet one was taken earlier (with 6-10 conditions about 10 % of
    the first ``C(n, 2)`` proposals are such rematches; FIDE's pairing rules
    backtrack to avoid them, this does not).
    A round is the run of booked pairs (proposed here or booked from
    elsewhere) until no block has two conditions left that are in none of
    them; then the next round starts.  Each proposal pairs the conditions
    still free in the round by the scores *now* and serves the first such
    pair new to the rater, so a round's later pairs use the judgments that
    came in during the round.  The round is thus a function of the booked
    pairs, in order, and the scores of the judgments (not of when they came
    in): a scheduler rebuilt by booking and observing the history continues
    the same round with the same pairs.
"""

from __future__ import annotations

import numpy as np

from eyetest.core.design.base import PairScheduler


def round_robin(members: list[int], *, mirror: bool = False) -> list[list[tuple[int, int]]]:
    """Rounds of oriented pairs covering every pair of ``members`` once.

    Circle method for the rounds, rotational tournament for the orientation
    (see module docstring).  ``mirror`` swaps every pair's left/right.
    """
    size = len(members)
    if size < 2:
        return []
    pos = {m: p for p, m in enumerate(members)}
    odd = size % 2 == 1
    rot = size if odd else size - 1          # conditions on the rotational circle

    def orient(x: int, y: int) -> tuple[int, int]:
        p, q = pos[x], pos[y]
        if not odd and (p == size - 1 or q == size - 1):
            other = q if p == size - 1 else p
            extra_left = other % 2 == 0
            pair = (x, y) if (p == size - 1) == extra_left else (y, x)
        else:
            pair = (x, y) if 1 <= (q - p) % rot <= (rot - 1) // 2 else (y, x)
        return (pair[1], pair[0]) if mirror else pair

    circle: list[int | None] = list(members) + ([None] if odd else [])
    m = len(circle)
    rounds = []
    for _ in range(m - 1):
        pairs = []
        for k in range(m // 2):
            x, y = circle[k], circle[m - 1 - k]
            if x is not None and y is not None:
                pairs.append(orient(x, y))
        rounds.append(pairs)
        circle = [circle[0], circle[-1]] + circle[1:-1]
    return rounds


class FullScheduler(PairScheduler):
    """All pairs, balanced order and position (see module docstring)."""

    design = "full"

    def __init__(self, conditions, *, seed: int, ties: bool = True, blocks=None):
        super().__init__(conditions, seed=seed, ties=ties, blocks=blocks)
        n_blocks = int(self.block.max()) + 1
        order = self.stream("full-order")
        self._members = []
        for b in range(n_blocks):
            members = np.flatnonzero(self.block == b)
            self._members.append([int(x) for x in order.permutation(members)])
        self.replicate = 0
        self._queue: list[tuple[int, int]] = []
        self._owed: dict[int, int] = {}      # pair id -> times released unanswered, not yet handed out again
        self._extend()

    def _extend(self) -> None:
        rng = self.stream("full-replicate", self.replicate)
        keyed = []
        for members in self._members:
            rounds = round_robin(members, mirror=self.replicate % 2 == 1)
            order = rng.permutation(len(rounds))
            seq = [pair for r in order for pair in rounds[r]]
            for k, pair in enumerate(seq):
                keyed.append(((k + 0.5) / len(seq), rng.random(), pair))
        keyed.sort(key=lambda t: (t[0], t[1]))
        self._queue.extend(pair for _, _, pair in keyed)
        self.replicate += 1

    def _next(self, exclude, rng):
        if len(exclude) >= self.n_pairs:
            return None
        for pid in sorted(self._owed):        # released pairs first, in pair-id order (order-free)
            if pid not in exclude:
                self._take_owed(pid)
                return self._orient(pid, rng)
        for attempt in range(2):
            for pos, (a, b) in enumerate(self._queue):
                if int(self._pair_id[a, b]) not in exclude:
                    return self._queue.pop(pos)
            self._extend()
        return None  # pragma: no cover - a fresh replicate holds every pair

    def _take_owed(self, pid):
        """A pair handed out again after its release is no longer owed."""
        self._owed[pid] -= 1
        if not self._owed[pid]:
            del self._owed[pid]

    def _reissue(self, pid):
        """A pair released unanswered is owed: :meth:`_next` hands it out before the queue."""
        self._owed[pid] = self._owed.get(pid, 0) + 1

    def _booked(self, pid):
        """A pair handed out elsewhere leaves the queue: its first queued occurrence is removed.

        :meth:`_next` always takes the first queued occurrence of the pair it
        serves, and the queue is a fixed, seeded sequence of replicates
        (extended lazily), so a scheduler rebuilt by booking the pairs already
        handed out holds the same queue as the one that proposed them.  A
        pair that is owed (released unanswered, :meth:`_reissue`) was served
        from the owed pairs, as :meth:`_next` does, so it leaves those instead.
        """
        if pid in self._owed:
            self._take_owed(pid)
            return
        for attempt in range(2):
            for pos, (a, b) in enumerate(self._queue):
                if int(self._pair_id[a, b]) == pid:
                    del self._queue[pos]
                    return
            self._extend()


class RandomScheduler(PairScheduler):
    """Uniformly random comparable pairs."""

    design = "random"

    def _next(self, exclude, rng):
        if len(exclude) >= self.n_pairs:
            return None
        for _ in range(8):
            pid = int(rng.integers(self.n_pairs))
            if pid not in exclude:
                return self._orient(pid, rng)
        free = np.flatnonzero(self._available(exclude))
        return self._orient(int(free[rng.integers(len(free))]), rng)


class SwissScheduler(PairScheduler):
    """Swiss-system rounds pairing neighbours by current score (see module docstring).

    ``round`` is the current round (from 0), ``free`` marks the conditions
    not yet paired in it, ``round_pairs[r]`` lists the pairs booked in round
    ``r`` (proposed here or booked from elsewhere).
    """

    design = "swiss"

    def __init__(self, conditions, *, seed: int, ties: bool = True, blocks=None):
        super().__init__(conditions, seed=seed, ties=ties, blocks=blocks)
        self.round = 0
        self.free = np.ones(len(self.conditions), bool)
        self.round_pairs: list[list[tuple[str, str]]] = [[]]
        self._key_round = -1
        self._key = np.zeros(len(self.conditions))

    def score(self) -> np.ndarray:
        """Points per judgment (wins + ties/2); 0.5 before a condition's first judgment."""
        return np.where(self.games > 0, self.points / np.maximum(self.games, 1), 0.5)

    def _round_key(self) -> np.ndarray:
        """Random key per condition breaking ties of the score, one draw per round."""
        if self._key_round != self.round:
            self._key = self.stream("swiss-round", self.round).random(len(self.conditions))
            self._key_round = self.round
        return self._key

    def _pairing(self):
        """Pair ids of the current round's pairing of the free conditions, in serving order."""
        score = self.score()
        met = self.observed + self.pending
        key = self._round_key()
        for b in range(int(self.block.max()) + 1):
            members = np.flatnonzero((self.block == b) & self.free)
            if len(members) < 2:
                continue
            ranked = [int(x) for x in members[np.lexsort((key[members], -score[members]))]]
            rank = {c: r for r, c in enumerate(ranked)}
            free = list(ranked)
            while len(free) >= 2:
                top = free.pop(0)
                best = min(free, key=lambda c: (met[self._pair_id[top, c]], rank[c] - rank[top]))
                free.remove(best)
                yield int(self._pair_id[top, best])

    def _next(self, exclude, rng):
        if len(exclude) >= self.n_pairs:
            return None
        for pid in self._pairing():
            if pid not in exclude:
                return self._orient(pid, rng)
        # every pair of the round's pairing is known to this rater: the closest-scored new pair
        score = self.score()
        free = np.flatnonzero(self._available(exclude))
        gap = np.abs(score[self.pair_i[free]] - score[self.pair_j[free]])
        met = (self.observed + self.pending)[free]
        return self._orient(int(free[np.lexsort((met, gap))[0]]), rng)

    def _after_book(self, a, b, pid):
        """A booked pair uses up its two conditions in the round; a used-up round starts the next."""
        self.free[a] = self.free[b] = False
        self.round_pairs[-1].append((self.conditions[a], self.conditions[b]))
        if np.bincount(self.block[self.free], minlength=1).max(initial=0) < 2:
            self.round += 1
            self.free[:] = True
            self.round_pairs.append([])
