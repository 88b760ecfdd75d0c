"""`eyetest plan` through the real click group (small, fast simulations)."""

from __future__ import annotations

import json
import math

import pytest
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
        stays = d["judgments_for_tau_stays"]
        if stays is not None:           # a checkpoint of the simulation, in full rater sessions
            assert 10 <= stays <= 120 and stays % 10 == 0 and d["raters_for_tau_stays"] == math.ceil(stays / 30)
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


def test_spec_without_images_counts_the_dataset(tmp_path):
    from eyetest.study.sample import write_sample_dataset

    write_sample_dataset(tmp_path / "ds", images=4, methods=("a", "b", "c"), mixed_formats=False)
    spec = tmp_path / "s.toml"
    # relative to the spec's folder, as `eyetest study create` reads it; no `images =`: every image
    spec.write_text(SPEC.replace('"data/none"', '"ds"').replace('["a", "b", "c", "d", "e"]', '["a", "b", "c"]')
                    .replace('images = ["i1", "i2"]\n', ""))
    res = CliRunner().invoke(cli, ["plan", "--spec", str(spec), "--designs", "random", "--json", *FAST])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["images"] == 4 and data["conditions"] == 12 and data["pairs"] == 12
    res = CliRunner().invoke(cli, ["plan", "--spec", str(spec), "--images", "2", "--designs", "random", "--json",
                                   *FAST])
    assert json.loads(res.output)["images"] == 2                 # --images still overrides
    spec.write_text(SPEC.replace('images = ["i1", "i2"]\n', ""))  # data/none does not exist
    res = CliRunner().invoke(cli, ["plan", "--spec", str(spec), "--designs", "random", *FAST])
    assert res.exit_code == 2 and "--images" in res.output and "data/none" in res.output


