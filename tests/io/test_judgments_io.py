import json

import pandas as pd
import pytest

from eyetest.core.judgments.model import condition_id
from eyetest.errors import JudgmentDataError, UnknownNameError
from eyetest.io.judgments import (
    PWCMP_LIGHTFIELD_MAPPING, apply_mapping, detect_format, read_judgments, write_table,
)


def test_generic_csv_builds_condition_ids(tmp_path):
    p = tmp_path / "j.csv"
    pd.DataFrame({"rater": ["r1"], "image": ["i1"], "method_a": ["hat"], "method_b": ["supir"],
                  "outcome": ["tie"], "scenario": ["text"]}).to_csv(p, index=False)
    df = read_judgments(p)
    assert df.loc[0, "condition_a"] == condition_id("i1", "hat") and df.loc[0, "scenario"] == "text"


def test_pwcmp_tmo_layout(tmp_path):
    p = tmp_path / "tmo.csv"
    p.write_text("observer,session_id,scene,condition_A,condition_B,is_A_selected,criterion\n"
                 "M01,1,window,tmo_camera,ferwerda96,1,perceptual\n"
                 "M01,1,window,ronan12,irawan05,0,perceptual\n")
    df = read_judgments(p)
    assert list(df["outcome"]) == ["a", "b"]
    assert df.loc[1, "condition_b"] == "window::irawan05" and df.loc[0, "dimension"] == "perceptual"
    assert df.loc[0, "rater"] == "M01" and df.loc[0, "image"] == "window"


def test_pwcmp_lightfield_layout_through_mapping(tmp_path):
    p = tmp_path / "lf.csv"
    p.write_text("trial,observer,session,scene,dist_type1,dist_level1,dist_type2,dist_level2,selected\n"
                 "1,obs_14,S,Car,DQ,1,Reference,0,2\n2,obs_14,S,Car,NN,7,DQ,7,1\n")
    df = read_judgments(p, format="pwcmp")
    assert list(df["condition_a"]) == ["Car::DQ_1", "Car::NN_7"]
    assert list(df["condition_b"]) == ["Car::Reference_0", "Car::DQ_7"]
    assert list(df["outcome"]) == ["b", "a"]
    bad = pd.read_csv(p).assign(selected=[3, 1])
    with pytest.raises(JudgmentDataError, match="selected"):
        apply_mapping(bad, PWCMP_LIGHTFIELD_MAPPING)


def test_arena_battles(tmp_path):
    p = tmp_path / "arena.jsonl"
    rows = [{"model_a": "x", "model_b": "y", "winner": w, "judge": "j1"}
            for w in ["model_a", "model_b", "tie", "tie (bothbad)"]]
    p.write_text("\n".join(json.dumps(r) for r in rows))
    df = read_judgments(p)
    assert list(df["outcome"]) == ["a", "b", "tie", "tie"]
    assert list(df["both_bad"]) == [False, False, False, True] and set(df["rater"]) == {"j1"}
    p2 = tmp_path / "bad.csv"
    pd.DataFrame([{"model_a": "x", "model_b": "y", "winner": "draw"}]).to_csv(p2, index=False)
    with pytest.raises(JudgmentDataError, match="winner"):
        read_judgments(p2, format="arena")


