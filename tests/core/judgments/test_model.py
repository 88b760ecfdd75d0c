import pandas as pd
import pytest

from eyetest.core.judgments.model import (
    components, condition_id, method_judgments, mle_exists, pair_counts, split_condition_id,
    validate_pairwise, validate_ratings,
)
from eyetest.errors import JudgmentDataError


def _pw(**cols):
    base = {"rater": ["r1", "r1"], "condition_a": ["x", "y"], "condition_b": ["y", "z"], "outcome": ["a", "tie"]}
    base.update(cols)
    return pd.DataFrame(base)


def test_condition_id_round_trip_scalar_and_vector():
    assert condition_id("img1", "hat") == "img1::hat"
    assert split_condition_id("a::b::hat") == ("a::b", "hat")
    ids = condition_id(pd.Series(["i1", "i2"]), pd.Series(["m", "n"]))
    assert list(ids) == ["i1::m", "i2::n"]


@pytest.mark.parametrize("cols, field", [
    ({"outcome": ["a", "left"]}, "outcome"),
    ({"condition_b": ["x", "z"]}, "condition_b"),
    ({"is_gold": ["yes?", "no"]}, "is_gold"),
    ({"elapsed_ms": [100, -5]}, "elapsed_ms"),
])
def test_validate_pairwise_names_the_bad_field(cols, field):
    with pytest.raises(JudgmentDataError) as err:
        validate_pairwise(_pw(**cols))
    assert err.value.field == field


def test_validate_pairwise_missing_column_and_normalisation():
    with pytest.raises(JudgmentDataError, match="outcome"):
        validate_pairwise(_pw().drop(columns="outcome"))
    out = validate_pairwise(_pw(outcome=["A", " Tie"], is_gold=["true", "0"]))
    assert list(out["outcome"]) == ["a", "tie"]
    assert list(out["is_gold"]) == [True, False]


def test_validate_ratings_range_per_scale():
    ok = pd.DataFrame({"rater": ["r", "r"], "condition": ["c", "d"], "value": [5, 80], "scale": ["acr5", "continuous100"]})
    assert validate_ratings(ok)["value"].tolist() == [5.0, 80.0]
    with pytest.raises(JudgmentDataError, match="outside"):
        validate_ratings(ok.assign(value=[6, 80]))
    with pytest.raises(JudgmentDataError) as err:
        validate_ratings(ok.assign(scale=["acr7", "acr5"]))
    assert err.value.field == "scale"


@pytest.mark.parametrize("values, scales, message", [
    ([4, 6], ["acr5", "acr5"], "value 6.0: outside [1, 5] of scale acr5 (row 1)"),          # plain number, no np.int64(...)
    ([4, 3.5], ["dcr5", "dcr5"], "value 3.5: is not a category of scale dcr5"),             # ACR/DCR are categories
    ([4, "good"], ["acr5", "acr5"], "value 'good': is not a number (row 1)"),
    ([4, None], ["acr5", "acr5"], "value '': is empty (row 1)"),
    ([50, float("inf")], ["continuous100"] * 2, "value inf: outside [0, 100] of scale continuous100 (row 1)"),
])
def test_validate_ratings_names_the_bad_value_and_row(values, scales, message):
    df = pd.DataFrame({"rater": ["r", "s"], "condition": ["c", "c"], "value": values, "scale": scales})
    with pytest.raises(JudgmentDataError) as err:
        validate_ratings(df)
    assert err.value.field == "value" and str(err.value).startswith(message)


def test_validate_ratings_accepts_fractional_continuous_and_whole_category_values():
    df = pd.DataFrame({"rater": ["r", "s", "t"], "condition": "c", "value": ["3", 4.0, 72.5],
                       "scale": ["acr5", "dcr5", "continuous100"]})
    assert validate_ratings(df)["value"].tolist() == [3.0, 4.0, 72.5]


def test_pair_counts_orientation_and_totals():
    df = pd.DataFrame({
        "rater": "r", "condition_a": ["y", "x", "x", "y"], "condition_b": ["x", "y", "y", "x"],
        "outcome": ["a", "a", "tie", "b"],
    })
    c = pair_counts(df)
    assert c.conditions == ("x", "y")
    # x won once (row 2) and once (row 4: y shown as A lost); y won once (row 1); one tie
    assert (c.wins_i[0], c.wins_j[0], c.ties[0]) == (2.0, 1.0, 1.0)
    m = c.matrix()
    assert m[0, 1] == 2.5 and m[1, 0] == 1.5


def test_components_and_mle_existence():
    df = pd.DataFrame({"rater": "r", "condition_a": ["a", "b", "c"], "condition_b": ["b", "a", "d"],
                       "outcome": ["a", "a", "a"]})
    c = pair_counts(df)
    comp = components(c)
    assert comp[0] == comp[1] and comp[2] == comp[3] and comp[0] != comp[2]
    assert not mle_exists(c)  # c always beats d
    assert mle_exists(pair_counts(df.iloc[:2]))


def test_method_judgments_pools_images():
    df = pd.DataFrame({"rater": "r", "condition_a": [condition_id("i1", "hat"), condition_id("i2", "supir")],
                       "condition_b": [condition_id("i1", "supir"), condition_id("i2", "hat")],
                       "outcome": ["a", "b"]})
    m = method_judgments(df)
    assert list(m["condition_a"]) == ["hat", "supir"]
    c = pair_counts(m)
    assert c.conditions == ("hat", "supir") and c.wins_i[0] == 2
