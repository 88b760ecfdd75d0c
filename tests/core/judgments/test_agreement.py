import numpy as np
import pandas as pd
import pytest
from scipy.stats import friedmanchisquare

from eyetest.core.judgments.agreement import (
    kendalls_w, krippendorff_alpha, percent_agreement, reliability_matrix, split_half,
)
from eyetest.core.judgments.bradley_terry import fit_pairwise
from eyetest.errors import UnknownNameError

from ._sim import simulate

nan = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers x 12 units
# with missing values; published alphas: nominal 0.743, ordinal 0.815, interval 0.849, ratio 0.797.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
]


@pytest.mark.parametrize("level, expected", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)])
def test_krippendorff_published_example(level, expected):
    assert krippendorff_alpha(KRIPPENDORFF_2011, level=level) == pytest.approx(expected, abs=5e-4)


def test_krippendorff_wikipedia_example_and_edge_cases():
    # en.wikipedia.org "Krippendorff's alpha", computational example (3 coders x 15 units): nominal 0.691
    data = [[nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
            [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
            [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4]]
    assert krippendorff_alpha(data, level="nominal") == pytest.approx(0.691, abs=5e-4)
    perfect = [[1, 2, 3, 4], [1, 2, 3, 4]]
    assert krippendorff_alpha(perfect, level="interval") == pytest.approx(1.0)
    with pytest.raises(UnknownNameError):
        krippendorff_alpha(perfect, level="cardinal")


def test_reliability_matrix_from_long_ratings():
    long = pd.DataFrame({"rater": ["a", "a", "b", "b"], "condition": ["x", "y", "x", "y"], "value": [1, 2, 1, 3]})
    m = reliability_matrix(long)
    assert m.shape == (2, 2) and m.loc["b", "y"] == 3


def test_kendalls_w_matches_friedman_statistic():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 6, size=(6, 8)).astype(float)  # with ties
    m, n = x.shape
    assert kendalls_w(x) == pytest.approx(friedmanchisquare(*x.T).statistic / (m * (n - 1)), rel=1e-10)
    assert kendalls_w(np.tile(np.arange(5.0), (4, 1))) == pytest.approx(1.0)


def test_percent_agreement_closed_form():
    df = pd.DataFrame({"rater": list("abcd"), "condition_a": ["x", "x", "y", "x"],
                       "condition_b": ["y", "y", "x", "y"], "outcome": ["a", "a", "b", "b"]})
    # oriented answers: x, x, x, y -> agreeing ordered pairs 3*2 = 6 of 4*3 = 12
    assert percent_agreement(df) == {"agreement": 0.5, "n_pairs": 1}


def test_split_half_reliability_high_for_consistent_raters():
    df = simulate(np.linspace(-2, 2, 8), n=6000, rng=np.random.default_rng(1), raters=20)
    out = split_half(df, lambda t: fit_pairwise(t), n_splits=5, rng=np.random.default_rng(2))
    assert out["spearman_brown"] > 0.95 and len(out["values"]) == 5
    noise = df.assign(outcome=np.random.default_rng(3).choice(["a", "b"], len(df)))
    assert split_half(noise, lambda t: fit_pairwise(t), n_splits=5, rng=np.random.default_rng(2))["r"] < 0.8
