"""rank(): slicing, anchors, exclusions and the notes it returns."""

import numpy as np
import pandas as pd
import pytest

from eyetest.core.judgments.elo import fit_elo
from eyetest.core.judgments.mos import fit_mos
from eyetest.core.judgments.ranking import rank
from eyetest.errors import JudgmentDataError

from ._sim import counts_frame, simulate


def _within_image(rng, images=("i1", "i2", "i3")):
    parts = []
    for img in images:
        df = simulate(np.array([0.0, 0.8, -0.6]), n=300, rng=rng, raters=6)
        names = {"c0": "hat", "c1": "supir", "c2": "bicubic"}
        parts.append(df.assign(image=img, condition_a=img + "::" + df["condition_a"].map(names),
                               condition_b=img + "::" + df["condition_b"].map(names)))
    return pd.concat(parts, ignore_index=True)


def test_anchor_matches_the_method_part_per_slice_and_errors_when_absent():
    df = _within_image(np.random.default_rng(0))
    table, notes = rank(df, by="image", anchor="bicubic")
    anchors = table[table["condition"].str.endswith("::bicubic")]
    assert len(anchors) == 3 and (anchors["score"] == 0).all() and (anchors["se"] == 0).all()
    # a slice without the anchor is centred, with a note
    df2 = df[~((df["image"] == "i3") & ((df["condition_a"] == "i3::bicubic") | (df["condition_b"] == "i3::bicubic")))]
    table, notes = rank(df2, by="image", anchor="bicubic")
    assert any(n.startswith("image=i3: no condition 'bicubic'") for n in notes)
    assert abs(table.loc[table["image"] == "i3", "score"].sum()) < 1e-9
    # without --by, the method part is ambiguous (three images): no slice has it -> error naming the matches
    with pytest.raises(JudgmentDataError, match="anchor .bicubic.: is ambiguous: matches 3 conditions"):
        rank(df, anchor="bicubic")
    with pytest.raises(JudgmentDataError, match="anchor 'Z'"):
        rank(df, anchor="Z")


def test_anchor_works_for_mos_and_elo():
    ratings = pd.DataFrame({"rater": list("abcabc"), "condition": ["x"] * 3 + ["y"] * 3,
                            "value": [4, 5, 4, 2, 1, 2], "scale": "acr5"})
    table, _ = rank(ratings, model="mos", anchor="y")
    ref = fit_mos(ratings)
    s = dict(zip(ref.conditions, ref.scores))
    got = table.set_index("condition")
    assert got.loc["x", "score"] == pytest.approx(s["x"] - s["y"]) and got.loc["y", "score"] == 0
    # Var(x - y) = Var(x) + Var(y) for independent means
    assert got.loc["x", "se"] == pytest.approx(np.hypot(*ref.se))
    pairs = simulate(np.array([0.0, 1.0, -1.0]), n=400, rng=np.random.default_rng(1))
    table, _ = rank(pairs, model="elo", anchor="c0")
    elo = fit_elo(pairs)
    e = dict(zip(elo.conditions, elo.scores))
    assert table.set_index("condition").loc["c1", "score"] == pytest.approx(e["c1"] - e["c0"])


def test_empty_by_values_form_their_own_slice_and_excluded_slices_are_noted():
    df = pd.DataFrame({"rater": ["r1", "r1", "r1", "r1", "r1", "r2", "r2"],
                       "condition_a": ["A", "B", "A", "B", "B", "A", "C"],
                       "condition_b": ["B", "A", "B", "A", "A", "C", "A"],
                       "outcome": ["a", "a", "a", "b", "b", "a", "a"],
                       "scenario": ["s1", "s1", None, None, None, "s2", "s2"]})
    table, notes = rank(df, by="scenario")
    assert table["n_judgments"].groupby(table["scenario"], dropna=False).first().sum() == len(df)
    assert table["scenario"].isna().sum() == 2
    assert any("3 judgment(s) with an empty scenario" in n for n in notes)
    table, notes = rank(df, by="scenario", exclude=["r2"])
    assert "s2" not in set(table["scenario"]) and "scenario=s2: skipped (all its raters were excluded)" in notes


