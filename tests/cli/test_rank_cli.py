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


def test_rank_exclusion_file_keeps_leading_zeros(tmp_path):
    src = tmp_path / "lead.csv"
    src.write_text("rater,condition_a,condition_b,outcome\n007,A,B,a\n7,A,B,b\n0007,B,C,a\n1,B,C,a\n2,C,A,b\n")
    excl = tmp_path / "excl.csv"
    excl.write_text("rater,excluded\n007,True\n7,False\n")
    out = tmp_path / "lead.csv.out.csv"
    res = CliRunner().invoke(cli, ["rank", str(src), "--exclude-raters", str(excl), "--report", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert pd.read_csv(out)["n_judgments"].iloc[0] == 4  # only rater 007's judgment is gone
    raters = pd.read_csv(tmp_path / "lead.csv.out.raters.csv", dtype={"rater": str})
    assert sorted(raters["rater"]) == ["0007", "007", "1", "2", "7"]
    assert raters.set_index("rater")["applied"].to_dict() == {"0007": False, "007": True, "1": False, "2": False,
                                                              "7": False}


def test_rank_refuses_to_overwrite_its_input_and_checks_out_first(tmp_path):
    src = _sim(tmp_path / "j.csv", n=300)
    before = src.read_bytes()
    res = CliRunner().invoke(cli, ["rank", str(src), "--out", str(tmp_path / "." / "j.csv")])
    assert res.exit_code == 2 and "input file" in res.output and src.read_bytes() == before
    victim = _sim(tmp_path / "v.raters.csv", n=300)
    res = CliRunner().invoke(cli, ["rank", str(victim), "--report", "--out", str(tmp_path / "v.csv")])
    assert res.exit_code == 2 and "v.raters.csv" in res.output and not (tmp_path / "v.csv").exists()
    # the extension is checked before reading or fitting: the bad --by is never reached
    res = CliRunner().invoke(cli, ["rank", str(src), "--by", "nosuch", "--out", str(tmp_path / "s.txt")])
    assert res.exit_code == 2 and ".txt" in res.output and "nosuch" not in res.output


def test_rank_pwcmp_by_scene_with_auto_format_and_method_anchor(tmp_path, shared_data):
    src = shared_data / "pairwise" / "tmo_pairwise_trials.csv"
    out = tmp_path / "tmo.csv"
    res = CliRunner().invoke(cli, ["rank", str(src), "--by", "scene", "--model", "thurstone",
                                   "--anchor", "tmo_camera", "--out", str(out)])
    assert res.exit_code == 0, res.output
    t = pd.read_csv(out)
    anchors = t[t["condition"].str.endswith("::tmo_camera")]
    assert len(anchors) == 5 and (anchors["score"] == 0).all()
    res = CliRunner().invoke(cli, ["rank", str(src), "--anchor", "nosuch", "--out", str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "anchor 'nosuch'" in res.output


def test_rank_disconnected_component_centres_each_image(tmp_path):
    src = _sim(tmp_path / "j.csv", n=600)  # within-image design: 4 images never compared with each other
    out_c, out_p = tmp_path / "c.csv", tmp_path / "p.csv"
    for policy, out in (("component", out_c), ("prior", out_p)):
        res = CliRunner().invoke(cli, ["rank", str(src), "--disconnected", policy, "--out", str(out)])
        assert res.exit_code == 0, res.output
    c = pd.read_csv(out_c)
    assert c["component"].nunique() == 4
    assert c.groupby("component")["score"].sum().abs().max() < 1e-9
    # the prior shrinks: same order within an image, smaller spread than the per-component ML scale
    p = pd.read_csv(out_p).set_index("condition").loc[c["condition"]]
    assert p["score"].abs().sum() < c["score"].abs().sum()


def test_rank_auto_exclusion_prints_the_reasons(tmp_path, shared_data):
    out = tmp_path / "tmo.csv"
    res = CliRunner().invoke(cli, ["rank", str(shared_data / "pairwise" / "tmo_pairwise_trials.csv"),
                                   "--by", "image", "--exclude-raters", "auto", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "screening heuristics" in res.output and "bab: leave-one-out likelihood outlier" in res.output


def test_rank_accepts_every_format_the_reader_knows():
    from eyetest.cli.commands.rank import FORMATS
    from eyetest.io.judgments import FORMATS as READER_FORMATS

    assert FORMATS == ("auto",) + READER_FORMATS


def _answered_export(tmp_path, *, quality: str = "", elapsed_ms=None, seed: int = 3) -> list[dict]:
    """Export records of a 'full' study (2 images) whose three raters answered every trial at random."""
    import uuid

    from eyetest.store.engine import make_engine
    from eyetest.store.migrate import upgrade
    from eyetest.study import export
    from eyetest.study.importer import create_study
    from eyetest.study.sample import write_sample_dataset, write_sample_spec
    from eyetest.study.service import StudyService
    from eyetest.study.spec import load_spec

    engine = make_engine(str(tmp_path / "p.sqlite"))
    upgrade(engine)
    ds = write_sample_dataset(tmp_path / "ds", images=2)
    study = create_study(engine, load_spec(write_sample_spec(
        tmp_path / "p.toml", ds, study='design = "full"\njudgments_per_session = 6', quality=quality)))
    svc = StudyService(engine)
    rng = np.random.default_rng(seed)
    for participant in ("p1", "p2", "p3"):
        token = svc.start_session(study, participant)[0]["session"]
        while (trial := svc.next_trial(token)) is not None:
            svc.record_judgment(token, trial=trial["trial"], answers={"overall": str(rng.choice(["A", "B"]))},
                                client_id=uuid.uuid4().hex, elapsed_ms=elapsed_ms)
    with engine.connect() as conn:
        records = list(export.iter_records(conn, study))
    engine.dispose()
    return records


def test_rank_reads_a_study_export_given_as_format_study(tmp_path):
    """`eyetest rank export.csv --format study` scales the export as the reader's table does."""
    from eyetest.core.judgments.ranking import rank
    from eyetest.io.judgments import read_judgments
    from eyetest.study import export

    records = _answered_export(tmp_path)
    path = tmp_path / "export.csv"
    path.write_text("".join(export.to_csv(records, ["overall"])))
    out = tmp_path / "scale.csv"
    res = CliRunner().invoke(cli, ["rank", str(path), "--format", "study", "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out, dtype={"condition": str})
    expected, _ = rank(read_judgments(path, format="study"))
    assert sorted(got["condition"]) == sorted(expected["condition"])
    merged = got.merge(expected, on="condition", suffixes=("", "_ref"))
    np.testing.assert_allclose(merged["score"], merged["score_ref"], rtol=1e-9, atol=1e-9)


def test_rank_screens_a_study_export_with_the_studys_own_speed_rule(tmp_path):
    """The export carries quality.min_ms_per_trial; --min-ms overrides it.  Before, 1200 ms was used."""
    from eyetest.io.judgments import read_judgments
    from eyetest.study import export

    records = _answered_export(tmp_path, quality="min_ms_per_trial = 3000", elapsed_ms=2000, seed=4)
    assert {r["min_ms_per_trial"] for r in records} == {3000}
    assert {r["session_status"] for r in records} == {"finished"}
    for name, text in (("export.csv", "".join(export.to_csv(records, ["overall"]))),
                       ("export.jsonl", b"".join(export.to_jsonl(records)).decode())):
        path = tmp_path / name
        path.write_text(text)
        assert read_judgments(path).attrs["min_ms_per_trial"] == 3000.0

        def too_fast(*extra):
            out = tmp_path / "scale.csv"
            res = CliRunner().invoke(cli, ["rank", str(path), "--report", "--out", str(out), *extra])
            assert res.exit_code == 0, res.output
            return pd.read_csv(tmp_path / "scale.raters.csv")["too_fast_rate"].tolist()

        assert too_fast() == [1.0, 1.0, 1.0]                        # 2 s < the study's 3 s
        assert too_fast("--min-ms", "1000") == [0.0, 0.0, 0.0]
    # an export from before the column: the default rule (2 s is not faster than 1.2 s)
    old = pd.read_csv(tmp_path / "export.csv").drop(columns=["min_ms_per_trial", "session_status"])
    old.to_csv(tmp_path / "old.csv", index=False)
    assert "min_ms_per_trial" not in read_judgments(tmp_path / "old.csv").attrs
