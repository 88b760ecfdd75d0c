"""``eyetest serve`` refusals and ``eyetest study create|list|pause|resume|close|export``."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from eyetest.cli.main import cli
from eyetest.study.sample import write_sample_dataset, write_sample_spec
from eyetest.study.service import StudyService


@pytest.fixture
def spec(tmp_path):
    write_sample_dataset(tmp_path / "data", images=2)
    return write_sample_spec(tmp_path / "study.toml", "data")      # relative to the spec's folder


def test_serve_refuses_without_admin_token(monkeypatch):
    monkeypatch.delenv("EYETEST_ADMIN_TOKEN", raising=False)
    r = CliRunner().invoke(cli, ["serve", "--db", "x.sqlite"])
    assert r.exit_code == 2 and "EYETEST_ADMIN_TOKEN" in r.output
    r = CliRunner().invoke(cli, ["serve", "--insecure-local", "--host", "0.0.0.0"])
    assert r.exit_code == 2 and "loopback" in r.output
    monkeypatch.setenv("EYETEST_ADMIN_TOKEN", "short")
    r = CliRunner().invoke(cli, ["serve"])
    assert r.exit_code == 2 and "too short" in r.output
    monkeypatch.setenv("EYETEST_ADMIN_TOKEN", "a-long-enough-admin-token")
    r = CliRunner().invoke(cli, ["serve", "--rate-limits", "1,2,3"])
    assert r.exit_code == 2 and "--rate-limits" in r.output
    r = CliRunner().invoke(cli, ["serve", "--db", "mysql://root@localhost/x"])
    assert r.exit_code == 2 and "unsupported database URL" in r.output


def test_study_commands(spec, tmp_path, db_url):
    runner = CliRunner()
    r = runner.invoke(cli, ["study", "create", str(spec), "--db", db_url, "--json"])
    assert r.exit_code == 0, r.output
    study = json.loads(r.output.strip().splitlines()[-1])["study"]
    r = runner.invoke(cli, ["study", "create", str(spec), "--db", db_url])
    assert r.exit_code == 0 and r.output.strip() != study

    listed = json.loads(runner.invoke(cli, ["study", "list", "--db", db_url, "--json"]).output)["studies"]
    assert study in [s["study"] for s in listed] and len(listed) == 2

    # two judgments through the service, then the export holds exactly them
    from eyetest.store.engine import make_engine

    engine = make_engine(db_url)
    svc = StudyService(engine)
    token = svc.start_session(study, "cli-p")[0]["session"]
    ids = []
    for answer in ("A", "B"):
        trial = svc.next_trial(token)
        ids.append(svc.record_judgment(token, trial=trial["trial"], answers={"overall": answer},
                                       client_id=f"cid-{answer}-0000")[0]["client_id"])
    engine.dispose()
    out = tmp_path / "export.csv"
    r = runner.invoke(cli, ["study", "export", study, "--db", db_url, "--format", "csv", "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(x["client_id"], x["answer_overall"]) for x in rows] == [(ids[0], "A"), (ids[1], "B")]
    r = runner.invoke(cli, ["study", "export", study, "--db", db_url, "--format", "jsonl"])
    assert [json.loads(x)["client_id"] for x in r.output.splitlines()] == ids

    assert runner.invoke(cli, ["study", "pause", study, "--db", db_url]).output.strip() == f"{study}: paused"
    assert runner.invoke(cli, ["study", "resume", study, "--db", db_url]).output.strip() == f"{study}: open"
    assert runner.invoke(cli, ["study", "close", study, "--db", db_url]).output.strip() == f"{study}: closed"
    r = runner.invoke(cli, ["study", "pause", "nosuch", "--db", db_url])
    assert r.exit_code == 2 and "nosuch" in r.output


def test_study_create_reports_spec_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[study]\nname = "x"\nprotocol = "triangle"\n[stimuli]\ndataset = "d"\nmethods = ["a", "b"]\n')
    r = CliRunner().invoke(cli, ["study", "create", str(bad), "--db", str(tmp_path / "d.sqlite")])
    assert r.exit_code == 2 and "study.protocol" in r.output


def test_read_only_commands_open_existing_databases_only(tmp_path, monkeypatch):
    runner = CliRunner()
    typo = tmp_path / "no_such_dir" / "x.sqlite"
    for args in (["study", "list"], ["study", "export", "abc"], ["study", "close", "abc"]):
        r = runner.invoke(cli, [*args, "--db", str(typo)])
        assert r.exit_code == 2 and "no database" in r.output and str(typo) in r.output, r.output
    assert not (tmp_path / "no_such_dir").exists()
    r = runner.invoke(cli, ["study", "list", "--db", str(tmp_path)])
    assert r.exit_code == 2 and "is a folder" in r.output
    garbage = tmp_path / "study.toml"
    garbage.write_text('[study]\nname = "x"\n' * 100)
    r = runner.invoke(cli, ["study", "export", "abc", "--db", str(garbage)])
    assert r.exit_code == 2 and "not an eyetest database" in r.output and str(garbage) in r.output
    assert "Traceback" not in r.output
    monkeypatch.setenv("EYETEST_ADMIN_TOKEN", "a-long-enough-admin-token")
    import uvicorn

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: served.append(kw))    # never listen in this test
    for name in ("EYETEST_DB", "EYETEST_INSECURE_LOCAL", "EYETEST_RATE_LIMITS", "EYETEST_FRAME_ANCESTORS"):
        monkeypatch.setenv(name, "")                      # serve sets them for its workers: undone afterwards
    r = runner.invoke(cli, ["serve", "--db", str(tmp_path / "typo.sqlite")])
    assert r.exit_code == 2 and "no database" in r.output and not (tmp_path / "typo.sqlite").exists()
    assert runner.invoke(cli, ["serve", "--db", str(tmp_path / "new.sqlite"), "--create-db"]).exit_code == 0
    assert served and (tmp_path / "new.sqlite").exists()


@pytest.mark.parametrize("limits", ["100,200,10,0", "100,0.5,10,30", "nan,200,10,30", "100,200,10,inf", "-1,2,3,4"])
def test_serve_refuses_unusable_rate_limits(limits, monkeypatch, tmp_path):
    import uvicorn

    monkeypatch.setenv("EYETEST_ADMIN_TOKEN", "a-long-enough-admin-token")
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: None)                 # never listen in this test
    monkeypatch.setenv("EYETEST_RATE_LIMITS", "")
    r = CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "s.sqlite"), "--create-db", "--rate-limits", limits])
    assert r.exit_code == 2 and "--rate-limits" in r.output, r.output


def test_study_create_warns_about_skipped_images_and_short_sessions(tmp_path):
    data = write_sample_dataset(tmp_path / "data", images=3)
    (data / "methods" / "beta" / "img02.png").unlink()
    spec = write_sample_spec(tmp_path / "study.toml", "data", study="judgments_per_session = 60")
    r = CliRunner().invoke(cli, ["study", "create", str(spec), "--db", str(tmp_path / "db" / "s.sqlite"), "--json"])
    assert r.exit_code == 0, r.output
    assert "warning: image 'img02' skipped: method 'beta' has no output" in r.output
    assert "warning: study.judgments_per_session = 60" in r.output
    assert json.loads(r.output.strip().splitlines()[-1])["study"]
