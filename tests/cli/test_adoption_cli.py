"""``eyetest adoption`` end to end (click runner, real files)."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner
from PIL import Image

from eyetest.cli.main import cli

PAPERS = ("paper,year,PSNR,SSIM,LPIPS\n"
          "SRCNN,2014,✓,✓,/\n"
          "ESRGAN,2018,✓,✓,\n"
          "SwinIR,2021,yes,yes,yes\n"
          "HAT,2023,yes,no,✗\n")


def test_adoption_writes_table_and_plot(tmp_path):
    (tmp_path / "PAPERS.csv").write_text(PAPERS, encoding="utf-8")
    (tmp_path / "METRICS.csv").write_text("metric,year\nLPIPS,2018\n", encoding="utf-8")
    out, plot = tmp_path / "adoption.csv", tmp_path / "adoption.png"
    result = CliRunner().invoke(cli, ["adoption", str(tmp_path / "PAPERS.csv"), "--metric-years",
                                      str(tmp_path / "METRICS.csv"), "--out", str(out), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert "LPIPS" in result.output and "50.0%" in result.output and "75.0%" in result.output
    table = pd.read_csv(out).set_index("metric")
    assert list(table.columns[:3]) == ["reporting", "eligible", "adoption_rate"]
    assert table.loc["LPIPS", ["reporting", "eligible"]].tolist() == [1, 2]  # ESRGAN (2018) not eligible
    assert table.loc["SSIM", "adoption_rate"] == 0.75
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.size[0] > 200


def test_adoption_bad_cell_exits_2_with_named_error(tmp_path):
    (tmp_path / "PAPERS.csv").write_text("paper,year,PSNR\nSRCNN,2014,maybe\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["adoption", str(tmp_path / "PAPERS.csv")])
    assert result.exit_code == 2
    assert "SRCNN" in result.output and "PSNR" in result.output and "'maybe'" in result.output


def test_adoption_blank_without_years_exits_2(tmp_path):
    (tmp_path / "PAPERS.csv").write_text(PAPERS, encoding="utf-8")
    out = tmp_path / "adoption.csv"
    result = CliRunner().invoke(cli, ["adoption", str(tmp_path / "PAPERS.csv"), "--out", str(out)])
    assert result.exit_code == 2 and "ESRGAN" in result.output and "LPIPS" in result.output
    assert not out.exists()
