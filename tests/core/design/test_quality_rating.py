"""Quality-control trial insertion and the balanced incomplete-block rating design."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from eyetest.core.design.quality import (
    RATING_REGIONS,
    GoldPair,
    GoldRating,
    control_counts,
    expected_counts,
    insert_quality_trials,
    parse_region,
    region_text,
)
from eyetest.core.design.rating import BalancedBlocks, balanced_incomplete_blocks
from eyetest.errors import SpecError

REGULAR = [(f"i::m{k}", f"i::m{k + 1}") for k in range(40)]
GOLD = [GoldPair("g1::gt", "g1::blur"), GoldPair("g2::gt", "g2::noise")]
ATTN = [GoldPair("a1::image", "a1::grey")]


def test_rates_flags_and_structure():
    rng = np.random.default_rng(0)
    counts = {"gold": 5, "repeat": 6, "attention": 3}
    trials = insert_quality_trials(REGULAR, rng=rng, gold=GOLD, attention=ATTN, gold_fraction=0.1,
                                   repeat_fraction=0.1, attention_fraction=0.05, min_gap=4, counts=counts)
    assert len(trials) == 40 + 14
    kinds = [t.kind for t in trials]
    assert {k: kinds.count(k) for k in counts} == counts
    assert [t.trial for t in trials] == list(range(54))
    # regular trials keep their order and content
    assert [(t.condition_a, t.condition_b) for t in trials if t.kind == "regular"] == REGULAR
    for t in trials:
        # every trial is a pair of two different conditions: indistinguishable structure
        assert t.condition_a != t.condition_b
        if t.kind in ("gold", "attention"):
            better = t.condition_a if t.expected == "a" else t.condition_b
            assert better.endswith(("gt", "image")) and t.is_gold
        if t.kind == "repeat":
            orig = trials[t.repeat_of]
            assert orig.kind == "regular" and t.is_repeat
            assert (t.condition_a, t.condition_b) == (orig.condition_b, orig.condition_a)
            assert t.trial - orig.trial > 4


def test_default_counts_are_the_expected_number_rounded_stochastically():
    """Without counts, a session gets floor(x) or ceil(x) of each kind, ceil with probability frac(x)."""
    x = expected_counts(40, gold_fraction=0.1, repeat_fraction=0.1, attention_fraction=0.05)
    assert x == pytest.approx({"gold": 0.1 * 40 / 0.75, "repeat": 0.1 * 40 / 0.75, "attention": 0.05 * 40 / 0.75})
    n_sessions, got = 400, {"gold": [], "attention": []}
    for seed in range(n_sessions):
        trials = insert_quality_trials(REGULAR, rng=np.random.default_rng(seed), gold=GOLD, attention=ATTN,
                                       gold_fraction=0.1, repeat_fraction=0.1, attention_fraction=0.05, min_gap=4)
        for kind, counts in got.items():
            counts.append(sum(t.kind == kind for t in trials))
    for kind, counts in got.items():
        lo = math.floor(x[kind])
        assert set(counts) <= {lo, lo + 1}
        p, ceil = x[kind] - lo, sum(c == lo + 1 for c in counts)
        assert stats.binomtest(ceil, n_sessions, p).pvalue > 1e-3, (kind, ceil, p)


@pytest.mark.parametrize("fractions,n", [
    ({"gold_fraction": 0.02, "repeat_fraction": 0.05, "attention_fraction": 0.01}, 20),
    ({"gold_fraction": 0.08, "repeat_fraction": 0.0, "attention_fraction": 0.03}, 57),
    ({"gold_fraction": 0.3, "repeat_fraction": 0.1, "attention_fraction": 0.1}, 7),
])
def test_control_counts_keep_the_study_wide_rate(fractions, n):
    """Small fractions no longer round to no control trial in every session: the study's share is the spec's.

    ``round(0.02 * 20 / 0.92)`` is 0 in every session; over sessions the systematic rounding gives
    floor or ceil of x per session, every prefix of N sessions within one of N x (the exact invariant),
    and a share of control trials within a binomial tolerance of the configured fraction.
    """
    x = expected_counts(n, **fractions)
    n_sessions = 3000
    per = [control_counts(n, seed=11, session=i, **fractions) for i in range(n_sessions)]
    assert per == [control_counts(n, seed=11, session=i, **fractions) for i in range(n_sessions)]
    layouts = {tuple(tuple(sorted(control_counts(n, seed=s, session=i, **fractions).items())) for i in range(20))
               for s in range(10)}
    assert len(layouts) > 1                                          # the seed sets the offsets
    total_trials = n * n_sessions + sum(sum(c.values()) for c in per)
    for kind in ("gold", "attention", "repeat"):
        f, counts = fractions[f"{kind}_fraction"], np.array([c[kind] for c in per])
        if f and x[kind] < 0.5:
            assert round(x[kind]) == 0 and counts.sum() > 0        # what per-session round() gave: none at all
        assert set(counts) <= {math.floor(x[kind]), math.ceil(x[kind])}
        prefix = np.cumsum(counts)
        assert np.all(np.abs(prefix - x[kind] * np.arange(1, n_sessions + 1)) < 1.0 + 1e-9)
        share = counts.sum() / total_trials
        tol = 3 * math.sqrt(f * (1 - f) / total_trials) + 1e-12
        assert abs(share - f) <= tol, (kind, share, f, tol)


def test_control_counts_refuse_a_bad_session_index():
    with pytest.raises(SpecError, match="^session: must be an integer >= 0"):
        control_counts(10, seed=1, session=-1, gold_fraction=0.1)
    with pytest.raises(SpecError, match="^counts: 'gold'"):
        insert_quality_trials(REGULAR, rng=np.random.default_rng(0), gold=GOLD, gold_fraction=0.1,
                              counts={"gold": -1})


def test_rating_sessions_get_single_stimulus_gold_attention_and_repeats():
    stimuli = [f"i{k}::m" for k in range(30)]
    gold = [GoldRating("i0::__reference", 4, 5), GoldRating("i0::__degraded", 1, 2)]
    attention = [GoldRating("i0::__blank", 1, 2)]
    trials = insert_quality_trials(stimuli, rng=np.random.default_rng(3), gold=gold, attention=attention,
                                   gold_fraction=0.1, repeat_fraction=0.1, attention_fraction=0.05, min_gap=3,
                                   counts={"gold": 4, "attention": 2, "repeat": 3})
    assert [t.condition_a for t in trials if t.kind == "regular"] == stimuli
    assert all(t.condition_b is None for t in trials) and len(trials) == 39
    by_cond = {g.condition: g.expected for g in gold + attention}
    assert by_cond == {"i0::__reference": "4-5", "i0::__degraded": "1-2", "i0::__blank": "1-2"}
    for t in trials:
        if t.kind in ("gold", "attention"):
            assert t.is_gold and t.expected == by_cond[t.condition_a]
            assert t.condition_a in {g.condition for g in (gold if t.kind == "gold" else attention)}
        elif t.kind == "repeat":
            assert trials[t.repeat_of].condition_a == t.condition_a and t.trial - t.repeat_of > 3
        else:
            assert t.expected is None
    with pytest.raises(SpecError, match="GoldRating"):            # a pair has no place in a rating session
        insert_quality_trials(stimuli, rng=np.random.default_rng(0), gold=GOLD, gold_fraction=0.1)


def test_rating_regions_are_the_top_and_bottom_two_categories():
    for scale, (lo, hi) in {"acr5": (1, 5), "dcr5": (1, 5), "continuous100": (0, 100)}.items():
        top, bottom = RATING_REGIONS[scale]["top"], RATING_REGIONS[scale]["bottom"]
        width = (hi - lo) / 5 if scale == "continuous100" else 1
        assert top[1] == hi and bottom[0] == lo
        assert top[1] - top[0] == pytest.approx(2 * width if scale == "continuous100" else width)
        assert bottom[1] - bottom[0] == top[1] - top[0]
    for low, high in [(4, 5), (0, 40), (60, 100), (5, 5), (12.5, 37.5)]:
        assert parse_region(region_text(low, high)) == (low, high)
    assert parse_region("5") == (5.0, 5.0)
    for bad in ("", "a-b", "5-4", "1-2-3", None):
        with pytest.raises(ValueError, match="not a rating region"):
            parse_region(bad)


def test_gold_position_is_random_and_deterministic():
    def go(seed):
        return insert_quality_trials(REGULAR * 5, rng=np.random.default_rng(seed), gold=GOLD, gold_fraction=0.3)
    a = [t.expected for t in go(1) if t.is_gold]
    assert 0.3 < a.count("a") / len(a) < 0.7
    assert go(1) == go(1) and go(1) != go(2)


def test_bad_rates_name_the_key():
    rng = np.random.default_rng(0)
    with pytest.raises(SpecError, match="quality.gold_fraction"):
        insert_quality_trials(REGULAR, rng=rng, gold_fraction=0.1)
    with pytest.raises(SpecError, match="repeat_fraction"):
        insert_quality_trials(REGULAR, rng=rng, repeat_fraction=0.9)


# -- the balanced incomplete-block rating design ---------------------------------------------------------------


def _cooccurrence(blocks, stimuli):
    pos = {s: k for k, s in enumerate(stimuli)}
    lam = np.zeros((len(stimuli), len(stimuli)), int)
    for blk in blocks:
        idx = [pos[s] for s in blk]
        lam[np.ix_(idx, idx)] += 1
    return lam[np.triu_indices(len(stimuli), 1)]


def _least_shown(stimuli, raters, per_rater, seed):
    """The server's previous assignment: the least-shown stimuli, ties broken at random."""
    shown = np.zeros(len(stimuli))
    out = []
    for n in range(raters):
        rng = np.random.default_rng([seed, n])
        pick = np.lexsort((rng.random(len(stimuli)), shown))[:per_rater]
        shown[pick] += 1
        out.append([stimuli[k] for k in pick])
    return out


