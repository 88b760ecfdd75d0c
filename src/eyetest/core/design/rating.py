"""Rating (single-stimulus) designs: balanced incomplete-block assignment.

In a rating study (ACR / DCR / continuous scale, ITU-T P.910, ITU-R BT.500)
each rater sees a subset ("block") of the ``v`` stimuli.  A balanced
incomplete-block design (BIBD; Yates 1936) with ``b`` blocks of size ``k``
shows every stimulus ``r = b k / v`` times and every pair of stimuli together
``lambda = r (k - 1) / (v - 1)`` times, so rater effects cancel in
comparisons between stimuli.  Exact BIBDs exist only for special
``(v, b, k)``; :func:`balanced_incomplete_blocks` builds, for any sizes, a
design that is *replication balanced* (every stimulus shown ``floor(r)`` or
``ceil(r)`` times) and greedily close to *pairwise balanced*: each block takes
the least-shown stimuli, ties broken by the smallest number of earlier
co-occurrences with the stimuli already in the block, then by a seeded random
key.
"""

from __future__ import annotations

import numpy as np

from eyetest.errors import SpecError


def balanced_incomplete_blocks(stimuli, *, raters: int, per_rater: int, rng: np.random.Generator) -> list[list[str]]:
    """Assign ``per_rater`` distinct stimuli to each of ``raters`` raters.

    Returns one list per rater, in a random presentation order.
    """
    stimuli = [str(s) for s in stimuli]
    v = len(stimuli)
    if v == 0 or len(set(stimuli)) != v:
        raise SpecError("stimuli", "need a non-empty list of distinct stimuli")
    if int(raters) != raters or raters < 1:
        raise SpecError("raters", f"must be a positive integer, got {raters!r}")
    if int(per_rater) != per_rater or not 1 <= per_rater <= v:
        raise SpecError("per_rater", f"must be an integer in 1..{v} (the number of stimuli), got {per_rater!r}")
    shown = np.zeros(v)
    together = np.zeros((v, v))
    blocks = []
    for _ in range(int(raters)):
        chosen: list[int] = []
        free = np.ones(v, bool)
        key = rng.random(v)
        for _ in range(int(per_rater)):
            conc = together[:, chosen].sum(axis=1) if chosen else np.zeros(v)
            order = np.lexsort((key, conc, shown))
            pick = int(next(s for s in order if free[s]))
            chosen.append(pick)
            free[pick] = False
        idx = np.array(chosen)
        shown[idx] += 1
        together[np.ix_(idx, idx)] += 1
        np.fill_diagonal(together, 0)
        blocks.append([stimuli[s] for s in rng.permutation(idx)])
    return blocks
