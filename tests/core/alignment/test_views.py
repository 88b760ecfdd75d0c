"""Head-to-head counts with CIs, leaderboards, method x dimension matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from eyetest.core.alignment.views import head_to_head, leaderboard, method_dimension_matrix, wilson_interval
from eyetest.errors import MetricInputError


def _judgments():
    rows = []
    # scenario "face": supir better 6, same 2, hat better 2 (half shown with hat as A)
    for k in range(6):
        rows.append(("face", f"f{k}", "supir", "hat", "a") if k % 2 else ("face", f"f{k}", "hat", "supir", "b"))
    rows += [("face", "f0", "supir", "hat", "tie"), ("face", "f1", "hat", "supir", "tie")]
    rows += [("face", "f2", "hat", "supir", "a"), ("face", "f3", "supir", "hat", "b")]
    # scenario "cartoon": hat better 3, supir better 1
    rows += [("cartoon", "c0", "hat", "supir", "a"), ("cartoon", "c1", "supir", "hat", "b"),
             ("cartoon", "c2", "hat", "supir", "a"), ("cartoon", "c3", "hat", "supir", "b")]
    # another method pair, must be ignored
    rows += [("face", "f0", "bicubic", "hat", "b")]
    return pd.DataFrame(rows, columns=["scenario", "image", "method_a", "method_b", "outcome"])


def test_wilson_matches_scipy():
    for k, n in [(0, 10), (3, 10), (10, 10), (83, 100), (1, 3)]:
        low, high = wilson_interval(k, n, level=0.95)
        ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert float(low) == pytest.approx(ref.low, abs=1e-12)
        assert float(high) == pytest.approx(ref.high, abs=1e-12)
    low, high = wilson_interval(0, 0)
    assert np.isnan(low) and np.isnan(high)


def test_head_to_head_counts_oriented():
    t = head_to_head(_judgments(), method_a="supir", method_b="hat").set_index("scenario")
    assert t.loc["face", ["a_better", "same", "b_better", "n"]].tolist() == [6, 2, 2, 10]
    assert t.loc["cartoon", ["a_better", "same", "b_better", "n"]].tolist() == [1, 0, 3, 4]
    assert t.loc["all", ["a_better", "same", "b_better", "n"]].tolist() == [7, 2, 5, 14]
    assert t.loc["face", "share_a_or_same"] == pytest.approx(0.8)
    assert list(t.index) == ["cartoon", "face", "all"]
    ref = stats.binomtest(6, 10).proportion_ci(method="wilson")
    assert t.loc["face", "a_better_low"] == pytest.approx(ref.low)
    # swapping the roles swaps the counts
    s = head_to_head(_judgments(), method_a="hat", method_b="supir").set_index("scenario")
    assert s.loc["face", ["a_better", "b_better"]].tolist() == [2, 6]


def test_head_to_head_bootstrap_intervals():
    t = head_to_head(_judgments(), method_a="supir", method_b="hat", rng=np.random.default_rng(0), n_boot=200)
    for s in ("a_better", "same", "b_better", "a_or_same"):
        assert (t[f"{s}_low"] <= t[f"share_{s}"] + 1e-12).all()
        assert (t[f"share_{s}"] <= t[f"{s}_high"] + 1e-12).all()


def test_head_to_head_errors():
    with pytest.raises(MetricInputError, match="no judgments compare"):
        head_to_head(_judgments(), method_a="supir", method_b="esrgan")
    with pytest.raises(MetricInputError, match="method_a"):
        head_to_head(_judgments().drop(columns="method_a"), method_a="supir", method_b="hat")


def test_leaderboard_means_ranks_and_normal_ci():
    frame = pd.DataFrame({
        "image": ["i1", "i2", "i3"] * 2 + ["i1", "i2", "i3"] * 2,
        "method": ["a"] * 3 + ["b"] * 3 + ["a"] * 3 + ["b"] * 3,
        "scenario": ["text"] * 6 + ["face"] * 6,
        "score": [1, 2, 3, 4, 5, 6, 9, 8, 7, 1, 1, 1],
    })
    board = leaderboard(frame, value="score")
    text = board[board["scenario"] == "text"].set_index("method")
    assert text.loc["b", "mean"] == 5 and text.loc["b", "rank"] == 1 and text.loc["a", "rank"] == 2
    half = stats.norm.ppf(0.975) * np.std([4, 5, 6], ddof=1) / np.sqrt(3)
    assert text.loc["b", "ci_high"] == pytest.approx(5 + half)
    face = board[board["scenario"] == "face"].set_index("method")
    assert face.loc["a", "rank"] == 1
    pooled = board[board["scenario"] == "all"].set_index("method")
    assert pooled.loc["a", "mean"] == pytest.approx(np.mean([1, 2, 3, 9, 8, 7]))
    lower = leaderboard(frame, value="score", higher_is_better=False)
    assert lower[(lower["scenario"] == "text") & (lower["method"] == "a")]["rank"].item() == 1
    boot = leaderboard(frame, value="score", rng=np.random.default_rng(0), n_boot=100)
    assert ((boot["ci_low"] <= boot["mean"]) & (boot["mean"] <= boot["ci_high"])).all()


def test_leaderboard_keeps_given_scale_intervals():
    scale = pd.DataFrame({"scenario": ["text", "text"], "method": ["a", "b"], "score": [0.2, -0.2],
                          "ci_low": [0.0, -0.5], "ci_high": [0.5, 0.1]})
    board = leaderboard(scale, value="score").set_index(["scenario", "method"])
    assert board.loc[("text", "b"), ["ci_low", "ci_high"]].tolist() == [-0.5, 0.1]


def test_leaderboard_without_groups_keeps_given_scale_intervals():
    # by=(): the whole frame is the one group (there is no pooled "all" group), so a
    # scale with one row per method and its own CIs (e.g. Bradley-Terry) keeps them
    # instead of getting NaN from a one-value normal interval.
    scale = pd.DataFrame({"method": ["a", "b"], "score": [0.2, -0.2], "ci_low": [0.0, -0.5], "ci_high": [0.5, 0.1]})
    board = leaderboard(scale, value="score", by=()).set_index("method")
    assert board.loc["a", ["ci_low", "ci_high"]].tolist() == [0.0, 0.5]
    assert board.loc["b", ["ci_low", "ci_high"]].tolist() == [-0.5, 0.1]
    assert board["rank"].tolist() == [1, 2]


def test_method_dimension_matrix_equals_groupby_mean():
    rng = np.random.default_rng(0)
    scale = pd.DataFrame({"method": rng.choice(["a", "b", "c"], 60), "dimension": rng.choice(["sharp", "natural"], 60),
                          "score": rng.normal(size=60)})
    matrix = method_dimension_matrix(scale)
    expected = scale.groupby(["method", "dimension"])["score"].mean().unstack()
    pd.testing.assert_frame_equal(matrix.sort_index(), expected.sort_index(), check_names=False)
    assert list(matrix.mean(axis=1)) == sorted(matrix.mean(axis=1), reverse=True)