@pytest.mark.parametrize("v,b,k", [(7, 7, 3), (10, 25, 4), (12, 9, 12), (30, 40, 8), (23, 31, 6)])
def test_every_stimulus_equally_often_within_one_after_every_block(v, b, k):
    stimuli = [f"s{i}" for i in range(v)]
    design = BalancedBlocks(stimuli, seed=1)
    seen = np.zeros(v, int)
    blocks = []
    for _ in range(b):
        blk = design.propose(k)
        assert len(blk) == len(set(blk)) == k
        for s in blk:
            seen[int(s[1:])] += 1
        assert seen.max() - seen.min() <= 1                  # at any time, not only after b blocks
        blocks.append(blk)
    np.testing.assert_array_equal(seen, design.shown)
    # the closed form: b C(k, 2) co-occurrences in all, a mean lambda of b k (k - 1) / (v (v - 1))
    lam = _cooccurrence(blocks, stimuli)
    assert lam.sum() == b * math.comb(k, 2)
    assert lam.mean() == pytest.approx(b * k * (k - 1) / (v * (v - 1)))
    assert blocks == balanced_incomplete_blocks(stimuli, raters=b, per_rater=k, seed=1)


def test_affine_plane_every_pair_exactly_once():
    """(v, b, k) = (9, 12, 3): a BIBD exists (affine plane of order 3, lambda = 1), and the design finds it."""
    stimuli = [f"img{i // 3}::m{i % 3}" for i in range(9)]
    for seed in range(5):
        lam = _cooccurrence(balanced_incomplete_blocks(stimuli, raters=12, per_rater=3, seed=seed), stimuli)
        assert set(lam) == {1}
    assert set(_cooccurrence(_least_shown(stimuli, 12, 3, 0), stimuli)) != {1}


