import numpy as np
import pandas as pd
from click.testing import CliRunner

from eyetest.cli.main import cli


def _sim(path, *, ties=0.0, seed=0, n=3000):
    rng = np.random.default_rng(seed)
    s = {"hat": 0.0, "supir": 0.8, "bicubic": -1.2}
    names = list(s)
    rows = []
    for k in range(n):
        a, b = rng.choice(3, 2, replace=False)
        d = s[names[a]] - s[names[b]]
        z = np.exp(d / 2) + np.exp(-d / 2) + ties
        u = rng.random()
        out = "a" if u < np.exp(d / 2) / z else ("tie" if u < (np.exp(d / 2) + ties) / z else "b")
        rows.append({"rater": f"r{k % 7}", "image": f"img{k % 4}", "method_a": names[a], "method_b": names[b],
                     "outcome": out, "scenario": "text" if k % 4 < 2 else "face",
                     "dimension": "overall"})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_rank_davidson_by_scenario_with_bootstrap(tmp_path):
    src = _sim(tmp_path / "j.csv", ties=0.8)
    out = tmp_path / "scale.csv"
    res = CliRunner().invoke(cli, ["rank", str(src), "--model", "davidson", "--by", "scenario",
                                   "--bootstrap", "100", "--per-method", "--out", str(out)])
    assert res.exit_code == 0, res.output
    t = pd.read_csv(out)
    assert {"scenario", "condition", "score", "ci_low", "ci_high", "rank_low", "rank_high"} <= set(t.columns)
    assert set(t["scenario"]) == {"text", "face"} and len(t) == 6
    best = t.sort_values("score").groupby("scenario").tail(1)
    assert set(best["condition"]) == {"supir"}
    assert (t["tie_value"] - 0.8).abs().max() < 0.2
    assert "tie parameter nu" in res.output and "rank range" in res.output


def test_rank_pwcmp_with_auto_exclusion_and_report(tmp_path, shared_data):
    out = tmp_path / "tmo.csv"
    res = CliRunner().invoke(cli, ["rank", str(shared_data / "pairwise" / "tmo_pairwise_trials.csv"),
                                   "--model", "thurstone", "--format", "pwcmp", "--by", "image",
                                   "--exclude-raters", "auto", "--report", "--out", str(out)])
    assert res.exit_code == 0, res.output
    raters = pd.read_csv(tmp_path / "tmo.raters.csv")
    assert sorted(raters.loc[raters["applied"], "rater"]) == ["F01", "M02", "bab"]
    assert "excluded 3 rater(s)" in res.output
    assert pd.read_csv(out)["image"].nunique() == 5


def test_rank_exclusion_file_ratings_and_errors(tmp_path):
    src = _sim(tmp_path / "j.csv")
    excl = tmp_path / "ex.txt"
    excl.write_text("r0\nr1\n")
    out = tmp_path / "s.parquet"
    res = CliRunner().invoke(cli, ["rank", str(src), "--exclude-raters", str(excl), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "excluded 2 rater(s): r0, r1" in res.output
    assert len(pd.read_parquet(out)) == 12  # 4 images x 3 methods
    ratings = tmp_path / "r.csv"
    pd.DataFrame({"rater": ["a", "b", "a", "b"], "condition": ["x", "x", "y", "y"], "value": [4, 5, 2, 1],
                  "scale": "acr5"}).to_csv(ratings, index=False)
    res = CliRunner().invoke(cli, ["rank", str(ratings), "--out", str(tmp_path / "m.csv")])
    assert res.exit_code == 0, res.output
    assert pd.read_csv(tmp_path / "m.csv").iloc[0]["condition"] == "x"
    res = CliRunner().invoke(cli, ["rank", str(src), "--by", "nosuch", "--out", str(tmp_path / "e.csv")])
    assert res.exit_code == 2 and "nosuch" in res.output
    res = CliRunner().invoke(cli, ["rank", str(src), "--model", "mos", "--out", str(tmp_path / "e.csv")])
    assert res.exit_code == 2 and "rating table" in res.output


def test_rank_pwcmp_by_scene_uses_the_image_column(tmp_path, shared_data):
    # pwcmp users say "scene"; it is read into eyetest's `image` column.
    src = shared_data / "pairwise" / "tmo_pairwise_trials.csv"
    out_scene, out_image = tmp_path / "scene.csv", tmp_path / "image.csv"
    for by, out in (("scene", out_scene), ("image", out_image)):
        res = CliRunner().invoke(cli, ["rank", str(src), "--format", "pwcmp", "--by", by, "--out", str(out)])
        assert res.exit_code == 0, res.output
    a, b = pd.read_csv(out_scene), pd.read_csv(out_image)
    assert a["image"].nunique() == 5  # the five scenes of the experiment
    pd.testing.assert_frame_equal(a, b)
