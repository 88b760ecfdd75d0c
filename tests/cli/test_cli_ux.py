"""Common mistakes on the command line: one ``error:`` line naming the file / option / value, exit 2,
before any work is done where that is possible; progress on long runs; nothing half-made left behind."""

from __future__ import annotations

import json
import socket
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from eyetest.cli.main import cli
from eyetest.cli.outputs import target_of, write_errors
from eyetest.errors import EyetestError
from eyetest.study.sample import write_sample_dataset, write_sample_spec

#: a folder in which nothing can be created on Linux (writes fail even as root)
UNWRITABLE = "/proc/eyetest-cli-test/out"
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")


def _assert_one_line_error(res, *names):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    for name in names:
        assert name in res.output, (name, res.output)
    assert ".tmp'" not in res.output          # the file asked for, not an atomic writer's temporary


def _forbid(monkeypatch, target: str, what: str):
    """Make ``target`` (module.attr) fail the test if it is called: the error must come before it."""
    def boom(*args, **kwargs):
        raise AssertionError(f"{what} ran although the command should have stopped before")

    monkeypatch.setattr(target, boom)


# -- write failures name the file asked for -------------------------------------------------------------


def test_target_of_maps_atomic_temporaries_back():
    assert target_of("/a/b/.results.csv.k2j_x9ab.tmp") == "/a/b/results.csv"
    assert target_of(".x.tmp.abcdefgh.tmp") == "x.tmp"
    assert target_of("/a/b/results.csv") == "/a/b/results.csv"
    assert target_of("/a/.hidden") == "/a/.hidden"
    assert target_of("/a/.tmp") == "/a/.tmp"


@linux_only
def test_write_errors_reports_the_target_of_a_failed_atomic_write():
    """The system names the temporary ``/proc/.table.csv.<random>.tmp``; the message names ``/proc/table.csv``."""
    from eyetest.io.tables import atomic_write_bytes

    with pytest.raises(OSError) as raw:
        atomic_write_bytes("/proc/table.csv", b"x")
    assert raw.value.filename != "/proc/table.csv" and raw.value.filename.endswith(".tmp")
    with pytest.raises(EyetestError, match=r"^cannot write '/proc/table\.csv': "):
        with write_errors():
            atomic_write_bytes("/proc/table.csv", b"x")
    with pytest.raises(EyetestError, match=r"^cannot write '/proc/no/such/t\.csv': .* \('/proc/no'\)$"):
        with write_errors("/proc/no/such/t.csv"):
            atomic_write_bytes("/proc/no/such/t.csv", b"x")


@linux_only
def test_rank_adoption_export_failed_writes_are_one_line_errors(tmp_path):
    judgments = tmp_path / "j.csv"
    judgments.write_text("rater,condition_a,condition_b,outcome\nr1,a,b,a\nr1,b,c,a\nr2,a,c,a\nr2,c,a,b\n")
    res = CliRunner().invoke(cli, ["rank", str(judgments), "--out", f"{UNWRITABLE}/scale.csv"])
    _assert_one_line_error(res, f"{UNWRITABLE}/scale.csv")
    papers = tmp_path / "papers.csv"
    papers.write_text("paper,year,psnr\nA,2017,yes\nB,2019,no\n")
    for flag, name in (("--out", "adoption.csv"), ("--plot", "adoption.png")):
        res = CliRunner().invoke(cli, ["adoption", str(papers), flag, f"{UNWRITABLE}/{name}"])
        _assert_one_line_error(res, f"{UNWRITABLE}/{name}")


@linux_only
def test_score_out_that_cannot_be_written(tmp_path, monkeypatch):
    ds = write_sample_dataset(tmp_path / "ds", images=1, mixed_formats=False)
    res = CliRunner().invoke(cli, ["score", str(ds), "--metrics", "psnr", "--workers", "1", "--no-cache",
                                   "-q", "--out", f"{UNWRITABLE}/results.csv"])
    _assert_one_line_error(res, f"{UNWRITABLE}/results.csv")
    # a folder that is a file is found before scoring
    (tmp_path / "afile").write_text("x")
    _forbid(monkeypatch, "eyetest.run.score.score_dataset", "scoring")
    res = CliRunner().invoke(cli, ["score", str(ds), "--metrics", "psnr", "--out", str(tmp_path / "afile" / "r.csv")])
    _assert_one_line_error(res, "afile", "is a file, not a folder")