@pytest.mark.parametrize("v,b,k", [(16, 20, 4), (30, 40, 8), (60, 200, 20)])
def test_cooccurrence_spread_far_below_least_shown_assignment(v, b, k):
    stimuli = [f"s{i}" for i in range(v)]
    ours = np.mean([_cooccurrence(balanced_incomplete_blocks(stimuli, raters=b, per_rater=k, seed=s), stimuli).std()
                    for s in range(4)])
    old = np.mean([_cooccurrence(_least_shown(stimuli, b, k, s), stimuli).std() for s in range(4)])
    # the spread can never be below that of lambda in {floor, ceil} of its mean
    mean = b * k * (k - 1) / (v * (v - 1))
    frac = mean - math.floor(mean)
    assert math.sqrt(frac * (1 - frac)) - 1e-9 <= ours < 0.55 * old


def test_design_rebuilt_by_booking_continues_exactly():
    """Booking the blocks handed out (any order, any stimulus order) restores the design: replay-exact."""
    stimuli = [f"s{i}" for i in range(14)]
    live = BalancedBlocks(stimuli, seed=5)
    first = [live.propose(4) for _ in range(9)]
    rebuilt = BalancedBlocks(stimuli, seed=5)
    for blk in reversed(first):
        rebuilt.book(list(reversed(blk)))
    assert [rebuilt.propose(4) for _ in range(6)] == [live.propose(4) for _ in range(6)]
    assert BalancedBlocks(stimuli, seed=6).propose(4) != BalancedBlocks(stimuli, seed=5).propose(4)


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_released_stimuli_count_as_never_shown(seed, dense):
    # An expired session's unrated stimuli (eyetest.study.expiry): the counts must equal those of a
    # design that was only ever booked the rated part, and the next blocks make up for them.
    stimuli = [f"s{k}" for k in range(10)]
    live = BalancedBlocks(stimuli, seed=seed, dense=dense)
    blocks = [live.propose(4) for _ in range(5)]
    live.release(blocks[2], blocks[2][1:])          # rated only its first stimulus
    live.release(blocks[4], blocks[4])              # rated nothing
    rated = BalancedBlocks(stimuli, seed=seed, dense=dense)
    for block in (blocks[0], blocks[1], blocks[2][:1], blocks[3]):
        rated.book(block)
    assert live.shown.tolist() == rated.shown.tolist()
    assert all(live.together(a, b) == rated.together(a, b) for a, b in itertools.combinations(stimuli, 2))
    assert live.blocks == 5                          # the random streams go on counting
    # the stimuli left short are the first the next block takes
    short = {s for s, n in zip(stimuli, live.shown) if n == live.shown.min()}
    assert set(live.propose(len(short))) == short
    outside = next(s for s in stimuli if s not in blocks[0])
    with pytest.raises(SpecError, match="not in the block"):
        live.release(blocks[0], [outside])