def test_ratings_csv_and_errors_name_the_file(tmp_path):
    p = tmp_path / "r.csv"
    pd.DataFrame({"rater": ["a"], "image": ["i"], "method": ["m"], "value": [4], "scale": ["acr5"]}).to_csv(p, index=False)
    df = read_judgments(p)
    assert detect_format(pd.read_csv(p).columns) == "ratings" and df.loc[0, "condition"] == "i::m"
    pd.DataFrame({"rater": ["a"], "condition": ["c"], "value": [9], "scale": ["acr5"]}).to_csv(p, index=False)
    with pytest.raises(JudgmentDataError, match="r.csv"):
        read_judgments(p)
    with pytest.raises(JudgmentDataError, match="does not exist"):
        read_judgments(tmp_path / "missing.csv")
    with pytest.raises(UnknownNameError):
        read_judgments(p, format="excel")


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_export_round_trip(tmp_path, ext):
    df = pd.DataFrame({"rater": ["r1", "r2"], "condition_a": ["x", "y"], "condition_b": ["y", "x"],
                       "outcome": ["a", "tie"], "elapsed_ms": [1500.0, 900.0], "is_gold": [True, False]})
    path = write_table(df, tmp_path / f"out.{ext}")
    back = read_judgments(path, format="generic")
    pd.testing.assert_frame_equal(back[df.columns], df, check_dtype=False)
    assert [p.name for p in tmp_path.iterdir()] == [f"out.{ext}"]  # no temp files left
    with pytest.raises(UnknownNameError):
        write_table(df, tmp_path / "out.xlsx")


def test_csv_ids_are_text_never_numbers(tmp_path):
    # pandas would guess floats/ints: 10 vs 10.0 as two conditions, raters 007 / 7 / 0007 merged
    p = tmp_path / "ids.csv"
    p.write_text("rater,condition_a,condition_b,outcome,scenario\n"
                 "007,10,12.5,a,01\n7,10,15,a,01\n0007,12,15,b,1\nNA,None,15,a, \n r1 , 10 ,12,tie,01\n")
    df = read_judgments(p)
    assert sorted(set(df["condition_a"]) | set(df["condition_b"])) == ["10", "12", "12.5", "15", "None"]
    assert sorted(df["rater"].unique()) == ["0007", "007", "7", "NA", "r1"]
    assert df["scenario"].tolist()[:3] == ["01", "01", "1"] and pd.isna(df["scenario"].iloc[3])


def test_jsonl_ids_keep_their_text(tmp_path):
    p = tmp_path / "ids.jsonl"
    p.write_text('{"rater": "007", "condition_a": "001", "condition_b": "1.0", "outcome": "a"}\n'
                 '{"rater": 7, "condition_a": 10, "condition_b": 12.5, "outcome": "b", "elapsed_ms": 1500}\n')
    df = read_judgments(p)
    assert df["rater"].tolist() == ["007", "7"]
    assert df["condition_a"].tolist() == ["001", "10"] and df["condition_b"].tolist() == ["1.0", "12.5"]
    assert df["elapsed_ms"].iloc[1] == 1500


def test_header_only_and_semicolon_files(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("rater,condition_a,condition_b,outcome\n")
    with pytest.raises(JudgmentDataError, match=r"empty\.csv.*no judgments"):
        read_judgments(p)
    semi = tmp_path / "semi.csv"  # e.g. exported by a spreadsheet in a European locale
    semi.write_text("rater;condition_a;condition_b;outcome\nr1;A;B;a\nr1;B;C;tie\n")
    df = read_judgments(semi)
    assert df["condition_b"].tolist() == ["B", "C"] and df["outcome"].tolist() == ["a", "tie"]


def test_pwcmp_bad_code_is_named_as_a_plain_number(tmp_path):
    p = tmp_path / "tmo.csv"
    p.write_text("observer,session_id,scene,condition_A,condition_B,is_A_selected\nM01,1,w,x,y,2\n")
    with pytest.raises(JudgmentDataError) as err:
        read_judgments(p)
    assert "is_A_selected 2:" in str(err.value) and "np." not in str(err.value) and "tmo.csv" in str(err.value)


def test_written_tables_get_the_umask_permissions_and_extension_is_checked(tmp_path):
    import os
    import stat

    from eyetest.io.judgments import check_table_path

    df = pd.DataFrame({"condition": ["x"], "score": [0.5]})
    old = os.umask(0o022)
    try:
        for ext in ("csv", "jsonl", "parquet"):
            path = write_table(df, tmp_path / f"scale.{ext}")
            assert stat.S_IMODE(path.stat().st_mode) == 0o644
    finally:
        os.umask(old)
    with pytest.raises(UnknownNameError, match=r"\.txt"):
        check_table_path(tmp_path / "scale.txt")
