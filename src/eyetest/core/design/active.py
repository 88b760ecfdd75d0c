"""Active sampling of pairs: a ranking utility under a refitted tie-aware posterior.

Posterior
    :class:`~eyetest.core.design.posterior.ThurstonePosterior`: a Gaussian
    over condition qualities of a Thurstone Case V model with a draw margin.
    ``inference="laplace"`` (default): before a proposal that follows new
    judgments the posterior is refitted on *all* judgments so far (posterior
    mode, Laplace covariance, draw margin by maximum likelihood once 20
    judgments are in, the starting margin before), as ASAP's full update does
    with message passing.  The refit starts from zero, not from the previous
    fit, so the posterior a proposal sees is a function of the judgment
    counts per pair only (:meth:`ThurstonePosterior.refit` with
    ``warm=False``); a judgment is therefore only counted when observed
    (:meth:`ThurstonePosterior.record`), and :attr:`posterior` is current
    after :meth:`ActiveScheduler.scores` or a proposal.  With blocks the
    refit and the utility do their linear algebra block-wise, all blocks of
    one size in one batched call (:class:`~eyetest.core.design.posterior.BlockLayout`),
    so a proposal after each judgment costs about 1 ms for 100 images x 6
    methods and 3 ms for 333 x 6 (one block of 600: 65 ms, the ``n^3`` of
    the utility and the refit; shared CPU).  ``inference="adf"``: only the
    online assumed-density update (Minka 2001; TrueSkill corrections,
    Herbrich et al. 2007), a function of the judgments *in the order
    observed*.
Utility
    ``utility="misorder"`` (default): the first-order fall in the expected
    number of misordered pairs, weighted by the posterior probability that
    the pair itself is misordered now; ``utility="ranking"``: the fall
    without that weight (both :mod:`eyetest.core.design.utility`);
    ``utility="eig"``: the expected information gain of ASAP (Mikhailiuk
    et al., ICPR 2020), with three outcomes (A, B, tie).
    The first two aim at the ranking; ``"eig"`` narrows every score's
    interval and reaches a target CI width sooner (spec key
    ``study.active_utility``; ``benchmarks/design_efficiency.py``,
    ``ci_efficiency``).
Batches
    Pairs are served in batches chosen for diversity, so that concurrent
    raters do not all get the currently best pair:

    * ``batch="matching"`` (default): a greedy maximum-utility matching, i.e.
      pairs taken best-first while neither condition is already in the batch
      (each condition at most once per batch, like a Swiss round);
    * ``batch="mst"``: ASAP's batch mode, a *maximum spanning tree* (forest,
      with blocks) of the comparison graph weighted by utility, ``n - 1``
      pairs connecting every condition (scipy's minimum spanning tree on a
      decreasing transform of the utility), served best-first.

    The batch in progress is the set of pairs still *pending* (proposed or
    booked, not answered) among those booked in the current *window* of
    bookings and the previous one; a window is as long as a full batch
    (``sum_b floor(n_b / 2)`` pairs for a matching, ``n - B`` for a spanning
    forest of ``B`` blocks; windows are counted from the first booking).  Each
    proposal serves the first pair, new to the rater, of the greedy matching
    of the conditions in none of those pairs (``"mst"``: the best other edge
    of the spanning forest through them), under the utilities *now*; if there
    is none it tries again with the current window's pending pairs alone,
    and then takes the best pair the rater has not seen.  So concurrent
    raters get disjoint pairs (a batch that straddles two windows too), a
    batch that fills a window starts a fresh matching (as when more raters
    wait than a matching has pairs), a rater answering one pair at a time
    gets the best pair every time, and a pair left unanswered leaves the
    batch when it is released (its session expired) or at the latest after
    two windows.  A pair proposed but not yet answered has
    its utility divided by ``1 + pending``; every judgment changes the
    utilities of the next proposals.  Exact ties of the utility (e.g. at the
    prior) are broken by a relative jitter of ``1e-9`` from the proposal's
    generator (:meth:`PairScheduler.stream`).

Replay
    The batch is a function of the booked pairs, in order, and of the pending
    counts; with ``inference="laplace"`` the posterior is a function of the
    judgment counts.  A scheduler rebuilt by booking the pairs handed out and
    then observing the judgments (:mod:`eyetest.core.design.base`) therefore
    continues exactly as the one that lived through them, however proposals
    and judgments were interleaved and in whatever order the judgments are
    replayed.  With ``inference="adf"`` the posterior depends on the order of
    the judgments: the rebuilt scheduler continues exactly only if it
    observes them in the order the original did.

What was measured (20 conditions, ~20 % ties, 10 concurrent raters,
judgments to Kendall tau >= 0.9, 100 simulated studies; see
``docs/study-design.md``): together the Laplace refit and the ranking
utility cut the judgments of the previous sampler (ADF + information gain)
from 365 to about 310 for N(0, 1) qualities, from 120 to 110 for
N(0, 2^2) and from 110 to 100-110 for four method families (random pairs:
490 / 180 / 170); weighting the utility by each pair's probability of
being misordered now (``"misorder"``) brought them to 280 / 100 / 100.
With the replay-exact batches and refits described above (2026-11-26)
the same benchmark gives 295 / 110 / 100 (random 450 / 215 / 160; over
300 studies of N(0, 1), 290 against 275 before: within the noise of the
per-study hitting times).
MST batches, a wider or empirical-Bayes prior, a look-ahead variance in
the ranking weights, greedy batches that count pending pairs as virtual
observations, knowledge-gradient, Thompson and uncertainty sampling did
not do better.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import minimum_spanning_tree

from eyetest.core.design.base import PairScheduler
from eyetest.core.design.posterior import BlockLayout, ThurstonePosterior
from eyetest.core.design.utility import ranking_utility
from eyetest.errors import SpecError, UnknownNameError

BATCHES = ("matching", "mst")
INFERENCES = ("laplace", "adf")
UTILITIES = ("misorder", "ranking", "eig")
#: the sampler's utility unless told otherwise (also the spec's and ``eyetest plan``'s default)
DEFAULT_UTILITY = "misorder"


class ActiveScheduler(PairScheduler):
    """Utility-driven pair selection with diverse batches.

    Extra parameters: ``prior_sd`` (default 1), the prior sd of each quality
    in model units (1 = sd of a perceived difference); ``batch``
    (``"matching"`` or ``"mst"``, see the module docstring); ``inference``
    (``"laplace"``: the posterior is refitted on all judgments before a
    proposal that follows new judgments, or ``"adf"``: the online update
    only); ``utility`` (``"misorder"``: expected fall in misordered pairs
    weighted by the pair's own probability of being misordered,
    ``"ranking"``: the unweighted fall, both
    :mod:`eyetest.core.design.utility`, or ``"eig"``: ASAP's expected
    information gain).
    """

    design = "active"

    def __init__(self, conditions, *, seed: int, ties: bool = True, blocks=None,
                 prior_sd: float = 1.0, batch: str = "matching", inference: str = "laplace",
                 utility: str = DEFAULT_UTILITY):
        super().__init__(conditions, seed=seed, ties=ties, blocks=blocks)
        if isinstance(prior_sd, bool) or not isinstance(prior_sd, numbers.Real) or not 0 < prior_sd < np.inf:
            raise SpecError("prior_sd", f"must be a positive, finite number, got {prior_sd!r}")
        if batch not in BATCHES:
            raise UnknownNameError("batch mode", batch, BATCHES)
        if inference not in INFERENCES:
            raise UnknownNameError("inference", inference, INFERENCES)
        if utility not in UTILITIES:
            raise UnknownNameError("utility", utility, UTILITIES)
        self.batch = batch
        self.inference = inference
        self.utility_name = utility
        self.posterior = ThurstonePosterior(len(self.conditions), prior_sd=prior_sd, ties=self.ties)
        self._gain: np.ndarray | None = None
        self._blocked = bool(self.block.max() > 0)
        self._layout = BlockLayout(len(self.conditions), self.block) if self._blocked else None
        # bookings per batch window: a matching's pairs, or a spanning forest's (module docstring)
        sizes = np.bincount(self.block)
        self.window = int((sizes // 2).sum()) if batch == "matching" else int((sizes - 1).clip(0).sum())
        self._recent: list[int] = []     # pair ids booked since the start of the previous window
        self._recent_start = 0           # booking number of _recent[0]

    def _refresh(self) -> None:
        """Refit the posterior on all judgments if ``inference="laplace"`` and new ones came in."""
        post = self.posterior
        if self.inference == "laplace" and post.n_observed > post.n_refit:
            post.refit(block=self._layout, warm=False)
            self._gain = None

    def information_gain(self) -> np.ndarray:
        """Utility of each pair (``pair_i``, ``pair_j``) now, before the pending discount.

        ``utility="eig"``: expected information gain; ``"ranking"``: expected
        fall in the number of misordered pairs; ``"misorder"``: that fall
        times the pair's probability of being misordered (module docstrings).
        """
        self._refresh()
        if self._gain is None:
            post = self.posterior
            if self.utility_name == "eig":
                self._gain = post.information_gain(self.pair_i, self.pair_j)
            else:
                self._gain = ranking_utility(post.mean, post.cov, self.pair_i, self.pair_j, post.eps,
                                             block=self._layout,
                                             misorder_weighted=self.utility_name == "misorder")
        return self._gain

    def utility(self) -> np.ndarray:
        """Information gain discounted by pending (proposed, unanswered) judgments."""
        return self.information_gain() / (1.0 + self.pending)

    def scores(self) -> dict[str, float]:
        """Posterior mean (``inference="laplace"``: mode) quality per condition (model units)."""
        self._refresh()
        return dict(zip(self.conditions, self.posterior.mean.tolist()))

    def _window_pending(self) -> tuple[np.ndarray, np.ndarray]:
        """Pair ids booked in the previous + current window, and in the current one, still pending."""
        cut = (self.n_booked // self.window) * self.window - self._recent_start
        recent = np.asarray(self._recent, dtype=np.int64)
        recent = recent[self.pending[recent] > 0]
        current = np.asarray(self._recent[cut:], dtype=np.int64)
        return recent, current[self.pending[current] > 0]

    def _matching(self, util: np.ndarray, busy: np.ndarray):
        """Greedy maximum-utility matching of the conditions in no pair of ``busy``, best pair first.

        Generated lazily (a rater usually takes the first pair).
        """
        used = np.zeros(len(self.conditions), bool)
        used[self.pair_i[busy]] = used[self.pair_j[busy]] = True
        left = np.where(used[self.pair_i] | used[self.pair_j], -np.inf, util)
        while True:
            pid = int(np.argmax(left))
            if left[pid] == -np.inf:
                return
            yield pid
            i, j = self.pair_i[pid], self.pair_j[pid]
            left[(self.pair_i == i) | (self.pair_j == i) | (self.pair_i == j) | (self.pair_j == j)] = -np.inf

    def _tree(self, util: np.ndarray, busy: np.ndarray):
        """The other edges of the maximum-utility spanning forest through the pairs ``busy``, best first."""
        top = float(util.max())
        weight = 1.0 + (top - util) / max(top, 1e-300)   # in [1, 2], decreasing in utility
        weight[busy] = 0.5                                 # the batch's pairs are in the tree
        n = len(self.conditions)
        tree = minimum_spanning_tree(csr_matrix((weight, (self.pair_i, self.pair_j)), shape=(n, n))).tocoo()
        pids = self._pair_id[tree.row, tree.col]
        pids = pids[~np.isin(pids, busy)]
        yield from (int(p) for p in pids[np.argsort(-util[pids], kind="stable")])

    def _next(self, exclude, rng):
        if len(exclude) >= self.n_pairs:
            return None
        # a seeded relative jitter of 1e-9 breaks exact ties (e.g. at the prior) reproducibly
        util = self.utility() * (1.0 + 1e-9 * rng.random(self.n_pairs))
        batch = self._matching if self.batch == "matching" else self._tree
        for busy in self._window_pending():
            for pid in batch(util, busy):
                if pid not in exclude:
                    return self._orient(pid, rng)
        util = np.where(self._available(exclude), util, -np.inf)
        return self._orient(int(np.argmax(util)), rng)

    def _after_book(self, a, b, pid):
        """Remember the pair ids of the previous and the current batch window."""
        self._recent.append(pid)
        first = max((self.n_booked // self.window - 1) * self.window, 0)
        if first > self._recent_start:
            del self._recent[:first - self._recent_start]
            self._recent_start = first

    def _observe(self, i: int, j: int, sign: int) -> None:
        if self.inference == "laplace":
            # counts only: the next use refits from them (an online update would be overwritten unread)
            self.posterior.record(i, j, sign)
        else:
            self.posterior.update(i, j, sign)
        self._gain = None
