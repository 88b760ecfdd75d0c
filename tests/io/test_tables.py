"""Result tables: exact round trips in every format, atomic writes, named errors."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pandas as pd
import pytest

from eyetest.errors import EyetestError, UnknownNameError
from eyetest.io.tables import atomic_write_text, read_table, table_format, write_table


def _table():
    rng = np.random.default_rng(3)
    values = rng.normal(size=6) * 1e3
    values[1] = math.inf
    values[2] = math.nan
    values[3] = 1 / 3  # needs all 17 significant digits
    return pd.DataFrame({
        "image": ["0001", "0001", "0002", "0002", "x y", "ü"],
        "method": ["hat"] * 3 + ["supir"] * 3,
        "metric": ["psnr", "ssim"] * 3,
        "value": values,
        "scenario": ["medium face;text", "", "food", "food", "", ""],
    })


@pytest.mark.parametrize("ext", [".csv", ".parquet", ".json"])
def test_round_trip_exact(tmp_path, ext):
    df = _table()
    path = write_table(df, tmp_path / f"sub/r{ext}")
    back = read_table(path)
    assert list(back.columns) == list(df.columns)
    for col in ("image", "method", "metric"):
        assert back[col].tolist() == df[col].tolist()
    np.testing.assert_array_equal(back["value"].to_numpy(float), df["value"].to_numpy(float))
    # Empty strings may come back as missing in CSV; the tags themselves must survive.
    assert back["scenario"].fillna("").tolist() == df["scenario"].tolist()


def test_json_is_standard_json(tmp_path):
    path = write_table(_table(), tmp_path / "r.json")
    doc = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard {c}"))
    assert doc["records"][1]["value"] == "inf" and doc["records"][2]["value"] == "nan"


def test_unknown_extension_named():
    with pytest.raises(UnknownNameError, match=r"\.xlsx"):
        table_format("out.xlsx")


def test_atomic_write_leaves_no_temp_and_keeps_old_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "r.csv"
    write_table(_table(), path)
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "half")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]


def test_read_missing_table_named(tmp_path):
    with pytest.raises(EyetestError, match="nope.csv"):
        read_table(tmp_path / "nope.csv")


def test_read_bad_json_named(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("[1, 2]")
    with pytest.raises(EyetestError, match="bad.json"):
        read_table(path)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_atomic_write_honours_umask_and_keeps_existing_mode(tmp_path, umask):
    import stat

    old = os.umask(umask)
    try:
        new = tmp_path / "new.csv"
        write_table(_table(), new)
        assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask  # what open() would give
        kept = tmp_path / "kept.json"
        kept.write_text("{}")
        os.chmod(kept, 0o640)
        atomic_write_text(kept, "{}\n")
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640
        assert kept.read_text() == "{}\n"
    finally:
        os.umask(old)
