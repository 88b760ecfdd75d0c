import json

import numpy as np
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
