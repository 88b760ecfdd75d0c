"""Quality-control trial insertion and balanced incomplete-block rating designs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from eyetest.core.design.quality import GoldPair, insert_quality_trials
from eyetest.core.design.rating import balanced_incomplete_blocks
from eyetest.errors import SpecError

REGULAR = [(f"i::m{k}", f"i::m{k + 1}") for k in range(40)]
GOLD = [GoldPair("g1::gt", "g1::blur"), GoldPair("g2::gt", "g2::noise")]
ATTN = [GoldPair("a1::image", "a1::grey")]


def test_rates_flags_and_structure():
    rng = np.random.default_rng(0)
    trials = insert_quality_trials(REGULAR, rng=rng, gold=GOLD, attention=ATTN, gold_fraction=0.1,
                                   repeat_fraction=0.1, attention_fraction=0.05, min_gap=4)
    total = round(40 / 0.75)
    assert len(trials) == total
    kinds = [t.kind for t in trials]
    assert kinds.count("gold") == round(0.1 * total) and kinds.count("repeat") == round(0.1 * total)
    assert kinds.count("attention") == round(0.05 * total)
    assert [t.trial for t in trials] == list(range(total))
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


@pytest.mark.parametrize("v,b,k", [(7, 7, 3), (10, 25, 4), (12, 9, 12), (30, 40, 8)])
def test_blocks_are_replication_balanced(v, b, k):
    stimuli = [f"s{i}" for i in range(v)]
    blocks = balanced_incomplete_blocks(stimuli, raters=b, per_rater=k, rng=np.random.default_rng(1))
    assert len(blocks) == b and all(len(x) == len(set(x)) == k for x in blocks)
    counts = np.array([sum(s in x for x in blocks) for s in stimuli])
    assert counts.max() - counts.min() <= 1 and counts.sum() == b * k


def test_pair_concurrence_better_than_random_assignment():
    v, b, k = 9, 12, 3          # a BIBD exists here (affine plane of order 3: lambda = 1)
    stimuli = [f"s{i}" for i in range(v)]

    def concurrence_var(blocks):
        lam = [sum(x in blk and y in blk for blk in blocks) for x, y in itertools.combinations(stimuli, 2)]
        return np.var(lam)

    ours = concurrence_var(balanced_incomplete_blocks(stimuli, raters=b, per_rater=k, rng=np.random.default_rng(2)))
    rng = np.random.default_rng(3)
    rand = np.mean([concurrence_var([list(rng.choice(stimuli, k, replace=False)) for _ in range(b)])
                    for _ in range(50)])
    assert ours < 0.5 * rand


def test_bad_rating_design_args():
    with pytest.raises(SpecError, match="per_rater"):
        balanced_incomplete_blocks(["a", "b"], raters=2, per_rater=3, rng=np.random.default_rng(0))


@pytest.mark.parametrize("min_gap", [-2, 1.5, None, "3"])
def test_bad_min_gap_names_the_parameter(min_gap):
    with pytest.raises(SpecError, match="^min_gap: must be a non-negative integer"):
        insert_quality_trials([("a", "b")] * 3, rng=np.random.default_rng(0), repeat_fraction=0.3,
                              min_gap=min_gap)