def test_notes_for_duplicates_unknown_exclusions_and_an_empty_table():
    df = counts_frame({("A", "B"): (3, 1, 0), ("B", "C"): (2, 2, 0), ("A", "C"): (1, 1, 0)})
    df["trial"] = np.arange(len(df))
    dup = pd.concat([df, df.iloc[:2]], ignore_index=True)
    _, notes = rank(dup, exclude=["nobody"])
    assert any(n.startswith("2 row(s) repeat another row exactly") for n in notes)
    assert any("do not occur in the judgments: nobody" in n for n in notes)
    _, notes = rank(df)
    assert not any("repeat another row" in n for n in notes)
    with pytest.raises(JudgmentDataError, match="the table has no judgments"):
        rank(df.iloc[:0])
    with pytest.raises(JudgmentDataError, match="every judgment was excluded"):
        rank(df, exclude=["r"])


def test_elo_without_replicates_gives_equal_scores_equal_rank_ranges():
    df = pd.DataFrame({"rater": "r", "condition_a": ["A", "B", "A"], "condition_b": ["B", "C", "C"],
                       "outcome": ["tie", "tie", "tie"]})
    table, _ = rank(df, model="elo")
    assert (table["score"] == 1000.0).all()
    assert (table["rank_low"] == 1).all() and (table["rank_high"] == 3).all()


def test_mos_leaves_repeat_ratings_out_and_matches_scipy_on_one_rating_per_rater():
    """A repeat is the same rater again: the MOS and its t-interval use each rater's first rating only."""
    from scipy import stats

    rng = np.random.default_rng(5)
    rows = []
    for r in range(8):
        for c, q in (("i::a", 4.0), ("i::b", 2.0)):
            first = int(np.clip(round(q + rng.normal(0, 0.8)), 1, 5))
            rows.append({"rater": f"r{r}", "condition": c, "value": first, "scale": "acr5", "is_repeat": False})
            if r < 4:   # half the raters see each stimulus again and rate it 5 (counted, it would pull the MOS up)
                rows.append({"rater": f"r{r}", "condition": c, "value": 5, "scale": "acr5", "is_repeat": True})
    df = pd.DataFrame(rows)
    table, notes = rank(df, model="mos")
    assert "8 repeat rating(s) not scaled" in notes[0]
    got = table.set_index("condition")
    for c in ("i::a", "i::b"):
        v = df[(df["condition"] == c) & ~df["is_repeat"]]["value"].to_numpy(float)
        lo, hi = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
        assert got.loc[c, "score"] == pytest.approx(v.mean()) and got.loc[c, "n"] == 8
        assert (got.loc[c, "ci_low"], got.loc[c, "ci_high"]) == pytest.approx((lo, hi))
    assert (table["n_judgments"] == 16).all()
    # the rater bootstrap resamples the same first ratings
    boot, _ = rank(df, model="mos", n_boot=200, rng=np.random.default_rng(0))
    assert (boot["n_judgments"] == 16).all()


def test_mos_of_several_dimensions_without_by_dimension_is_noted():
    df = pd.DataFrame({"rater": ["r1", "r2", "r1", "r2"], "condition": "c", "value": [4, 5, 1, 2],
                       "scale": "acr5", "dimension": ["overall", "overall", "sharpness", "sharpness"]})
    _, notes = rank(df, model="mos")
    assert any("ratings of 2 dimensions (overall, sharpness) are averaged" in n for n in notes)
    table, notes = rank(df, model="mos", by="dimension")
    assert not any("averaged" in n for n in notes)
    assert table.set_index("dimension").loc["sharpness", "score"] == pytest.approx(1.5)
