"""The scoring pipeline end to end (without the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eyetest import __version__
from eyetest.core.metrics.registry import list_metrics
from eyetest.errors import DatasetError, UnknownNameError
from eyetest.io.dataset import discover
from eyetest.io.tables import read_table
from eyetest.run.cache import ScoreCache, sha256_file
from eyetest.run.score import (
    COLUMNS,
    default_metrics,
    manifest_path,
    resolve_metrics,
    score_dataset,
    write_outputs,
)


def _expected(arrays, method, stem):
    ref = arrays[("gt", stem)].astype(float)
    dist = arrays[(method, stem)].astype(float)
    return {"tmad": np.abs(ref - dist).mean() / 255, "tmean": dist.mean() / 255}


def test_values_problems_and_columns(toy_metrics, toy_dataset):
    root, arrays = toy_dataset
    run = score_dataset(discover(root), metrics=["tmad", "tmean"], workers=1)
    t = run.table
    assert list(t.columns) == COLUMNS
    got = {(r.method, r.image, r.metric): r.value for r in t.itertuples()}
    # b/img3 has the wrong size: its FR score is skipped, the NR score is kept.
    expected_keys = {(m, s, k) for m in "a" for s in ("img1", "img2", "img3", "img4")
                     for k in ("tmad", "tmean")} | {("b", "img1", "tmad"), ("b", "img1", "tmean"),
                                                    ("b", "img3", "tmean")}
    assert set(got) == expected_keys
    for (m, s, k), v in got.items():
        if (m, s) == ("b", "img3"):
            assert v == pytest.approx(arrays[("b", "img3")][:, :8].mean() / 255, abs=1e-15)
        else:
            assert v == pytest.approx(_expected(arrays, m, s)[k], abs=1e-15)
    reasons = {Path(p.file).name + ":" + (p.method or ""): p.reason for p in run.problems}
    assert "corrupt or truncated" in reasons["img2.png:b"] or "not an image" in reasons["img2.png:b"]
    assert "size 12x8x3 differs from reference" in reasons["img3.png:b"]
    assert "no output with stem 'img4'" in reasons["img4.png:b"]
    row = t[(t.method == "a") & (t.image == "img1")].iloc[0]
    assert row.scenario == "food;text" and row.family == "gan"
    assert t[(t.method == "a") & (t.image == "img2")].iloc[0].scenario == ""
    # rows sorted by method, image, requested metric order
    assert t[["method", "image"]].apply(tuple, axis=1).is_monotonic_increasing
    assert t.metric.tolist()[:2] == ["tmad", "tmean"]


def test_workers_give_identical_table(toy_metrics, toy_dataset):
    root, _ = toy_dataset
    one = score_dataset(discover(root), metrics=["tmad", "tmean"], workers=1)
    two = score_dataset(discover(root), metrics=["tmad", "tmean"], workers=2)
    pd.testing.assert_frame_equal(one.table, two.table)
    assert sorted(map(str, one.problems)) == sorted(map(str, two.problems))


def test_cache_rerun_identical_and_computes_nothing(toy_metrics, toy_dataset, tmp_path):
    root, _ = toy_dataset
    cache = ScoreCache(tmp_path / "c")
    first = score_dataset(discover(root), metrics=["tmad", "tmean"], workers=1, cache=cache)
    n_values = len(first.table)
    assert cache.writes == n_values and cache.hits == 0
    calls_before = dict(toy_metrics)
    cache2 = ScoreCache(tmp_path / "c")
    second = score_dataset(discover(root), metrics=["tmad", "tmean"], workers=1, cache=cache2)
    pd.testing.assert_frame_equal(first.table, second.table)
    assert cache2.hits == n_values
    # only the units that had problems (corrupt b/img2, mis-sized b/img3) are tried again,
    # and they report the same problems
    assert toy_metrics["tmad"] == calls_before["tmad"]
    assert second.manifest["counts"]["units_computed"] == 2
    assert sorted(map(str, first.problems)) == sorted(map(str, second.problems))


def test_cache_invalidated_by_pixels_and_settings(toy_metrics, toy_dataset, tmp_path):
    root, arrays = toy_dataset
    cache = ScoreCache(tmp_path / "c")
    score_dataset(discover(root), metrics=["tmad"], workers=1, cache=cache)
    from PIL import Image

    changed = arrays[("a", "img1")].copy()
    changed[0, 0, 0] ^= 1
    Image.fromarray(changed).save(root / "methods/a/img1.png")
    cache = ScoreCache(tmp_path / "c")
    run = score_dataset(discover(root), metrics=["tmad"], workers=1, cache=cache)
    assert cache.misses == 3  # the changed file + the two b files that never had a score
    cache = ScoreCache(tmp_path / "c")
    doubled = score_dataset(discover(root), metrics=["tmad"], preset="double", workers=1,
                            cache=cache)
    assert cache.hits == 0
    np.testing.assert_allclose(doubled.table.value, 2 * run.table.value, rtol=1e-14)


def test_manifest_contents(toy_metrics, toy_dataset, tmp_path):
    root, _ = toy_dataset
    run = score_dataset(discover(root), metrics=["tmad", "tmean"], preset="double", workers=1)
    out, mpath = write_outputs(run, tmp_path / "out/results.parquet")
    assert mpath == manifest_path(out) and mpath.name == "results.parquet.manifest.json"
    m = json.loads(mpath.read_text())
    assert m["versions"]["eyetest"] == __version__
    assert set(m["versions"]) >= {"python", "numpy", "scipy", "pillow"}
    assert m["preset"] == "double"
    assert m["metrics"]["tmad"]["preset"] == "double"
    assert m["metrics"]["tmean"]["preset"] == "matlab"  # does not define it: falls back
    assert m["metrics"]["tmad"]["settings"] == {"color": "as-is", "crop": 0, "scale": 2.0}
    assert m["inputs"]["gt/img1.png"] == sha256_file(root / "gt/img1.png")
    assert m["inputs"]["methods/a/img3.png"] == sha256_file(root / "methods/a/img3.png")
    assert {p["file"] for p in m["problems"]} >= {"methods/b/img2.png", "methods/b/img3.png"}
    assert m["timings_s"]["total"] > 0 and "tmad" in m["timings_s"]["per_metric_cpu"]
    assert m["counts"]["rows"] == len(run.table)
    pd.testing.assert_frame_equal(read_table(out), run.table)


def test_resource_hashes_in_manifest(toy_metrics, toy_dataset):
    specs = [s for s in list_metrics() if s.resources and s.kind == "NR"]
    if not specs:
        pytest.skip("no built-in metric with a parameter file is registered yet")
    from eyetest.io.resources import resource_sha256

    root, _ = toy_dataset
    run = score_dataset(discover(root), metrics=[specs[0].name], workers=1)
    res = run.manifest["metrics"][specs[0].name]["resources"]
    assert res == {r: resource_sha256(r) for r in specs[0].resources}


def test_metric_exception_becomes_problem(toy_metrics, toy_dataset):
    root, _ = toy_dataset
    run = score_dataset(discover(root), metrics=["tmean", "tboom"], workers=1)
    assert set(run.table.metric) == {"tmean"}
    assert any("tboom failed: RuntimeError: kaboom" in p.reason for p in run.problems)


def test_default_metrics_rules(toy_metrics):
    with_ref = {s.name for s in default_metrics(has_reference=True)}
    without = {s.name for s in default_metrics(has_reference=False)}
    assert {"tmad", "tmean"} <= with_ref and "tboom" not in with_ref  # needs an extra
    assert "tmean" in without and "tmad" not in without
    assert all(s.kind == "NR" for s in default_metrics(has_reference=False))


def test_resolve_metrics_errors(toy_metrics):
    with pytest.raises(DatasetError, match="'tmad' is full-reference"):
        resolve_metrics(["tmad"], has_reference=False, preset="matlab")
    with pytest.raises(UnknownNameError, match="nosuch"):
        resolve_metrics(["nosuch"], has_reference=True, preset="matlab")
    with pytest.raises(UnknownNameError, match="preset of metric 'tmean'"):
        resolve_metrics(["tmean"], has_reference=True, preset="double")
    assert len(resolve_metrics(["tmean", "tmad"], has_reference=True, preset="double")) == 2


def test_nr_only_dataset(toy_metrics, tmp_path):
    from PIL import Image

    arr = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    (tmp_path / "methods/m").mkdir(parents=True)
    Image.fromarray(arr).save(tmp_path / "methods/m/x.png")
    run = score_dataset(discover(tmp_path), metrics=["tmean"], workers=1)
    assert run.table.value.tolist() == [pytest.approx(arr.mean() / 255)]
    assert run.manifest["inputs"] == {"methods/m/x.png": sha256_file(tmp_path / "methods/m/x.png")}


def test_data_range_mismatch_is_a_problem(toy_metrics, tmp_path):
    from PIL import Image

    a8 = np.full((4, 5), 100, np.uint8)
    (tmp_path / "gt").mkdir()
    (tmp_path / "methods/m").mkdir(parents=True)
    Image.fromarray(a8).save(tmp_path / "gt/x.png")
    Image.fromarray(a8.astype(np.uint16) * 257).save(tmp_path / "methods/m/x.png")
    run = score_dataset(discover(tmp_path), metrics=["tmad", "tmean"], workers=1)
    assert run.table.metric.tolist() == ["tmean"]
    assert run.table.value.iloc[0] == pytest.approx(100 * 257 / 65535)
    assert "data range 65535 (16-bit) differs" in run.problems[0].reason


def test_progress_bar_goes_to_stderr(toy_metrics, toy_dataset, capsys):
    root, _ = toy_dataset
    run = score_dataset(discover(root), metrics=["tmean"], workers=1, progress=True)
    captured = capsys.readouterr()
    assert "scoring" in captured.err and captured.out == ""
    assert len(run.table) == 6  # a: 4 images; b: img1, img3 (img2 corrupt, img4 missing)


def test_weight_hashes_are_part_of_resources():
    from eyetest.backends.weights import WEIGHTS
    from eyetest.core.metrics.registry import MetricSpec
    from eyetest.run.score import _resource_hashes

    name = sorted(WEIGHTS)[0]
    spec = MetricSpec("tw", "NR", True, (0, 1), lambda x, **k: 0.0, {"matlab": {}},
                      extra={"weights": {"state": name}})
    assert _resource_hashes(spec) == {f"weights:{name}": WEIGHTS[name].sha256}
