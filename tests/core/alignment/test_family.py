"""Family win rates and best-family means on a hand-made table."""

from __future__ import annotations

import pandas as pd
import pytest

from eyetest.core.alignment.family import family_trends, family_win_rates
from eyetest.errors import MetricInputError

FAMILIES = {"bicubic": "psnr-oriented", "hat": "psnr-oriented", "esrgan": "gan", "supir": "diffusion"}

# image -> method -> score (higher is better)
TABLE = {
    "i1": {"bicubic": 1, "hat": 5, "esrgan": 4, "supir": 3},   # psnr-oriented wins (hat)
    "i2": {"bicubic": 1, "hat": 2, "esrgan": 6, "supir": 6},   # gan and diffusion tie: 0.5 each
    "i3": {"bicubic": 1, "hat": 2, "esrgan": 3, "supir": 9},   # diffusion
    "i4": {"bicubic": 2, "hat": 1},                            # one family only: not contested
}


def _frame():
    return pd.DataFrame([{"image": i, "method": m, "score": v} for i, row in TABLE.items() for m, v in row.items()])


def test_win_rates_by_hand():
    t = family_win_rates(_frame(), value="score", higher_is_better=True, families=FAMILIES).set_index("family")
    assert t.loc["psnr-oriented", "wins"] == 1.0
    assert t.loc["gan", "wins"] == 0.5
    assert t.loc["diffusion", "wins"] == 1.5
    assert (t["n_images"] == 3).all()
    assert t["win_rate"].sum() == pytest.approx(1.0)
    assert t.loc["diffusion", "win_rate"] == pytest.approx(0.5)
    # best-family mean over contested images: psnr best = hat 5, 2, 2
    assert t.loc["psnr-oriented", "best_mean"] == pytest.approx((5 + 2 + 2) / 3)
    assert t.loc["diffusion", "best_mean"] == pytest.approx((3 + 6 + 9) / 3)


def test_lower_is_better_and_family_column():
    frame = _frame().assign(family=lambda f: f["method"].map(FAMILIES))
    frame["score"] = -frame["score"]  # e.g. a distance: lower is better
    t = family_win_rates(frame, value="score", higher_is_better=False).set_index("family")
    assert t.loc["diffusion", "wins"] == 1.5 and t.loc["psnr-oriented", "wins"] == 1.0
    assert t.loc["gan", "best_mean"] == pytest.approx(-(4 + 6 + 3) / 3)


def test_family_trends_metrics_and_human():
    human = _frame()
    scores = human.rename(columns={"score": "value"}).assign(metric="psnr")
    inverted = scores.assign(metric="lpips", value=-scores["value"])
    out = family_trends(pd.concat([scores, inverted]), metrics={"psnr": True, "lpips": False}, human=human,
                        families=FAMILIES)
    assert set(out["source"]) == {"psnr", "lpips", "human"}
    rates = out.pivot(index="family", columns="source", values="win_rate")
    assert (rates["psnr"] == rates["human"]).all() and (rates["lpips"] == rates["human"]).all()


def test_errors_named():
    with pytest.raises(MetricInputError, match="esrgan"):
        family_win_rates(_frame(), value="score", higher_is_better=True, families={"bicubic": "p", "hat": "p"})
    one = _frame()[_frame()["image"] == "i4"]
    with pytest.raises(MetricInputError, match="two or more families"):
        family_win_rates(one, value="score", higher_is_better=True, families=FAMILIES)
