"""The interim demo: dataset layout, degradations, and the CLI end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from eyetest.cli.main import cli
from eyetest.io.dataset import discover, read_families, read_scenarios
from eyetest.io.tables import read_table
from eyetest.run.demo import DEMO_IMAGES, DEMO_METHODS, build_demo_dataset, restore, run_demo


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EYETEST_CACHE_DIR", str(tmp_path / "cache"))


def _load(path):
    return np.asarray(Image.open(path))


def test_dataset_layout_and_degradations(tmp_path):
    images = DEMO_IMAGES[4:6]  # page (gray text), brick: small and fast
    root = build_demo_dataset(tmp_path / "d", images=images)
    ds = discover(root)
    assert not ds.problems
    assert ds.methods == sorted(DEMO_METHODS)
    assert len(ds.items) == len(images) * len(DEMO_METHODS)
    assert read_families(root / "methods.csv") == DEMO_METHODS
    assert read_scenarios(root / "scenarios.csv") == {i.name: i.scenarios for i in images}
    for spec in images:
        gt = _load(root / "gt" / f"{spec.name}.png")
        lq = _load(root / "lq" / f"{spec.name}.png")
        assert gt.shape[0] % 4 == 0 and gt.shape[1] % 4 == 0
        assert lq.shape[:2] == (gt.shape[0] // 4, gt.shape[1] // 4)
        outs = {m: _load(root / "methods" / m / f"{spec.name}.png") for m in DEMO_METHODS}
        for out in outs.values():
            assert out.shape == gt.shape
        # the gamed method is bicubic plus sharpening: same mean, more high-frequency energy
        bic, usm = outs["bicubic"].astype(float), outs["bicubic-usm"].astype(float)
        assert abs(bic.mean() - usm.mean()) < 2.0
        lap = lambda a: np.abs(np.diff(a, 2, axis=0)).mean() + np.abs(np.diff(a, 2, axis=1)).mean()
        assert lap(usm) > 1.3 * lap(bic)
        # an x4 interpolation of the x4 bicubic reduction stays close to the reference
        assert np.abs(bic - gt).mean() < 40


def test_restore_rejects_unknown_method():
    with pytest.raises(ValueError, match="unknown demo method 'nearest'"):
        restore(np.zeros((4, 4), np.uint8), "nearest")


def test_run_demo_scores_every_item(tmp_path):
    run, table, manifest = run_demo(tmp_path / "demo", workers=1, images=DEMO_IMAGES[5:6])
    t = read_table(table)
    m = json.loads(manifest.read_text())
    assert set(t.method) == set(DEMO_METHODS) and set(t.image) == {"brick"}
    assert len(t) == len(DEMO_METHODS) * len(m["metrics"]) and not run.problems
    assert set(t.scenario) == {"complex texture"}


@pytest.mark.slow
def test_demo_cli_full(tmp_path):
    r = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "demo")])
    assert r.exit_code == 0, r.output
    t = read_table(tmp_path / "demo/results.csv")
    # `eyetest demo` now runs the full pipeline (eyetest.run.pipeline) on the benchmark images
    from eyetest.run.demo_bench import BENCH_IMAGES

    assert set(t.image) == {i.name for i in BENCH_IMAGES}
    assert "results:" in r.output and "bicubic-usm" in r.output


def test_demo_out_errors_are_one_line(tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("")
    r = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "afile" / "sub")])
    assert r.exit_code == 2 and "afile' is a file, not a folder" in r.output and "Traceback" not in r.output

    def full(out, **kw):
        raise OSError(28, "No space left on device", str(out) + "/results.csv")

    monkeypatch.setattr("eyetest.run.pipeline.run_pipeline", full)
    r = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "d")])
    assert r.exit_code == 2 and "No space left on device" in r.output and "results.csv" in r.output
    assert not isinstance(r.exception, OSError)


def test_demo_run_starts_by_removing_an_earlier_runs_outputs(tmp_path, monkeypatch):
    """Interrupted right after it starts, a rerun leaves no stale report or judgments to mix with its own."""
    from eyetest.run import pipeline

    out = tmp_path / "demo"
    out.mkdir()
    stale = ("report.html", "report.md", "report.tex", "card.json", "judgments.csv", "about.json",
             "results.csv", "audit.csv", "audit.gameability.csv")
    for name in stale + ("study.sqlite", "study.toml", "notes.txt"):
        (out / name).write_text("old")

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "build_benchmark", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_pipeline(out, workers=1)
    assert not [n for n in stale if (out / n).exists()]
    # the study a --serve run made (your own judgments) and unrelated files are kept
    assert all((out / n).read_text() == "old" for n in ("study.sqlite", "study.toml", "notes.txt"))