def test_blocks_none_counts_pairs_across_images(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC.replace('seed = 3', 'seed = 3\nblocks = "none"'))
    res = CliRunner().invoke(cli, ["plan", "--spec", str(spec), "--designs", "random", "--json", "--studies", "1",
                                   "--step", "40"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    # 2 images x 5 methods compared freely: C(10, 2) = 45 pairs, default budget 8 per pair
    assert data["pairs"] == 45 and data["budget"] == 360


@pytest.mark.parametrize("option,value", [
    ("--concurrent", "0"), ("--concurrent", "-3"), ("--spread", "-1"), ("--spread", "nan"),
    ("--random-share", "1.5"), ("--quit-share", "1"), ("--quit-share", "-0.1"), ("--trials-per-rater", "0"), ("--images", "0"), ("--studies", "0"),
    ("--budget", "0"), ("--step", "0"), ("--step", "500"), ("--seed", "-1"), ("--target-tau", "1.5"),
    ("--target-ci", "0"), ("--ties", "0.95"),
])
def test_bad_options_name_the_flag(option, value):
    res = CliRunner().invoke(cli, ["plan", "--conditions", "4", "--designs", "random", *FAST, option, value])
    assert res.exit_code == 2 and f"error: {option}: must be" in res.output, res.output


def test_small_studies_get_a_note():
    res = CliRunner().invoke(cli, ["plan", "--conditions", "4", "--designs", "random", "--json", *FAST])
    assert any("small study (6 comparable pairs)" in n for n in json.loads(res.output)["notes"])
    res = CliRunner().invoke(cli, ["plan", "--conditions", "8", "--designs", "random", "--json", *FAST])
    assert not any("small study" in n for n in json.loads(res.output)["notes"])


RATING_SPEC = (SPEC.replace('design = "active"', 'protocol = "rating"\nscale = "dcr5"')
               .replace('images = ["i1", "i2"]', 'images = ["i1", "i2"]\ncontext = "gt"')   # DCR shows the reference
               .replace("gold_fraction = 0.1\n", ""))


def test_rating_spec_prints_a_table_and_json(tmp_path):
    spec = tmp_path / "r.toml"
    spec.write_text(RATING_SPEC)
    res = CliRunner().invoke(cli, ["plan", "--spec", str(spec), *FAST])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert "10 conditions" in lines[0] and "rating scale dcr5" in lines[0]
    assert "ratings CI<=0.5 MOS" in lines[1] and lines[2].startswith("balanced blocks")
    res = CliRunner().invoke(cli, ["plan", "--spec", str(spec), "--json", *FAST])
    data = json.loads(res.output)
    assert data["protocol"] == "rating" and data["scale"] == "dcr5" and data["seed"] == 3
    assert data["target_ci"] == 0.5 and data["ci_unit"] == "MOS"
    # 10 % repeat trials out of 20: 18 regular ratings, capped at the 10 conditions as the server does
    assert data["regular_judgments_per_rater"] == 10
    row = data["designs"]["balanced blocks"]
    for key in ("tau", "tau_stays", "ci"):
        j = row[f"judgments_for_{key}"]
        if j is not None:
            assert 10 <= j <= 120 and j % 10 == 0 and row[f"raters_for_{key}"] == math.ceil(j / 10)
    again = CliRunner().invoke(cli, ["plan", "--spec", str(spec), "--json", *FAST])
    assert again.output == res.output                          # same seed, same plan


def test_rating_without_spec_and_its_ci_default(tmp_path):
    png = tmp_path / "r.png"
    res = CliRunner().invoke(cli, ["plan", "--protocol", "rating", "--scale", "continuous100", "--conditions", "8",
                                   "--json", "--plot", str(png), *FAST])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["target_ci"] == 10.0 and data["ci_unit"] == "points" and data["conditions"] == 8
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = CliRunner().invoke(cli, ["plan", "--protocol", "rating", "--conditions", "8", "--json",
                                   "--target-ci-mos", "0.8", *FAST])
    data = json.loads(res.output)
    assert data["scale"] == "acr5" and data["target_ci"] == 0.8


@pytest.mark.parametrize("args,option", [
    (["--protocol", "rating", "--target-ci-mos", "0"], "--target-ci-mos"),
    (["--protocol", "rating", "--target-ci-mos", "nan"], "--target-ci-mos"),
    (["--target-ci-mos", "0.5"], "--target-ci-mos"),               # pairwise: CI target is --target-ci (JOD)
    (["--scale", "acr5"], "--scale"),                              # scale without --protocol rating
    (["--protocol", "rating", "--step", "500"], "--step"),
    # pairwise-only options would be ignored by a rating plan: refused, not silently dropped
    (["--protocol", "rating", "--ties", "0.1"], "--ties"),
    (["--protocol", "rating", "--designs", "random"], "--designs"),
    (["--protocol", "rating", "--concurrent", "3"], "--concurrent"),
    (["--protocol", "rating", "--target-ci", "1.0"], "--target-ci"),
])
def test_bad_rating_options_name_the_flag(args, option):
    res = CliRunner().invoke(cli, ["plan", "--conditions", "4", *FAST[:4], *args])
    assert res.exit_code == 2 and f"error: {option}:" in res.output, res.output


def test_spec_and_protocol_or_scale_conflict(tmp_path):
    spec = tmp_path / "r.toml"
    spec.write_text(RATING_SPEC)
    for option, value in (("--protocol", "rating"), ("--scale", "acr5")):
        res = CliRunner().invoke(cli, ["plan", "--spec", str(spec), option, value, *FAST])
        assert res.exit_code == 2 and f"error: {option}:" in res.output, res.output


@pytest.mark.parametrize("protocol", ["pairwise", "rating"])
def test_raters_who_quit_cost_raters_by_the_mean_session_length(protocol):
    # a share q of raters leaves at a uniform trial 0..T-1: a session averages T (1 - q) + q (T - 1) / 2 trials
    args = ["plan", "--conditions", "6", "--json", "--studies", "2", "--trials-per-rater", "9", "--seed", "1"]
    args += ["--designs", "random"] if protocol == "pairwise" else ["--protocol", "rating"]
    res = CliRunner().invoke(cli, args + ["--quit-share", "0.5"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    (row,) = data["designs"].values()
    mean_session = 9 * 0.5 + 0.5 * 8 / 2 if protocol == "pairwise" else 6 * 0.5 + 0.5 * 5 / 2
    for j, r in (("judgments_for_tau", "raters_for_tau"), ("judgments_for_ci", "raters_for_ci")):
        if row[j] is not None:
            assert row[r] == math.ceil(row[j] / mean_session)
    assert any("50% of raters leave their session early" in n for n in data["notes"])
