"""Public, stable API of study design: pair schedulers and rating assignments.

>>> from eyetest.design import make_scheduler
>>> s = make_scheduler("active", ["img1::hat", "img1::supir", "img1::bicubic"], seed=7)
>>> pairs = s.propose(2)               # [(A, B), ...]; A is shown on the left
>>> s.observe(*pairs[0], "A")          # "A", "B" or "tie"

``make_scheduler(design, conditions, *, seed, ties=True, blocks=None)``
    ``design`` is one of ``full``, ``random``, ``swiss``, ``active``;
    ``conditions`` are distinct string ids; ``seed`` is an integer >= 0.
    ``blocks`` restricts comparisons to conditions of the same block:
    ``"image"`` (the image part of ``image::method`` condition ids), a mapping
    ``condition -> block`` (e.g. the scenario of each image) or a list of
    groups.  The returned object has

    * ``propose(k, *, rater=None) -> list[tuple[str, str]]``: up to ``k`` pairs;
      with ``rater`` none of them was proposed to that rater before;
    * ``propose_batch(raters) -> list[tuple[str, str] | None]``: one pair per
      concurrent rater;
    * ``observe(a, b, outcome, *, rater=None)`` with outcome ``"A"``, ``"B"``
      or ``"tie"``;
    * ``release(a, b, *, reissue=True)``: give back a proposed pair that will
      not be answered (``full`` hands it out again); ``reissue=False`` for a
      pair answered without an order (e.g. "both bad" where ties are off).

    The schedule is a function of the seed and of the sequence of calls only.

``assign_ratings(stimuli, *, raters, per_rater, seed)``
    Incomplete-block assignment of stimuli to raters for rating (ACR / DCR /
    continuous) studies: every stimulus shown equally often (within one),
    co-occurrence of pairs greedily evened out (not an exact BIBD); the
    study server assigns its sessions' stimuli the same way, one block per
    session (``eyetest.core.design.rating.BalancedBlocks``).

``insert_quality_trials(...)``, ``control_counts(...)``
    Gold, repeat and attention-check trials mixed into a rater's session
    (pairs: ``GoldPair``; ratings: ``GoldRating``), and how many of each the
    ``i``-th session of a study gets (systematic rounding over sessions).

See ``docs/study-design.md`` for the algorithms and their references.
"""

from __future__ import annotations

from eyetest.core.design import DESIGNS, PairScheduler, make_scheduler
from eyetest.core.design.quality import GoldPair, GoldRating, Trial, control_counts, insert_quality_trials
from eyetest.core.design.rating import balanced_incomplete_blocks


def assign_ratings(stimuli, *, raters: int, per_rater: int, seed: int) -> list[list[str]]:
    """Stimuli shown to each of ``raters`` raters (``per_rater`` each), balanced; see
    :func:`eyetest.core.design.rating.balanced_incomplete_blocks`."""
    return balanced_incomplete_blocks(stimuli, raters=raters, per_rater=per_rater, seed=seed)


__all__ = [
    "DESIGNS", "GoldPair", "GoldRating", "PairScheduler", "Trial", "assign_ratings", "control_counts",
    "insert_quality_trials", "make_scheduler",
]
