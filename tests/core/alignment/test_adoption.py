"""Adoption table from in-memory cell states (explicit and year-derived)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eyetest.core.alignment.adoption import adoption_table, resolve_cells
from eyetest.errors import TableError


def _papers():
    return pd.DataFrame({
        "paper": ["SRCNN", "ESRGAN", "SwinIR", "HAT", "SUPIR"],
        "year": [2014, 2018, 2021, 2023, 2024],
        "PSNR": ["yes", "yes", "yes", "yes", "yes"],
        "LPIPS": ["n-a", None, "yes", "no", "yes"],
        "MUSIQ": ["n-a", "n-a", None, None, "yes"],
    }, dtype=object).astype({"year": int})


def test_explicit_and_year_derived_cells():
    years = {"LPIPS": 2018, "MUSIQ": 2021}
    resolved = resolve_cells(_papers(), metrics=["LPIPS", "MUSIQ"], metric_years=years).set_index("paper")
    # the proposal year itself does not count: ESRGAN (2018) is n-a for LPIPS (2018)
    assert resolved.loc["ESRGAN", "LPIPS"] == "n-a"
    assert resolved.loc["SwinIR", "MUSIQ"] == "n-a"  # 2021 == 2021
    assert resolved.loc["HAT", "MUSIQ"] == "no"  # 2023 > 2021, blank = not reported
    table = adoption_table(_papers(), metrics=["PSNR", "LPIPS", "MUSIQ"], metric_years=years).set_index("metric")
    assert table.loc["PSNR", ["reporting", "eligible"]].tolist() == [5, 5]
    assert table.loc["LPIPS", ["reporting", "eligible"]].tolist() == [2, 3]
    assert table.loc["LPIPS", "adoption_rate"] == pytest.approx(2 / 3)
    assert table.loc["MUSIQ", ["reporting", "eligible"]].tolist() == [1, 2]
    assert table.loc["LPIPS", "first_year"] == 2021 and table.loc["MUSIQ", "available_after"] == 2021
    assert pd.isna(table.loc["PSNR", "available_after"])


def test_year_boundary_one_year_later_counts():
    papers = pd.DataFrame({"paper": ["a", "b"], "year": [2018, 2019], "M": [None, None]}, dtype=object)
    t = adoption_table(papers, metrics=["M"], metric_years={"M": 2018})
    assert t["eligible"].item() == 1 and t["reporting"].item() == 0 and t["adoption_rate"].item() == 0.0


def test_explicit_cell_wins_over_year_rule():
    papers = pd.DataFrame({"paper": ["preprint"], "year": [2017], "M": ["yes"]}, dtype=object)
    t = adoption_table(papers, metrics=["M"], metric_years={"M": 2018})
    assert t[["reporting", "eligible"]].iloc[0].tolist() == [1, 1]


def test_no_eligible_paper_gives_nan_rate():
    papers = pd.DataFrame({"paper": ["a"], "year": [2010], "M": ["n-a"]}, dtype=object)
    t = adoption_table(papers, metrics=["M"])
    assert np.isnan(t["adoption_rate"].item()) and t["eligible"].item() == 0 and pd.isna(t["first_year"].item())


def test_blank_without_year_and_bad_state_are_named():
    with pytest.raises(TableError) as err:
        adoption_table(_papers(), metrics=["LPIPS"], metric_years={})
    assert err.value.row == "ESRGAN" and err.value.column == "LPIPS"
    bad = _papers()
    bad.loc[0, "PSNR"] = "maybe"
    with pytest.raises(TableError, match="'maybe'"):
        adoption_table(bad, metrics=["PSNR"])
