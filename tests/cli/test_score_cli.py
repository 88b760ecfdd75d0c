"""`eyetest score` through click's CliRunner: outputs, exit codes, problems, cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from eyetest.cli.main import cli
from eyetest.core.metrics import registry
from eyetest.core.metrics.registry import MetricSpec, register
from eyetest.io.tables import read_table


def _tmad(reference, distorted, *, data_range):
    return float(np.abs(reference.astype(float) - distorted.astype(float)).mean()) / data_range


def _tmean(image, *, data_range):
    return float(np.mean(image, dtype=np.float64)) / data_range


@pytest.fixture(autouse=True)
def toys(tmp_path, monkeypatch):
    monkeypatch.setenv("EYETEST_CACHE_DIR", str(tmp_path / "cache"))
    registry.list_metrics()
    specs = [MetricSpec("tmad", "FR", False, (0, 1), _tmad, {"matlab": {}}),
             MetricSpec("tmean", "NR", True, (0, 1), _tmean, {"matlab": {}})]
    for s in specs:
        register(s, replace=True)
    yield
    for s in specs:
        registry._REGISTRY.pop(s.name, None)


def _save(path: Path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


@pytest.fixture
def dataset(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "ds"
    arrays = {}
    for stem in ("p", "q", "r"):
        ref = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
        out = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
        _save(root / "gt" / f"{stem}.png", ref)
        _save(root / "methods/hat" / f"{stem}.png", out)
        arrays[stem] = (ref, out)
    (root / "methods.csv").write_text("method,family\nhat,gan\n")
    (root / "scenarios.csv").write_text("image,scenario\np,food\n")
    return root, arrays


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_score_writes_table_manifest_and_summary(dataset, tmp_path):
    root, arrays = dataset
    out = tmp_path / "res.csv"
    r = _run("score", root, "--metrics", "tmad,tmean", "--out", out, "--workers", 1)
    assert r.exit_code == 0, r.output
    t = read_table(out)
    assert len(t) == 6 and set(t.metric) == {"tmad", "tmean"}
    ref, dist = arrays["q"]
    v = t[(t.image == "q") & (t.metric == "tmad")].value.iloc[0]
    assert v == pytest.approx(np.abs(ref.astype(float) - dist).mean() / 255, abs=1e-15)
    assert t[t.image == "p"].scenario.iloc[0] == "food" and set(t.family) == {"gan"}
    m = json.loads((tmp_path / "res.csv.manifest.json").read_text())
    assert m["preset"] == "matlab" and set(m["metrics"]) == {"tmad", "tmean"}
    assert "tmad ↓" in r.output and "tmean ↑" in r.output
    assert f"results: {out}" in r.output


def test_rerun_hits_cache_with_identical_table(dataset, tmp_path):
    root, _ = dataset
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert _run("score", root, "--metrics", "tmad,tmean", "--out", a, "--workers", 1).exit_code == 0
    r = _run("score", root, "--metrics", "tmad,tmean", "--out", b, "--workers", 1)
    assert r.exit_code == 0 and "6 scores from cache" in r.output
    pd.testing.assert_frame_equal(read_table(a), read_table(b))
    m = json.loads((tmp_path / "b.json.manifest.json").read_text())
    assert m["cache"]["hits"] == 6 and m["counts"]["units_computed"] == 0
    r = _run("score", root, "--metrics", "tmad", "--out", b, "--no-cache", "--workers", 1)
    assert json.loads((tmp_path / "b.json.manifest.json").read_text())["cache"] is None


def test_problems_named_rest_completes_and_strict(dataset, tmp_path):
    root, _ = dataset
    (root / "methods/hat/q.png").write_bytes(b"not a png at all")
    _save(root / "methods/hat/r.png", np.zeros((5, 5, 3), np.uint8))
    (root / "methods/hat/p.png").unlink()
    out = tmp_path / "res.parquet"
    r = _run("score", root, "--metrics", "tmad,tmean", "--out", out, "--workers", 1)
    assert r.exit_code == 0, r.output
    assert "q.png" in r.output and "not an image" in r.output
    assert "r.png: size 5x5x3 differs from reference" in r.output
    assert "gt/p.png: method 'hat' has no output with stem 'p'" in r.output
    t = read_table(out)
    assert t[["image", "metric"]].apply(tuple, axis=1).tolist() == [("r", "tmean")]
    strict = _run("score", root, "--metrics", "tmad,tmean", "--out", out, "--strict",
                  "--workers", 1)
    assert strict.exit_code == 1 and "--strict: 3 problems" in strict.output
    assert out.exists()


def test_nothing_scored_exits_1_and_replaces_stale_results(dataset, tmp_path):
    root, _ = dataset
    out = tmp_path / "x.csv"
    assert _run("score", root, "--metrics", "tmad", "--out", out, "--workers", 1).exit_code == 0
    assert len(read_table(out)) == 3  # an earlier run's results
    for p in (root / "methods/hat").iterdir():
        p.write_bytes(b"junk")
    r = _run("score", root, "--metrics", "tmad", "--out", out, "--workers", 1)
    assert r.exit_code == 1 and "nothing could be scored" in r.output
    t = read_table(out)
    assert t.empty and list(t.columns)[:4] == ["image", "method", "metric", "value"]
    m = json.loads((tmp_path / "x.csv.manifest.json").read_text())
    assert m["counts"]["rows"] == 0
    assert sorted(p["file"] for p in m["problems"]) == [f"methods/hat/{s}.png" for s in "pqr"]


def test_unwritable_cache_warns_and_scores(dataset, tmp_path, monkeypatch):
    root, _ = dataset
    (tmp_path / "notadir").write_text("a file")
    monkeypatch.setenv("EYETEST_CACHE_DIR", str(tmp_path / "notadir" / "c"))
    out = tmp_path / "res.csv"
    r = _run("score", root, "--metrics", "tmad,tmean", "--out", out, "--workers", 1, "-q")
    assert r.exit_code == 0, r.output
    assert r.output.count("score cache") == 1 and "cannot be written" in r.output
    assert len(read_table(out)) == 6
    m = json.loads((tmp_path / "res.csv.manifest.json").read_text())
    assert "notadir" in m["cache"]["write_error"] and m["cache"]["writes"] == 0


@pytest.mark.parametrize("setup,args,message", [
    (lambda root: (root / "methods.csv").write_text("method,family\nhat,cnn\n"), [],
     "methods.csv, line 2: family 'cnn'"),
    (lambda root: None, ["--metrics", "nosuch"], "unknown metric 'nosuch'"),
    (lambda root: None, ["--preset", "bogus"], "unknown preset"),
])
def test_bad_input_exit_2_with_named_error(dataset, tmp_path, setup, args, message):
    root, _ = dataset
    setup(root)
    r = _run("score", root, "--metrics", "tmad", *args, "--out", tmp_path / "x.csv")
    assert r.exit_code == 2 and message in r.output


def test_usage_errors(dataset, tmp_path):
    root, _ = dataset
    assert _run("score").exit_code == 2
    assert _run("score", root, "--dist", root).exit_code == 2
    assert _run("score", tmp_path / "missing").exit_code == 2
    r = _run("score", root, "--out", tmp_path / "x.xlsx", "--metrics", "tmad")
    assert r.exit_code == 2 and ".xlsx" in r.output
    assert not (tmp_path / "cache").exists()  # refused before anything was scored
    for empty in (",", " , ", ""):
        r = _run("score", root, "--metrics", empty, "--out", tmp_path / "x.csv")
        assert r.exit_code == 2 and "no metric name" in r.output
    assert not (tmp_path / "x.csv").exists()


def test_ref_dist_form_and_nr_only(dataset, tmp_path):
    root, arrays = dataset
    out = tmp_path / "pair.csv"
    r = _run("score", "--ref", root / "gt", "--dist", root / "methods/hat", "--metrics",
             "tmad", "--out", out, "--workers", 2, "-q")
    assert r.exit_code == 0, r.output
    t = read_table(out)
    assert set(t.method) == {"hat"} and len(t) == 3
    r = _run("score", "--dist", root / "methods/hat", "--out", out, "-q", "--metrics", "tmean")
    assert r.exit_code == 0, r.output
    assert read_table(out).value.tolist() == pytest.approx(
        [arrays[s][1].mean() / 255 for s in ("p", "q", "r")])
    r = _run("score", "--dist", root / "methods/hat", "--out", out, "--metrics", "tmad")
    assert r.exit_code == 2 and "full-reference" in r.output


def test_several_dist_folders(dataset, tmp_path):
    root, _ = dataset
    other = tmp_path / "other" / "bicubic"
    other.mkdir(parents=True)
    for p in (root / "methods/hat").iterdir():
        (other / p.name).write_bytes(p.read_bytes())
    out = tmp_path / "two.csv"
    r = _run("score", "--ref", root / "gt", "--dist", root / "methods/hat", "--dist", other,
             "--metrics", "tmad", "--out", out, "-q", "--workers", 1)
    assert r.exit_code == 0, r.output
    t = read_table(out)
    hat = t[t.method == "hat"].set_index("image").value
    bic = t[t.method == "bicubic"].set_index("image").value
    pd.testing.assert_series_equal(hat, bic, check_names=False)  # same files, same scores
    same = tmp_path / "x" / "hat"
    same.mkdir(parents=True)
    r = _run("score", "--ref", root / "gt", "--dist", root / "methods/hat", "--dist", same,
             "--metrics", "tmad", "--out", out)
    assert r.exit_code == 2 and "several --dist folders are named 'hat'" in r.output


def test_import_merges_into_table_manifest_and_summary(dataset, tmp_path):
    import hashlib

    root, arrays = dataset
    imp = tmp_path / "musiq.csv"
    imp.write_text("image,method,metric,value\np,hat,musiq,60\nq,hat,musiq,70\nr,hat,musiq,80\n")
    out = tmp_path / "res.parquet"
    r = _run("score", root, "--metrics", "tmad,tmean", "--import", imp, "--out", out,
             "--workers", 1)
    assert r.exit_code == 0, r.output
    t = read_table(out)
    mus = t[t.metric == "musiq"].set_index("image")
    assert mus.value.to_dict() == {"p": 60.0, "q": 70.0, "r": 80.0}
    assert set(mus.source) == {"musiq.csv"} and set(t[t.metric != "musiq"].source) == {"eyetest"}
    assert mus.loc["p", "scenario"] == "food" and set(mus.family) == {"gan"}
    m = json.loads((tmp_path / "res.parquet.manifest.json").read_text())
    assert m["imported"] == [{"file": str(imp), "rows": 3, "metrics": ["musiq"],
                              "sha256": hashlib.sha256(imp.read_bytes()).hexdigest()}]
    # summary: mean of the imported column (70) next to the native ones; direction unknown
    header = next(line for line in r.output.splitlines() if line.startswith("method"))
    assert "musiq ?" in header and "70.00 [" in r.output
    assert "3 imported" in r.output


def test_import_conflicts_and_bad_file(dataset, tmp_path):
    root, arrays = dataset
    imp = tmp_path / "tm.csv"
    imp.write_text("image,method,metric,value\np,hat,tmean,0.5\n")
    out = tmp_path / "res.csv"
    r = _run("score", root, "--metrics", "tmean", "--import", imp, "--out", out, "--workers", 1)
    assert r.exit_code == 2 and "('p', 'hat', 'tmean') is also computed by eyetest" in r.output
    for policy, want in (("imported", 0.5), ("native", arrays["p"][1].mean() / 255)):
        r = _run("score", root, "--metrics", "tmean", "--import", imp, "--on-conflict", policy,
                 "--out", out, "--workers", 1, "-q")
        assert r.exit_code == 0, r.output
        t = read_table(out)
        assert t[t.image == "p"].value.iloc[0] == pytest.approx(want, abs=1e-15)
    bad = tmp_path / "bad.csv"
    bad.write_text("image,method,value\np,hat,1\n")
    r = _run("score", root, "--metrics", "tmean", "--import", bad, "--out", out)
    assert r.exit_code == 2 and "lacks column(s) metric" in r.output


def test_executor_options(dataset, tmp_path, monkeypatch):
    import sys

    root, _ = dataset
    r = _run("score", root, "--metrics", "tmean", "--address", "auto", "--out", tmp_path / "x.csv")
    assert r.exit_code == 2 and "--executor ray" in r.output
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    r = _run("score", root, "--metrics", "tmean", "--executor", "ray", "--out", tmp_path / "x.csv")
    assert r.exit_code == 2 and "pip install 'eyetest[ray]'" in r.output
    assert not (tmp_path / "x.csv").exists()
    r = _run("score", root, "--metrics", "tmean", "--executor", "spark", "--out", tmp_path / "x.csv")
    assert r.exit_code == 2


def test_pyiqa_metric_without_pyiqa_exit_2(dataset, tmp_path):
    from eyetest.backends import pyiqa

    if pyiqa.available():
        pytest.skip("pyiqa is installed; the missing-extra error cannot be seen")
    root, _ = dataset
    r = _run("score", root, "--metrics", "tmean,pyiqa:musiq", "--out", tmp_path / "x.csv")
    assert r.exit_code == 2 and "extra 'pyiqa'" in r.output


def test_manifest_locates_the_dataset_from_its_own_folder(dataset, tmp_path, monkeypatch):
    # scored from tmp_path with a relative path; opened later from another working folder
    root, _ = dataset
    monkeypatch.chdir(tmp_path)
    r = _run("score", "ds", "--metrics", "tmad", "--out", Path("res") / "sub" / "r.csv", "--workers", 1)
    assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "res/sub/r.csv.manifest.json").read_text())
    assert manifest["dataset"] == "ds"                                   # as given
    assert manifest["dataset_from_manifest"] == str(Path("..") / ".." / "ds")
    assert (tmp_path / "res/sub" / manifest["dataset_from_manifest"]).resolve() == root.resolve()
    from eyetest.report.build import collect

    monkeypatch.chdir(tmp_path / "res")                                  # "ds" is not here
    assert collect(scores=Path("sub") / "r.csv").dataset.resolve() == root.resolve()