def test_adoption_bad_out_extension_before_reading(tmp_path, monkeypatch):
    papers = tmp_path / "papers.csv"
    papers.write_text("paper,year,psnr\nA,2017,yes\n")
    _forbid(monkeypatch, "eyetest.io.adoption.compute_adoption", "the adoption table")
    res = CliRunner().invoke(cli, ["adoption", str(papers), "--out", str(tmp_path / "a.xlsx")])
    assert res.exit_code == 2 and "--out" in res.output and ".xlsx" in res.output, res.output
    assert not (tmp_path / "a.xlsx").exists()


# -- eyetest plan --------------------------------------------------------------------------------------

FAST = ["--conditions", "4", "--studies", "2", "--budget", "60", "--step", "10"]


def test_plan_help_shows_a_single_percent_sign():
    res = CliRunner().invoke(cli, ["plan", "--help"])
    assert res.exit_code == 0 and "95% CI" in res.output and "%%" not in res.output


def test_plan_plot_name_checked_before_simulating(tmp_path, monkeypatch):
    _forbid(monkeypatch, "eyetest.core.design.evaluate.plan_designs", "the simulation")
    res = CliRunner().invoke(cli, ["plan", *FAST, "--plot", str(tmp_path / "p.xyz")])
    _assert_one_line_error(res, "p.xyz", "--plot")
    (tmp_path / "afile").write_text("x")
    res = CliRunner().invoke(cli, ["plan", *FAST, "--plot", str(tmp_path / "afile" / "p.png")])
    _assert_one_line_error(res, "afile", "is a file, not a folder")


@linux_only
def test_plan_plot_write_failure_is_one_line(tmp_path):
    res = CliRunner().invoke(cli, ["plan", *FAST, "--designs", "random", "--plot", f"{UNWRITABLE}/p.png"])
    _assert_one_line_error(res, f"{UNWRITABLE}/p.png")


def test_plan_plot_into_a_new_folder(tmp_path):
    out = tmp_path / "new" / "deeper" / "accuracy.png"
    res = CliRunner().invoke(cli, ["plan", *FAST, "--designs", "random", "--plot", str(out)])
    assert res.exit_code == 0, res.output
    with Image.open(out) as im:                 # a real PNG, written whole
        assert im.format == "PNG" and im.size[0] > 100
    assert [p.name for p in out.parent.iterdir()] == ["accuracy.png"]   # no temporary left


def test_plan_progress_bar_gives_the_same_numbers(monkeypatch):
    import eyetest.cli.commands.plan as plan_cmd

    args = ["plan", *FAST, "--designs", "full,random,active", "--json"]
    plain = CliRunner().invoke(cli, args)
    assert plain.exit_code == 0, plain.output
    monkeypatch.setattr(plan_cmd, "_progress_enabled", lambda: True)
    shown = CliRunner().invoke(cli, args)
    assert shown.exit_code == 0, shown.output
    assert "simulating" in shown.stderr and "design" in shown.stderr
    assert "simulating" not in plain.stderr
    assert json.loads(shown.stdout) == json.loads(plain.stdout)


# -- eyetest report -------------------------------------------------------------------------------------


def _report_inputs(tmp_path):
    rows, judgments = [], []
    rng = np.random.default_rng(0)
    for image in ("i1", "i2", "i3"):
        for q, method in enumerate(("good", "bad")):
            rows.append((image, method, "psnr", 30.0 - 3 * q + rng.normal()))
            rows.append((image, method, "mymetric", 1.0 - q + rng.normal(0, 0.1)))
        for r in range(4):
            judgments.append((f"r{r}", f"{image}::good", f"{image}::bad", "a" if r else "tie"))
    pd.DataFrame(rows, columns=["image", "method", "metric", "value"]).to_csv(tmp_path / "scores.csv", index=False)
    pd.DataFrame(judgments, columns=["rater", "condition_a", "condition_b", "outcome"]).to_csv(
        tmp_path / "judgments.csv", index=False)
    return ["--scores", str(tmp_path / "scores.csv"), "--judgments", str(tmp_path / "judgments.csv"),
            "--n-boot", "20"]


def test_report_compare_with_an_unknown_method(tmp_path):
    args = _report_inputs(tmp_path)
    out = tmp_path / "r.html"
    res = CliRunner().invoke(cli, ["report", *args, "--compare", "good,gud", "--out", str(out)])
    _assert_one_line_error(res, "--compare", "'gud'", "bad, good")
    assert not out.exists()
    res = CliRunner().invoke(cli, ["report", *args, "--compare", "good,bad", "--out", str(out)])
    assert res.exit_code == 0, res.output