def test_bad_rating_design_args():
    with pytest.raises(SpecError, match="per_rater"):
        balanced_incomplete_blocks(["a", "b"], raters=2, per_rater=3, seed=0)
    with pytest.raises(SpecError, match="raters"):
        balanced_incomplete_blocks(["a", "b"], raters=0, per_rater=1, seed=0)
    with pytest.raises(SpecError, match="distinct"):
        BalancedBlocks(["a", "a"], seed=0)
    design = BalancedBlocks(["a", "b", "c"], seed=0)
    with pytest.raises(SpecError, match="'z' is not one of the design's stimuli"):
        design.book(["a", "z"])
    with pytest.raises(SpecError, match="twice"):
        design.book(["a", "a"])
    assert design.blocks == 0


@pytest.mark.parametrize("min_gap", [-2, 1.5, None, "3"])
def test_bad_min_gap_names_the_parameter(min_gap):
    with pytest.raises(SpecError, match="^min_gap: must be a non-negative integer"):
        insert_quality_trials([("a", "b")] * 3, rng=np.random.default_rng(0), repeat_fraction=0.3,
                              min_gap=min_gap)


def test_pairs_of_a_block_do_not_depend_on_the_stimulus_names():
    """Relabelling the stimuli relabels the design (nothing depends on sorting names)."""
    a = [f"s{i}" for i in range(11)]
    b = [f"z{10 - i}" for i in range(11)]
    da = balanced_incomplete_blocks(a, raters=6, per_rater=4, seed=2)
    db = balanced_incomplete_blocks(b, raters=6, per_rater=4, seed=2)
    rename = dict(zip(a, b))
    assert [[rename[s] for s in blk] for blk in da] == db
    assert all(len(set(x)) == 4 for x in itertools.chain(da))


