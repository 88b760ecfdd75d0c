"""Rating (single-stimulus) designs: balanced incomplete-block assignment, online.

In a rating study (ACR / DCR / continuous scale, ITU-T P.910, ITU-R BT.500)
each rater sees a subset ("block") of the ``v`` stimuli.  A balanced
incomplete-block design (BIBD; Yates 1936) with ``b`` blocks of size ``k``
shows every stimulus ``r = b k / v`` times and every pair of stimuli together
``lambda = r (k - 1) / (v - 1)`` times, so rater effects cancel in
comparisons between stimuli.  Exact BIBDs exist only for special
``(v, b, k)``, and a live study does not know ``b`` (its number of raters) in
advance, so :class:`BalancedBlocks` builds the design one block (one rater)
at a time, each block a function of the blocks before it:

* **replication**: a block takes the least-shown stimuli first, so after every
  block the stimuli have been shown ``m`` or ``m + 1`` times (the design is
  *replication balanced* at any time, not only after ``b`` blocks);
* **co-occurrence**: among the stimuli shown equally often, the block is
  built greedily, each stimulus the one that has co-occurred least with those
  already in the block (then a seeded random key); the greedy pass is run
  from :data:`STARTS` different first stimuli and the block whose pairs have
  co-occurred least before, ``sum_{i<j in block} lambda_ij``, is kept.  Adding
  a block raises ``sum lambda_ij^2`` by ``sum_{i<j in block} (2 lambda_ij + 1)``,
  so this greedily minimises the spread of the co-occurrence counts around
  their mean ``b k (k - 1) / (v (v - 1))``.

It is not an exact BIBD search: for ``(v, b, k) = (7, 7, 3)`` (the Fano plane,
every pair exactly once) it gives pairs that co-occur 0 to 2 times, while for
``(9, 12, 3)`` (the affine plane of order 3) it finds every pair exactly once.

Every random draw of block ``n`` comes from ``default_rng([seed, STREAM, n])``
and the state is the replication counts, the co-occurrence matrix and the
number of blocks, which are sums over the blocks and do not depend on their
order.  So a design rebuilt by :meth:`BalancedBlocks.book`-ing the blocks
handed out so far (in any order) continues exactly as the one that lived
through them: the study server relies on this (``eyetest.study.planning``).

Memory and time: the co-occurrence counts are a ``v x v`` matrix of 32-bit
integers up to :data:`DENSE_MAX` stimuli (16 MB at 2,048), above that one
dictionary of partners per stimulus (``O(b k^2)`` entries: a matrix for
20,000 stimuli was 1.5 GB per study and process, and a session start took
114 ms, mostly to find its maximum); both give the same blocks.  The largest
count is kept as blocks are added (counts only grow), not searched for.
"""

from __future__ import annotations

import numpy as np

from eyetest.errors import SpecError

#: the random stream of the rating design (``default_rng([seed, STREAM, block])``)
STREAM = 0x4B1B
#: greedy passes per block, from different first stimuli
STARTS = 8
#: up to this many stimuli the co-occurrence counts are a dense matrix, above it a dict per stimulus
DENSE_MAX = 2048