def test_report_direction_for_a_metric_no_table_has(tmp_path):
    args = _report_inputs(tmp_path)
    out = tmp_path / "r.html"
    res = CliRunner().invoke(cli, ["report", *args, "--higher-is-better", "mymetrc", "--out", str(out)])
    _assert_one_line_error(res, "--higher-is-better", "'mymetrc'", "mymetric, psnr")
    assert not out.exists()
    res = CliRunner().invoke(cli, ["report", *args, "--lower-is-better", "nope", "--out", str(out)])
    _assert_one_line_error(res, "--lower-is-better", "'nope'")
    res = CliRunner().invoke(cli, ["report", *args, "--higher-is-better", "mymetric", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "mymetric ↑" in (tmp_path / "r.md").read_text()


# -- eyetest study create / export ----------------------------------------------------------------------


def test_failed_study_create_leaves_no_new_database(tmp_path):
    write_sample_dataset(tmp_path / "data", images=2, mixed_formats=False)
    bad = write_sample_spec(tmp_path / "bad.toml", "data", methods=("alpha", "nosuch"))
    db = tmp_path / "new" / "study.sqlite"
    res = CliRunner().invoke(cli, ["study", "create", str(bad), "--db", str(db)])
    _assert_one_line_error(res, "'nosuch'")
    assert not db.exists() and not list(db.parent.glob("study.sqlite*"))
    # ... so the next command says there is no database instead of opening an empty one
    res = CliRunner().invoke(cli, ["study", "list", "--db", str(db)])
    assert res.exit_code == 2 and "no database" in res.output
    # an existing database keeps its studies when a later create fails
    good = write_sample_spec(tmp_path / "good.toml", "data")
    res = CliRunner().invoke(cli, ["study", "create", str(good), "--db", str(db)])
    assert res.exit_code == 0, res.output
    study = res.output.strip().splitlines()[-1]
    res = CliRunner().invoke(cli, ["study", "create", str(bad), "--db", str(db)])
    assert res.exit_code == 2 and db.exists()
    res = CliRunner().invoke(cli, ["study", "list", "--db", str(db), "--json"])
    assert [s["study"] for s in json.loads(res.output)["studies"]] == [study]


@linux_only
def test_study_export_write_failure(tmp_path):
    write_sample_dataset(tmp_path / "data", images=2, mixed_formats=False)
    spec = write_sample_spec(tmp_path / "s.toml", "data")
    db = tmp_path / "study.sqlite"
    study = CliRunner().invoke(cli, ["study", "create", str(spec), "--db", str(db)]).output.strip().splitlines()[-1]
    res = CliRunner().invoke(cli, ["study", "export", study, "--db", str(db), "--out", f"{UNWRITABLE}/j.csv"])
    _assert_one_line_error(res, f"{UNWRITABLE}/j.csv")


# -- eyetest serve / demo --serve: a port in use ---------------------------------------------------------


@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_serve_port_in_use(tmp_path, busy_port, monkeypatch):
    write_sample_dataset(tmp_path / "data", images=2, mixed_formats=False)
    spec = write_sample_spec(tmp_path / "s.toml", "data")
    db = tmp_path / "study.sqlite"
    assert CliRunner().invoke(cli, ["study", "create", str(spec), "--db", str(db)]).exit_code == 0
    _forbid(monkeypatch, "uvicorn.run", "the server")
    res = CliRunner().invoke(cli, ["serve", "--db", str(db), "--insecure-local", "--port", str(busy_port)])
    _assert_one_line_error(res, f"127.0.0.1:{busy_port}", "in use")
    assert "serving" not in res.output
    monkeypatch.setenv("EYETEST_ADMIN_TOKEN", "a-long-enough-admin-token")
    res = CliRunner().invoke(cli, ["serve", "--db", str(db), "--host", "no-such-host.invalid"])
    _assert_one_line_error(res, "no-such-host.invalid")


def test_demo_serve_checks_the_port_before_the_demo(tmp_path, busy_port, monkeypatch):
    _forbid(monkeypatch, "eyetest.run.pipeline.run_pipeline", "the demo")
    res = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "d"), "--serve", "--port", str(busy_port)])
    _assert_one_line_error(res, f"127.0.0.1:{busy_port}")