def _reference_blocks(stimuli, seed, steps):
    """The design written out plainly (dense matrix, its maximum searched each time): ``steps`` is a list of
    ``("propose", k)`` / ``("book", block)``; returns the proposed blocks."""
    from eyetest.core.design.rating import STARTS, STREAM

    v = len(stimuli)
    shown, lam, blocks, out = np.zeros(v, np.int64), np.zeros((v, v), np.int64), 0, []

    def add(idx):
        nonlocal blocks
        shown[idx] += 1
        for i in idx:
            for j in idx:
                if i != j:
                    lam[i, j] += 1
        blocks += 1

    for what, arg in steps:
        if what == "book":
            add([stimuli.index(s) for s in arg])
            continue
        k = arg
        rng = np.random.default_rng([seed, STREAM, blocks])
        key = rng.random(v)
        scale = k * (lam.max() + 1.0) + 1.0
        base = (shown - shown.min()) * scale
        first = np.lexsort((key, shown))
        best, best_cost = None, None
        for start in first[:STARTS]:
            if shown[start] != shown[first[0]]:
                break
            block, conc, free = [int(start)], lam[:, start].astype(float), np.ones(v, bool)
            free[start] = False
            for _ in range(k - 1):
                pick = int(np.argmin(np.where(free, base + conc + key, np.inf)))
                block.append(pick)
                free[pick] = False
                conc += lam[:, pick]
            cost = sum(lam[i, j] for n, i in enumerate(block) for j in block[n + 1:])
            if best_cost is None or cost < best_cost:
                best, best_cost = np.array(block), cost
        order = best[rng.permutation(k)]
        add(list(order))
        out.append([stimuli[i] for i in order])
    return out


@pytest.mark.parametrize("v,k", [(9, 3), (25, 6), (40, 12)])
def test_dense_and_sparse_counts_give_the_blocks_of_the_plain_algorithm(v, k):
    """The matrix (small studies) and the per-stimulus dicts (large ones) are two stores of one design."""
    stimuli = [f"s{i}" for i in range(v)]
    rng = np.random.default_rng(v)
    steps = []
    for n in range(30):
        if n % 7 == 3:      # a block handed out by another process
            steps.append(("book", [stimuli[i] for i in rng.choice(v, size=k, replace=False)]))
        else:
            steps.append(("propose", k))
    want = _reference_blocks(stimuli, 3, steps)
    for dense in (True, False):
        design, got = BalancedBlocks(stimuli, seed=3, dense=dense), []
        for what, arg in steps:
            if what == "book":
                design.book(arg)
            else:
                got.append(design.propose(arg))
        assert got == want
        blocks = [arg for what, arg in steps if what == "book"] + got
        lam = _cooccurrence(blocks, stimuli)
        pairs = [(a, b) for n, a in enumerate(stimuli) for b in stimuli[n + 1:]]
        assert [design.together(a, b) for a, b in pairs] == lam.tolist()


def test_twenty_thousand_stimuli_need_no_dense_matrix():
    """20,000 stimuli: a v x v int32 matrix was 1.5 GB per study and process (and 114 ms a session start)."""
    import tracemalloc

    stimuli = [f"img{i // 20:04d}::m{i % 20}" for i in range(20_000)]
    tracemalloc.start()
    try:
        design = BalancedBlocks(stimuli, seed=1)
        blocks = [design.propose(20) for _ in range(40)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20
    seen = pd.Series([s for b in blocks for s in b]).value_counts()
    assert len(seen) == 800 and (seen == 1).all()             # 40 x 20 distinct: least-shown first
    assert design.together(blocks[0][0], blocks[0][1]) == 1 and design.together(blocks[0][0], blocks[1][0]) == 0


def test_a_rating_session_without_regular_items_gets_no_trials_and_no_pairwise_error():
    from eyetest.core.design.quality import GoldRating, insert_quality_trials

    got = insert_quality_trials([], rng=np.random.default_rng(0), gold=[GoldRating("i::__reference", 4.0, 5.0)],
                                gold_fraction=0.1)
    assert got == []
