"""Imported scores: validation errors by name, merge rules, CSV and Parquet."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from eyetest.backends.imported import (
    ImportedScoresError,
    match_dataset,
    merge_imported,
    read_scores,
)
from eyetest.errors import DatasetError


def _native():
    return pd.DataFrame({
        "image": ["0801", "0801", "0802", "0802"],
        "method": ["hat", "supir", "hat", "supir"],
        "metric": ["psnr"] * 4,
        "value": [28.1, 25.3, 30.2, 26.0],
        "scenario": ["text", "text", "food", "food"],
        "family": ["psnr-oriented", "diffusion", "psnr-oriented", "diffusion"],
    })


def test_csv_roundtrip_and_types(tmp_path):
    f = tmp_path / "musiq.csv"
    f.write_text("image,method,metric,value\n0801,hat,musiq,61.5\n 0802 ,supir,musiq, inf\n0803,hat,musiq,nan\n")
    df = read_scores(f)
    assert list(df["image"]) == ["0801", "0802", "0803"]  # stems stay strings ("0801", not 801)
    assert df["value"].dtype == np.float64
    assert df["value"].iloc[0] == 61.5 and math.isinf(df["value"].iloc[1]) and math.isnan(df["value"].iloc[2])


def test_parquet(tmp_path):
    f = tmp_path / "s.parquet"
    pd.DataFrame({"image": ["a"], "method": ["m"], "metric": ["clipiqa"], "value": [0.7],
                  "scenario": ["water flow"]}).to_parquet(f)
    df = read_scores(f)
    assert df.loc[0, "value"] == 0.7 and df.loc[0, "scenario"] == "water flow"


def test_missing_columns_named(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("image,method,score\na,m,1\n")
    with pytest.raises(ImportedScoresError) as ei:
        read_scores(f)
    msg = str(ei.value)
    assert "metric, value" in msg and "found: image, method, score" in msg
    assert isinstance(ei.value, DatasetError)


def test_non_numeric_value_named_with_line(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("image,method,metric,value\na,m,musiq,1.0\nb,m,musiq,high\nc,m,musiq,\n")
    with pytest.raises(ImportedScoresError, match=r"bad.csv line 3: value 'high' of metric 'musiq' is not a number \(2 such"):
        read_scores(f)


def test_parquet_string_values_checked(tmp_path):
    f = tmp_path / "s.parquet"
    pd.DataFrame({"image": ["a", "b"], "method": ["m", "m"], "metric": ["x", "x"],
                  "value": ["1.5", "oops"]}).to_parquet(f)
    with pytest.raises(ImportedScoresError, match="s.parquet row 2: value 'oops'"):
        read_scores(f)


def test_empty_key_duplicate_and_extension(tmp_path):
    f = tmp_path / "e.csv"
    f.write_text("image,method,metric,value\na,,musiq,1\n")
    with pytest.raises(ImportedScoresError, match="e.csv line 2: empty 'method'"):
        read_scores(f)
    f.write_text("image,method,metric,value\na,m,musiq,1\na,m,musiq,2\n")
    with pytest.raises(ImportedScoresError, match="appears more than once"):
        read_scores(f)
    g = tmp_path / "s.xlsx"
    g.write_text("x")
    with pytest.raises(ImportedScoresError, match="unknown extension '.xlsx'"):
        read_scores(g)
    with pytest.raises(ImportedScoresError, match="does not exist"):
        read_scores(tmp_path / "absent.csv")


def test_merge_adds_rows_and_fills_scenario_family(tmp_path):
    f = tmp_path / "musiq.csv"
    f.write_text("image,method,metric,value\n0801,hat,musiq,61.5\n0802,supir,musiq,70\n0900,new,musiq,1\n")
    out = merge_imported(_native(), f)
    assert len(out) == 7
    imp = out[out["metric"] == "musiq"].set_index("image")
    assert list(imp["source"]) == ["musiq.csv"] * 3
    assert imp.loc["0801", "scenario"] == "text" and imp.loc["0802", "family"] == "diffusion"
    assert pd.isna(imp.loc["0900", "scenario"]) and pd.isna(imp.loc["0900", "family"])
    assert set(out.loc[out["metric"] == "psnr", "source"]) == {"eyetest"}
    # native rows untouched
    pd.testing.assert_frame_equal(out.iloc[:4][_native().columns], _native())
    # a per-method mean over the merged table treats both alike
    means = out.groupby(["method", "metric"])["value"].mean()
    assert means[("supir", "musiq")] == 70 and means[("hat", "psnr")] == pytest.approx(29.15)


def test_merge_conflicts(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("image,method,metric,value\n0801,hat,psnr,99\n")
    with pytest.raises(ImportedScoresError, match=r"\('0801', 'hat', 'psnr'\) is also computed"):
        merge_imported(_native(), f)
    out = merge_imported(_native(), f, on_conflict="imported")
    row = out[(out.image == "0801") & (out.method == "hat")]
    assert len(row) == 1 and row["value"].iloc[0] == 99 and row["source"].iloc[0] == "p.csv"
    assert row["scenario"].iloc[0] == "text"
    out = merge_imported(_native(), f, on_conflict="native")
    row = out[(out.image == "0801") & (out.method == "hat")]
    assert len(row) == 1 and row["value"].iloc[0] == 28.1 and len(out) == 4


def test_merge_into_empty_table(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("image,method,metric,value\na,m,x,1\n")
    out = merge_imported(pd.DataFrame(), f)
    assert out[["image", "method", "metric", "value"]].values.tolist() == [["a", "m", "x", 1.0]]


def test_match_dataset_keeps_known_pairs_and_names_the_rest(tmp_path):
    f = tmp_path / "s.parquet"
    pd.DataFrame({"image": ["0801.PNG", "0801", "*", "0900", "*"],
                  "method": ["hat", "supir", "hat", "hat", "new"],
                  "metric": ["musiq"] * 4 + ["fid"], "value": [1.0, 2.0, 3.0, 4.0, 5.0]}
                 ).to_parquet(f)
    pairs = {("0801", "hat"), ("0801", "supir"), ("*", "hat"), ("*", "supir")}
    kept, problems = match_dataset(read_scores(f), f, pairs)
    assert kept[["image", "method", "value"]].values.tolist() == [
        ["0801", "hat", 1.0], ["0801", "supir", 2.0], ["*", "hat", 3.0]]
    assert [(p.file, p.image, p.method) for p in problems] == [
        (str(f), "0900", "hat"), (str(f), "*", "new")]
    assert problems[0].reason.startswith("row 4: image '0900' of method 'hat' is not in")
    assert problems[1].reason.startswith("row 5: method 'new' is not a method of the dataset")
    out = merge_imported(_native(), f, scores=kept)
    assert len(out) == len(_native()) + 3 and "0900" not in set(out["image"])
