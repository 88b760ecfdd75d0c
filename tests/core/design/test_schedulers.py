"""Pair schedulers: determinism, balance, Swiss pairing, no repeats, blocks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from eyetest.core.design import DESIGNS, make_scheduler
from eyetest.core.design.designs import round_robin
from eyetest.errors import SpecError, UnknownNameError

CONDS = [f"c{k:02d}" for k in range(9)]


def _answer(a, b, truth, rng, ties=True):
    d = truth[a] - truth[b] + rng.normal()
    if ties and abs(d) < 0.3:
        return "tie"
    return "A" if d > 0 else "B"


def _run(design, seed, *, steps=30, raters=6, conditions=CONDS, blocks=None, answers_seed=5):
    rng = np.random.default_rng(answers_seed)
    truth = {c: float(v) for c, v in zip(conditions, rng.normal(size=len(conditions)))}
    s = make_scheduler(design, conditions, seed=seed, blocks=blocks)
    log = []
    for step in range(steps):
        names = [f"r{(step + k) % raters}" for k in range(3)]
        pairs = s.propose_batch(names)
        log.append(pairs)
        for r, p in zip(names, pairs):
            if p is not None:
                s.observe(*p, _answer(*p, truth, rng), rater=r)
    return log, s


@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_same_seed_and_answers_same_schedule(design):
    assert _run(design, 11)[0] == _run(design, 11)[0]


def test_same_schedule_with_mst_batches():
    def go():
        s = make_scheduler("active", CONDS, seed=4, batch="mst")
        out = []
        for _ in range(10):
            pairs = s.propose(3)
            out.append(pairs)
            for p in pairs:
                s.observe(*p, "A" if p[0] < p[1] else "tie")
        return out
    assert go() == go()


@pytest.mark.parametrize("design", ["random", "swiss", "active"])
def test_other_seed_other_schedule(design):
    assert _run(design, 11)[0] != _run(design, 12)[0]


def test_unknown_design_names_the_known_ones():
    with pytest.raises(UnknownNameError, match="active"):
        make_scheduler("elo-ish", CONDS, seed=1)


@pytest.mark.parametrize("n", [2, 3, 6, 7, 10, 11])
def test_full_each_pair_once_and_left_right_balanced(n):
    conds = [f"m{k}" for k in range(n)]
    s = make_scheduler("full", conds, seed=3)
    pairs = s.propose(n * (n - 1) // 2)
    unordered = [frozenset(p) for p in pairs]
    assert len(set(unordered)) == len(unordered) == n * (n - 1) // 2
    left = {c: sum(p[0] == c for p in pairs) for c in conds}
    right = {c: sum(p[1] == c for p in pairs) for c in conds}
    assert all(abs(left[c] - right[c]) <= (0 if n % 2 else 1) for c in conds)
    # a second replicate mirrors the first: over two replicates exactly balanced
    pairs2 = s.propose(n * (n - 1) // 2)
    left2 = {c: left[c] + sum(p[0] == c for p in pairs2) for c in conds}
    assert all(left2[c] == n - 1 for c in conds)


def test_round_robin_rounds_are_matchings():
    for n in (4, 5, 8):
        rounds = round_robin(list(range(n)))
        assert len(rounds) == (n - 1 if n % 2 == 0 else n)
        for r in rounds:
            members = [x for p in r for x in p]
            assert len(members) == len(set(members))
        got = [frozenset(p) for r in rounds for p in r]
        assert len(got) == len(set(got)) and set(got) == {frozenset(p) for p in itertools.combinations(range(n), 2)}


def test_swiss_pairs_neighbours_by_score():
    conds = [f"m{k}" for k in range(8)]
    truth = {c: k for k, c in enumerate(conds)}   # higher index always wins
    s = make_scheduler("swiss", conds, seed=4, ties=False)
    for _ in range(3):   # three rounds of four pairs
        pairs = s.propose(4)
        assert len({c for p in pairs for c in p}) == 8          # a round is a matching
        score = s.score()
        for a, b in pairs:
            # partners have equal scores: the neighbours of the standings
            assert score[conds.index(a)] == score[conds.index(b)]
        for a, b in pairs:
            s.observe(a, b, "A" if truth[a] > truth[b] else "B")
    # after three rounds of a transitive truth the standings are 3,2,2,1,1,... points
    met = set()
    for r in s.round_pairs:
        for p in r:
            assert frozenset(p) not in met            # no repeated pairing
            met.add(frozenset(p))


@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_no_pair_twice_for_a_rater(design):
    conds = [f"m{k}" for k in range(7)]
    s = make_scheduler(design, conds, seed=2)
    got = []
    while True:
        p = s.propose(1, rater="alice")
        if not p:
            break
        got.append(frozenset(p[0]))
        s.observe(*p[0], "tie", rater="alice")
    assert len(got) == len(set(got)) == 21            # every pair exactly once, then exhausted
    assert s.propose(3, rater="alice") == []
    assert len(s.propose(3, rater="bob")) == 3


def test_active_never_repeats_for_concurrent_raters():
    _, s = _run("active", 1, steps=60, raters=4)
    # 60 steps, 3 of 4 raters per step: 45 proposals per rater > 36 pairs
    for rater, seen in s._seen.items():
        assert len(seen) <= s.n_pairs
    log, s = _run("active", 1, steps=40, raters=40)
    per_rater: dict[str, list] = {}
    for step, pairs in enumerate(log):
        for k, p in enumerate(pairs):
            per_rater.setdefault(f"r{(step + k) % 40}", []).append(frozenset(p))
    for pairs in per_rater.values():
        assert len(pairs) == len(set(pairs))


@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_blocks_respected(design):
    conds = [f"img{i}::m{k}" for i in range(3) for k in range(4)]
    log, s = _run(design, 5, steps=40, conditions=conds, blocks="image")
    for pairs in log:
        for a, b in filter(None, pairs):
            assert a.split("::")[0] == b.split("::")[0]
    scen = {c: ("text" if c.startswith(("img0", "img1")) else "food") for c in conds}
    log, _ = _run(design, 5, steps=20, conditions=conds, blocks=scen)
    for pairs in log:
        for a, b in filter(None, pairs):
            assert scen[a] == scen[b]


def test_cross_block_observation_and_bad_outcome_rejected():
    s = make_scheduler("random", ["a::x", "a::y", "b::x", "b::y"], seed=0, blocks="image", ties=False)
    with pytest.raises(SpecError, match="different blocks"):
        s.observe("a::x", "b::x", "A")
    with pytest.raises(SpecError, match="outcome"):
        s.observe("a::x", "a::y", "tie")
    with pytest.raises(SpecError, match="outcome"):
        s.observe("a::x", "a::y", "left")
    with pytest.raises(UnknownNameError):
        s.observe("a::x", "c::x", "A")


def test_bad_blocks_and_conditions():
    with pytest.raises(SpecError, match="conditions"):
        make_scheduler("full", ["a", "a"], seed=0)
    with pytest.raises(SpecError, match="blocks"):
        make_scheduler("full", ["a", "b"], seed=0, blocks="scenario")
    with pytest.raises(SpecError, match="blocks"):
        make_scheduler("full", ["a", "b"], seed=0, blocks=[["a"], ["b"]])


def test_active_recovers_order_and_concentrates_on_close_pairs():
    conds = [f"m{k}" for k in range(8)]
    truth = dict(zip(conds, np.linspace(0, 7, 8)))     # neighbours 1 apart
    rng = np.random.default_rng(0)
    s = make_scheduler("active", conds, seed=0)
    for _ in range(300):
        (a, b), = s.propose(1)
        s.observe(a, b, _answer(a, b, truth, rng))
    mean = s.posterior.mean
    assert list(np.argsort(mean)) == list(range(8))
    gap = np.abs(np.array([truth[conds[i]] - truth[conds[j]] for i, j in zip(s.pair_i, s.pair_j)]))
    # at least half the judgments went to neighbours (7 of 28 pairs)
    assert s.observed[gap == 1].sum() >= 0.5 * s.observed.sum()


def test_batches_are_diverse():
    conds = [f"m{k}" for k in range(10)]
    # matching batches: the first five pairs cover every condition once
    s = make_scheduler("active", conds, seed=0)
    pairs = s.propose_batch([f"r{k}" for k in range(5)])
    assert sorted(c for p in pairs for c in p) == conds
    more = s.propose_batch([f"r{k}" for k in range(5, 9)])
    assert not {frozenset(p) for p in more} & {frozenset(p) for p in pairs}   # pending pairs avoided
    # ASAP spanning-tree batches: nine pairs connecting all ten conditions
    s = make_scheduler("active", conds, seed=0, batch="mst")
    pairs = s.propose_batch([f"r{k}" for k in range(9)])
    parent = {c: c for c in conds}

    def root(c):
        while parent[c] != c:
            c = parent[c]
        return c

    for a, b in pairs:
        assert root(a) != root(b)         # no cycle
        parent[root(a)] = root(b)
    assert len({root(c) for c in conds}) == 1


def test_unknown_options_rejected():
    with pytest.raises(SpecError, match="batch"):
        make_scheduler("swiss", CONDS, seed=0, batch="mst")
    with pytest.raises(UnknownNameError, match="matching"):
        make_scheduler("active", CONDS, seed=0, batch="greedy")


@settings(max_examples=25, deadline=None)
@given(design=st.sampled_from(sorted(DESIGNS)), n=st.integers(2, 7), seed=st.integers(0, 10**6),
       k=st.integers(0, 12))
def test_proposals_are_valid_pairs(design, n, seed, k):
    conds = [f"m{i}" for i in range(n)]
    s = make_scheduler(design, conds, seed=seed)
    pairs = s.propose(k)
    assert len(pairs) == k
    for a, b in pairs:
        assert a != b and a in conds and b in conds


def test_book_counts_a_pair_handed_out_elsewhere_as_pending():
    # Another process proposed (a, b) to rater r1: booking it here must stop this
    # scheduler from offering r1 the same pair, as if it had proposed it itself.
    from eyetest.design import make_scheduler

    conds = ["i::a", "i::b", "i::c"]
    s = make_scheduler("random", conds, seed=1)
    s.book("i::a", "i::b", rater="r1")
    assert s.pending[s.pair_id("i::a", "i::b")] == 1
    offered = s.propose(3, rater="r1")
    assert {frozenset(p) for p in offered}.isdisjoint({frozenset(("i::a", "i::b"))})


@pytest.mark.parametrize("blocks", [None, "image"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_full_rebuilt_by_book_gives_the_same_pairs(seed, blocks):
    # A restarted (or second) server process rebuilds the scheduler by booking the pairs already handed
    # out (study.planning.sync); the full design must go on with the same replicate, not restart it.
    conds = [f"i{k}::m{m}" for k in range(2 if blocks else 1) for m in range(6 if blocks else 7)]
    live = make_scheduler("full", conds, seed=seed, blocks=blocks)
    sessions = [live.propose(5, rater=f"s{k}") for k in range(8)]
    for cut in (1, 3, 5):                     # restart after `cut` sessions
        rebuilt = make_scheduler("full", conds, seed=seed, blocks=blocks)
        for k in range(cut):
            for a, b in sessions[k]:
                rebuilt.book(a, b, rater=f"s{k}")
        assert [rebuilt.propose(5, rater=f"s{k}") for k in range(cut, 8)] == sessions[cut:]
    # and every pair is shown once before any pair is shown twice
    flat = [frozenset(p) for s in sessions for p in s]
    assert len(set(flat[:live.n_pairs])) == live.n_pairs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_hands_out_released_pairs_again_so_each_replicate_covers_every_pair(seed):
    # A session expired with some pairs unanswered (eyetest.study.expiry): they are released, and the
    # full design must still get every pair judged once per replicate, not skip those pairs.
    conds = [f"m{k}" for k in range(7)]
    s = make_scheduler("full", conds, seed=seed)
    n_pairs = s.n_pairs
    judged = []
    first = s.propose(6, rater="gone")
    for a, b in first[:2]:
        s.observe(a, b, "A", rater="gone")
        judged.append(frozenset((a, b)))
    for a, b in first[2:]:
        s.release(a, b)                      # the rest of the abandoned session
    k = 0
    while len(judged) < n_pairs:
        for a, b in s.propose(5, rater=f"r{k}"):
            s.observe(a, b, "B", rater=f"r{k}")
            judged.append(frozenset((a, b)))
        k += 1
    assert set(judged[:n_pairs]) == {frozenset(p) for p in itertools.combinations(conds, 2)}
    # the released pairs come first, before the queue goes on
    assert set(judged[2:6]) == {frozenset(p) for p in first[2:]}


def test_release_without_reissue_is_not_handed_out_again():
    # "both bad" where ties are off: the pair was shown and answered, only without an order
    conds = [f"m{k}" for k in range(5)]
    s = make_scheduler("full", conds, seed=4)
    (a, b), = s.propose(1, rater="x")
    s.release(a, b, reissue=False)
    later = [frozenset(p) for k in range(3) for p in s.propose(3, rater=f"r{k}")]
    assert frozenset((a, b)) not in later[:s.n_pairs - 1]
    assert s.pending.sum() == 9


def test_book_takes_the_pair_out_of_swiss_rounds_and_active_batches():
    # a pair another process handed out uses up its two conditions in this process's round / batch
    conds = [f"m{k}" for k in range(8)]
    for design in ("swiss", "active"):
        s = make_scheduler(design, conds, seed=3)
        first = s.propose(1)                   # a round / batch of 4 pairs has begun
        busy = {c for p in first for c in p}
        other = [c for c in conds if c not in busy][:2]
        s.book(other[0], other[1], rater="elsewhere")
        assert s.pending[s.pair_id(*other)] == 1
        rest = s.propose(2)                    # the round / batch is completed by the 4 free conditions
        covered = busy | set(other) | {c for p in rest for c in p}
        assert covered == set(conds), design


def test_book_rejects_pairs_that_cannot_be_compared():
    s = make_scheduler("full", ["i::a", "i::b", "j::a", "j::b"], seed=0, blocks="image")
    with pytest.raises(SpecError, match="different blocks"):
        s.book("i::a", "j::b")
    with pytest.raises(SpecError, match="itself"):
        s.book("i::a", "i::a")
    assert s.pending.sum() == 0


@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_non_string_condition_ids_are_refused(design):
    with pytest.raises(SpecError, match="conditions: condition ids must be strings, got 1 \\(int\\)"):
        make_scheduler(design, [1, 2, 3], seed=0)
    s = make_scheduler(design, ["1", "2", "3"], seed=0)
    with pytest.raises(SpecError, match="condition: condition ids are strings, got 1 \\(int\\)"):
        s.observe(1, 2, "A")


@pytest.mark.parametrize("seed", [-1, "x", None, 1.5, True])
def test_bad_seed_names_the_parameter(seed):
    with pytest.raises(SpecError, match="^seed: must be a non-negative integer"):
        make_scheduler("random", ["a", "b"], seed=seed)


@pytest.mark.parametrize("k", [None, -1, 1.5, "2"])
def test_bad_k_names_the_parameter(k):
    with pytest.raises(SpecError, match="^k: must be a non-negative integer"):
        make_scheduler("random", ["a", "b"], seed=0).propose(k)


@pytest.mark.parametrize("prior_sd", [0, -1.0, float("nan"), float("inf"), "1"])
def test_bad_prior_sd_names_the_parameter(prior_sd):
    with pytest.raises(SpecError, match="^prior_sd: must be a positive, finite number"):
        make_scheduler("active", ["a", "b", "c"], seed=0, prior_sd=prior_sd)


def test_block_groups_must_name_conditions_and_lonely_conditions_are_reported():
    from eyetest.errors import ComparisonGraphWarning

    with pytest.raises(SpecError, match="blocks: group 0 lists 'zz', which is not one of the conditions"):
        make_scheduler("random", ["a", "b"], seed=0, blocks=[["a", "b", "zz"]])
    with pytest.warns(ComparisonGraphWarning, match="1 condition\\(s\\) alone in their block.*'a'"):
        s = make_scheduler("random", ["a", "b", "c"], seed=0, blocks=[["a"], ["b", "c"]])
    assert {c for p in s.propose(20) for c in p} == {"b", "c"}
    with pytest.warns(ComparisonGraphWarning, match="'x::only'"):
        make_scheduler("full", ["x::only", "y::a", "y::b"], seed=0, blocks="image")