class BalancedBlocks:
    """An incomplete-block assignment of ``stimuli`` built one block (rater) at a time (module docstring)."""

    def __init__(self, stimuli, *, seed: int, dense: bool | None = None):
        stimuli = [str(s) for s in stimuli]
        if not stimuli or len(set(stimuli)) != len(stimuli):
            raise SpecError("stimuli", "need a non-empty list of distinct stimuli")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise SpecError("seed", f"must be an integer >= 0, got {seed!r}")
        self.stimuli = stimuli
        self.seed = int(seed)
        self.index = {s: k for k, s in enumerate(stimuli)}
        v = len(stimuli)
        self.shown = np.zeros(v, np.int64)
        dense = v <= DENSE_MAX if dense is None else bool(dense)
        # co-occurrence counts: a matrix, or per stimulus {partner: count} (module docstring)
        self._matrix = np.zeros((v, v), np.int32) if dense else None
        self._partners: list[dict[int, int]] | None = None if dense else [{} for _ in range(v)]
        self._max = 0                          # the largest co-occurrence count
        self.blocks = 0

    def together(self, a: str, b: str) -> int:
        """How many blocks so far held both stimuli ``a`` and ``b``."""
        i, j = (int(self._indices([s])[0]) for s in (a, b))
        if i == j:
            return 0
        return int(self._matrix[i, j]) if self._matrix is not None else self._partners[i].get(j, 0)

    def book(self, block) -> None:
        """Record a block handed out elsewhere (another process, or before a restart)."""
        idx = self._indices(block)
        self._add(idx)

    def release(self, block, unrated) -> None:
        """Of a booked ``block``, the stimuli ``unrated`` that its rater will not rate (the session expired).

        They count as not shown, and their pairs with the block's other
        stimuli as not co-occurring, so later blocks make up for them.  The
        number of blocks (the random streams) does not change, and the counts
        stay sums over the blocks, so releases, like bookings, may be replayed
        in any order.  The largest co-occurrence count is left as it was: it
        only scales the ordering key of :meth:`propose` (any bound above the
        counts gives the same blocks).
        """
        idx = self._indices(block)
        gone = self._indices(unrated)
        if not np.isin(gone, idx).all():
            raise SpecError("unrated", "lists a stimulus that is not in the block")
        if not len(gone):
            return
        self.shown[gone] -= 1
        if self._matrix is not None:
            for g in gone:
                self._matrix[g, idx] -= 1
                self._matrix[idx, g] -= 1
            # a pair of two released stimuli was taken off twice; a stimulus' own cell once
            self._matrix[np.ix_(gone, gone)] += 1
            self._matrix[gone, gone] += 1
            return
        gone_set = {int(g) for g in gone}
        for i in (int(x) for x in idx):
            partners = self._partners[i]
            for j in (int(x) for x in idx):
                if j != i and (i in gone_set or j in gone_set):
                    partners[j] -= 1
                    if not partners[j]:
                        del partners[j]

    def propose(self, k: int) -> list[str]:
        """The next rater's ``k`` distinct stimuli, in a random presentation order; books them."""
        v = len(self.stimuli)
        if isinstance(k, bool) or int(k) != k or not 1 <= k <= v:
            raise SpecError("per_rater", f"must be an integer in 1..{v} (the number of stimuli), got {k!r}")
        k = int(k)
        rng = np.random.default_rng([self.seed, STREAM, self.blocks])
        key = rng.random(v)
        # shown first, then co-occurrence, then the key; co-occurrence < k * max(lambda) + 1 = scale
        scale = float(k) * (float(self._max) + 1.0) + 1.0
        base = (self.shown - self.shown.min()) * scale
        first = np.lexsort((key, self.shown))
        best, best_cost = None, None
        for start in first[:STARTS]:
            if self.shown[start] != self.shown[first[0]]:
                break
            block = [int(start)]
            conc = np.zeros(v, np.float64)
            self._accumulate(conc, int(start))
            free = np.ones(v, bool)
            free[start] = False
            for _ in range(k - 1):
                score = np.where(free, base + conc + key, np.inf)
                pick = int(np.argmin(score))
                block.append(pick)
                free[pick] = False
                self._accumulate(conc, pick)
            idx = np.array(block)
            cost = self._pairs_cost(idx)
            if best_cost is None or cost < best_cost:
                best, best_cost = idx, cost
        order = best[rng.permutation(k)]
        self._add(order)
        return [self.stimuli[int(s)] for s in order]

    def _indices(self, block) -> np.ndarray:
        names = [str(s) for s in block]
        unknown = [s for s in names if s not in self.index]
        if unknown:
            raise SpecError("block", f"{unknown[0]!r} is not one of the design's stimuli")
        if len(set(names)) != len(names):
            raise SpecError("block", "lists a stimulus twice")
        return np.array([self.index[s] for s in names], dtype=np.int64)

    def _accumulate(self, conc: np.ndarray, j: int) -> None:
        """``conc += `` the co-occurrence counts of stimulus ``j`` with every stimulus."""
        if self._matrix is not None:
            conc += self._matrix[j]                # symmetric: row j = column j
            return
        partners = self._partners[j]
        if partners:
            conc[np.fromiter(partners.keys(), np.int64, len(partners))] += np.fromiter(
                partners.values(), np.float64, len(partners))

    def _pairs_cost(self, idx: np.ndarray) -> int:
        """``sum_{i<j in idx} lambda_ij``."""
        if self._matrix is not None:
            return int(self._matrix[np.ix_(idx, idx)].sum()) // 2
        block = [int(i) for i in idx]
        return sum(self._partners[i].get(j, 0) for n, i in enumerate(block) for j in block[n + 1:])

    def _add(self, idx: np.ndarray) -> None:
        self.shown[idx] += 1
        if self._matrix is not None:
            self._matrix[np.ix_(idx, idx)] += 1
            self._matrix[idx, idx] -= 1         # no self-pairs on the diagonal
            self._max = max(self._max, int(self._matrix[np.ix_(idx, idx)].max()))
        else:
            block = [int(i) for i in idx]
            for i in block:
                partners = self._partners[i]
                for j in block:
                    if j != i:
                        partners[j] = c = partners.get(j, 0) + 1
                        self._max = max(self._max, c)
        self.blocks += 1


def balanced_incomplete_blocks(stimuli, *, raters: int, per_rater: int, seed: int) -> list[list[str]]:
    """Assign ``per_rater`` distinct stimuli to each of ``raters`` raters (:class:`BalancedBlocks`).

    Returns one list per rater, in a random presentation order: the first
    ``raters`` sessions of a study server with the same stimuli (in the same
    order), block size and seed get exactly these.
    """
    if isinstance(raters, bool) or int(raters) != raters or raters < 1:
        raise SpecError("raters", f"must be a positive integer, got {raters!r}")
    design = BalancedBlocks(stimuli, seed=seed)
    return [design.propose(per_rater) for _ in range(int(raters))]
