"""Reading PAPERS.csv / METRICS.csv: cell spellings (unicode too) and named errors."""

from __future__ import annotations

import pytest

from eyetest.errors import TableError
from eyetest.io.adoption import compute_adoption, parse_cell, read_metric_years, read_papers


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("cell, state", [
    ("yes", "yes"), (" YES ", "yes"), ("y", "yes"), ("✓", "yes"), ("✔", "yes"),
    ("no", "no"), ("N", "no"), ("✗", "no"), ("✘", "no"),
    ("n-a", "n-a"), ("N/A", "n-a"), ("/", "n-a"), ("-", "n-a"), ("", None), ("  ", None),
])
def test_cell_spellings(cell, state):
    assert parse_cell(cell) == state


def test_read_and_compute_with_unicode_and_blanks(tmp_path):
    papers = _write(tmp_path / "PAPERS.csv",
                    "\ufeffpaper,year,PSNR,LPIPS,MUSIQ\n"
                    "SRCNN,2014,✓,/,/\n"
                    "ESRGAN,2018,✓,,\n"
                    "SwinIR,2021,yes,✓,\n"
                    "HAT,2023,yes,✗,\n"
                    "SUPIR,2024,✓,✓,✓\n")
    years = _write(tmp_path / "METRICS.csv", "metric,year\nLPIPS,2018\nMUSIQ,2021\n")
    frame, metrics = read_papers(papers)
    assert metrics == ["PSNR", "LPIPS", "MUSIQ"] and frame["year"].tolist() == [2014, 2018, 2021, 2023, 2024]
    assert read_metric_years(years) == {"LPIPS": 2018, "MUSIQ": 2021}
    table = compute_adoption(papers, years).set_index("metric")
    assert table.loc["LPIPS", ["reporting", "eligible"]].tolist() == [2, 3]  # ESRGAN 2018 is n-a
    assert table.loc["MUSIQ", ["reporting", "eligible"]].tolist() == [1, 2]  # SwinIR 2021 n-a, HAT 2023 no


@pytest.mark.parametrize("text, match, row, column", [
    ("paper,year,PSNR\nA,2020,perhaps\n", "'perhaps'", "A", "PSNR"),
    ("paper,year,PSNR\nA,twenty,yes\n", "whole number", "A", "year"),
    ("paper,year,PSNR\nA,1492,yes\n", "outside", "A", "year"),
    ("paper,year,PSNR\nA,2020\n", "2 cells", 2, None),
    ("paper,year,PSNR,PSNR\nA,2020,yes,no\n", "twice", 1, "PSNR"),
    ("paper,year,PSNR\nA,2020,yes\nA,2021,no\n", "twice", "A", "paper"),
    ("title,year,PSNR\nA,2020,yes\n", "paper,year", 1, None),
    ("paper,year\nA,2020\n", "no metric columns", 1, None),
])
def test_bad_papers_tables_named(tmp_path, text, match, row, column):
    path = _write(tmp_path / "PAPERS.csv", text)
    with pytest.raises(TableError, match=match) as err:
        read_papers(path)
    assert err.value.path == str(path) and err.value.row == row and err.value.column == column
    assert "PAPERS.csv" in str(err.value)


def test_bad_metric_years_named(tmp_path):
    with pytest.raises(TableError, match="whole number") as err:
        read_metric_years(_write(tmp_path / "M.csv", "metric,year\nLPIPS,2018\nMUSIQ,soon\n"))
    assert err.value.row == 3 and err.value.column == "year"
    with pytest.raises(TableError, match="twice"):
        read_metric_years(_write(tmp_path / "M.csv", "metric,year\nLPIPS,2018\nLPIPS,2019\n"))
    with pytest.raises(TableError, match="metric,year"):
        read_metric_years(_write(tmp_path / "M.csv", "name,when\nLPIPS,2018\n"))
    with pytest.raises(TableError, match="not found"):
        read_metric_years(tmp_path / "missing.csv")


def test_blank_without_metric_year_names_file_paper_and_metric(tmp_path):
    papers = _write(tmp_path / "PAPERS.csv", "paper,year,LPIPS\nESRGAN,2018,\n")
    with pytest.raises(TableError) as err:
        compute_adoption(papers)
    assert err.value.path == str(papers) and err.value.row == "ESRGAN" and err.value.column == "LPIPS"
