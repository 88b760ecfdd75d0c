"""`eyetest plan` through the real click group (small, fast simulations)."""

from __future__ import annotations

import json
import math

from click.testing import CliRunner

from eyetest.cli.main import cli

SPEC = """
[study]
name = "tiny"
design = "active"
seed = 3
judgments_per_session = 20
[stimuli]
dataset = "data/none"
methods = ["a", "b", "c", "d", "e"]
images = ["i1", "i2"]
[quality]
gold_fraction = 0.1
repeat_fraction = 0.1
"""

FAST = ["--studies", "2", "--budget", "120", "--step", "10"]


def test_table_for_every_design():
    res = CliRunner().invoke(cli, ["plan", "--conditions", "6", "--ties", "0.2", *FAST])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert "6 conditions" in lines[0] and "15 comparable pairs" in lines[0]
    for design in ("full", "random", "swiss", "active"):
        assert any(line.startswith(design) for line in lines)


def test_json_and_plot(tmp_path):
    png = tmp_path / "acc.png"
    res = CliRunner().invoke(cli, ["plan", "--conditions", "6", "--designs", "random,active", "--json",
                                   "--plot", str(png), "--trials-per-rater", "30", *FAST])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert set(data["designs"]) == {"random", "active"} and data["pairs"] == 15
    for d in data["designs"].values():
        j = d["judgments_for_tau"]
        if j is not None:
            assert 10 <= j <= 120 and j % 10 == 0
            assert d["raters_for_tau"] == math.ceil(j / 30)
        assert 0.0 <= d["tie_share"] <= 0.5
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_spec_drives_the_simulation(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    res = CliRunner().invoke(cli, ["plan", "--spec", str(spec), "--designs", "full", "--json", *FAST])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["conditions"] == 10 and data["images"] == 2 and data["pairs"] == 20
    assert data["seed"] == 3 and data["trials_per_rater"] == 20
    # 20 % of each 20-trial session are control trials: 16 regular judgments per rater
    assert data["regular_judgments_per_rater"] == 16
    j = data["designs"]["full"]["judgments_for_tau"]
    if j is not None:
        assert data["designs"]["full"]["raters_for_tau"] == math.ceil(j / 16)


def test_active_utility_rows(tmp_path):
    res = CliRunner().invoke(cli, ["plan", "--conditions", "6", "--json", "--designs",
                                   "random,active,active:eig,active:misorder", *FAST])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert list(data["designs"]) == ["random", "active", "active:eig"]   # active:misorder is "active"
    assert any("utility 'misorder'" in n for n in data["notes"])
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC.replace('design = "active"', 'design = "active"\nactive_utility = "eig"'))
    res = CliRunner().invoke(cli, ["plan", "--spec", str(spec), "--designs", "active,active:eig", *FAST])
    assert res.exit_code == 0, res.output
    rows = [line.split()[0] for line in res.output.splitlines()[2:] if line and not line.startswith(("(", "note"))]
    assert rows == ["active"]                                  # the spec's sampler is already eig
    assert "utility 'eig' (the spec's)" in res.output


def test_errors_are_one_line(tmp_path):
    res = CliRunner().invoke(cli, ["plan", "--designs", "elo", *FAST])
    assert res.exit_code == 2 and "unknown design 'elo'" in res.output
    res = CliRunner().invoke(cli, ["plan", "--designs", "active:kl", *FAST])
    assert res.exit_code == 2 and "unknown active utility 'kl'" in res.output and "misorder" in res.output
    res = CliRunner().invoke(cli, ["plan", "--designs", "swiss:eig", *FAST])
    assert res.exit_code == 2 and "only 'active' takes a utility" in res.output
    spec = tmp_path / "r.toml"
    spec.write_text(SPEC.replace('design = "active"', 'protocol = "rating"'))
    res = CliRunner().invoke(cli, ["plan", "--spec", str(spec), *FAST])
    assert res.exit_code == 2 and "study.protocol" in res.output
