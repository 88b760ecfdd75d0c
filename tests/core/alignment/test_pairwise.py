"""Pairwise agreement and disagreement ranking on hand-made cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eyetest.core.alignment.pairwise import (
    aggregate_judgments,
    attach_metric,
    pair_agreement,
    pairs_from_scale,
    pairwise_agreement,
    rank_disagreements,
)
from eyetest.errors import MetricInputError


def _judgments():
    rows = [
        # pair (i1/x, i1/y): people prefer x 3:1 (one judgment shown the other way round), one tie
        ("r1", "i1/x", "i1/y", "a", "i1", "x", "y"),
        ("r2", "i1/x", "i1/y", "a", "i1", "x", "y"),
        ("r3", "i1/y", "i1/x", "b", "i1", "y", "x"),
        ("r4", "i1/y", "i1/x", "a", "i1", "y", "x"),
        ("r5", "i1/x", "i1/y", "tie", "i1", "x", "y"),
        # pair (i2/x, i2/y): people prefer y 2:0
        ("r1", "i2/y", "i2/x", "a", "i2", "y", "x"),
        ("r2", "i2/x", "i2/y", "b", "i2", "x", "y"),
        # pair (i3/x, i3/y): people split 1:1 -> undecided
        ("r1", "i3/x", "i3/y", "a", "i3", "x", "y"),
        ("r2", "i3/x", "i3/y", "b", "i3", "x", "y"),
        # pair (i4/x, i4/y): people prefer x 1:0
        ("r1", "i4/x", "i4/y", "A", "i4", "x", "y"),
    ]
    return pd.DataFrame(rows, columns=["rater", "condition_a", "condition_b", "outcome", "image", "method_a",
                                       "method_b"])


SCORES = pd.DataFrame({
    "image": ["i1", "i1", "i2", "i2", "i3", "i3", "i4", "i4"],
    "method": ["x", "y"] * 4,
    "metric": "m",
    #          agrees (x>y)  disagrees (x>y)  (undecided)   tie
    "value": [2.0, 1.0, 5.0, 3.0, 1.0, 0.0, 4.0, 4.0],
})


def test_aggregate_orients_votes():
    pairs = aggregate_judgments(_judgments()).set_index("image")
    assert pairs.loc["i1", ["wins_a", "wins_b", "ties", "n"]].tolist() == [3, 1, 1, 5]
    assert pairs.loc["i1", "human"] == 1 and pairs.loc["i1", "human_margin"] == pytest.approx(0.4)
    assert pairs.loc["i2", ["wins_a", "wins_b"]].tolist() == [0, 2] and pairs.loc["i2", "human"] == -1
    assert pairs.loc["i3", "human"] == 0
    assert (pairs["method_a"] == "x").all()  # swapped with the conditions


def test_agreement_pair_weighting_ties_half_or_excluded():
    pairs = attach_metric(aggregate_judgments(_judgments()), SCORES, metric="m")
    half = pairwise_agreement(pairs, higher_is_better=True)
    # decided pairs: i1 agree (1), i2 disagree (0), i4 metric tie (0.5); i3 undecided
    assert half["agreement"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert half["n_pairs"] == 3 and half["n_metric_ties"] == 1
    excl = pairwise_agreement(pairs, higher_is_better=True, metric_ties="exclude")
    assert excl["agreement"] == pytest.approx(1 / 2) and excl["n_pairs"] == 2
    # lower-is-better flips every non-tied verdict
    low = pairwise_agreement(pairs, higher_is_better=False)
    assert low["agreement"] == pytest.approx((0 + 1 + 0.5) / 3)
    # a tolerance turns the i1 difference (1.0) into a tie too
    tol = pairwise_agreement(pairs, higher_is_better=True, tie_tolerance=1.0)
    assert tol["agreement"] == pytest.approx((0.5 + 0 + 0.5) / 3)


def test_agreement_judgment_weighting_counts_votes():
    pairs = attach_metric(aggregate_judgments(_judgments()), SCORES, metric="m")
    out = pairwise_agreement(pairs, higher_is_better=True, weighting="judgment")
    # decided votes: i1 3 agree + 1 not; i2 0 agree of 2; i3 1 of 2 (metric says x);
    # i4 one vote, metric tie -> 0.5
    assert out["agreement"] == pytest.approx((3 + 0 + 1 + 0.5) / (4 + 2 + 2 + 1))


def test_judgment_weighting_counts_ties_of_split_pairs():
    # A 2-2 pair has no majority (human = 0) but its 4 decided votes enter the
    # "judgment" share; when the metric ties it, excluding it must be reported.
    pairs = pd.DataFrame({"metric_a": [1.0, 2.0], "metric_b": [1.0, 1.0], "wins_a": [2, 3], "wins_b": [2, 1],
                          "human": [0, 1]})
    half = pairwise_agreement(pairs, higher_is_better=True, weighting="judgment")
    assert half["agreement"] == pytest.approx((0.5 * 4 + 3) / 8) and half["n_metric_ties"] == 1
    excl = pairwise_agreement(pairs, higher_is_better=True, weighting="judgment", metric_ties="exclude")
    assert excl["agreement"] == pytest.approx(3 / 4)
    assert excl["n_pairs"] == 1 and excl["n_metric_ties"] == 1


def test_pair_agreement_arrays_and_nan():
    a, w = pair_agreement([1.0, np.nan], [0.0, 1.0], [1, 1], higher_is_better=True)
    assert a.tolist() == [1.0, 0.0] and w.tolist() == [1.0, 0.0]
    with pytest.raises(MetricInputError, match="metric_ties"):
        pair_agreement([1.0], [0.0], [1], higher_is_better=True, metric_ties="drop")


def test_pairs_from_scale():
    scale = pd.DataFrame({"image": ["i1"] * 3 + ["i2"] * 2, "method": ["a", "b", "c", "a", "b"],
                          "score": [3.0, 1.0, 3.0, 0.0, 2.0]})
    pairs = pairs_from_scale(scale).set_index(["image", "method_a", "method_b"])
    assert len(pairs) == 3 + 1
    assert pairs.loc[("i1", "a", "b"), "human"] == 1
    assert pairs.loc[("i1", "a", "c"), "human"] == 0
    assert pairs.loc[("i2", "a", "b"), "human"] == -1
    assert pairs.loc[("i2", "a", "b"), "human_margin"] == pytest.approx(-2.0)
    with pytest.raises(MetricInputError, match="several rows"):
        pairs_from_scale(pd.concat([scale, scale.iloc[:1]]))


def test_attach_by_condition_column():
    pairs = aggregate_judgments(_judgments()[["rater", "condition_a", "condition_b", "outcome"]])
    scores = SCORES.assign(condition=SCORES["image"] + "/" + SCORES["method"])
    with_m = attach_metric(pairs, scores, metric="m").set_index("condition_a")
    assert with_m.loc["i2/x", ["metric_a", "metric_b"]].tolist() == [5.0, 3.0]
    with pytest.raises(MetricInputError, match="cannot match"):
        attach_metric(pairs, SCORES, metric="m")


def test_rank_disagreements_orders_by_conviction():
    pairs = pd.DataFrame({
        "image": ["p", "q", "r", "s"],
        "metric_a": [1.0, 5.0, 2.0, 0.0],
        "metric_b": [0.0, 0.0, 3.0, 1.0],
        "human_margin": [-0.5, -1.0, 0.9, -0.2],
    })
    out = rank_disagreements(pairs, higher_is_better=True, k=5)
    # p, q: metric says A, people say B; r: metric says B, people A; s agrees
    assert out["image"].tolist() == ["q", "r", "p"]
    assert (out["disagreement"] > 0).all()
    assert rank_disagreements(pairs, higher_is_better=True, k=1)["image"].tolist() == ["q"]
    flipped = rank_disagreements(pairs, higher_is_better=False, k=5)
    assert flipped["image"].tolist() == ["s"]


def test_bad_outcome_named():
    j = _judgments()
    j.loc[0, "outcome"] = "left"
    with pytest.raises(MetricInputError, match="'left'"):
        aggregate_judgments(j)
