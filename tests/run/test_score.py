"""The scoring pipeline end to end (without the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eyetest import __version__
from eyetest.core.metrics.registry import get_metric, list_metrics
from eyetest.errors import DatasetError, EyetestError, UnknownNameError
from eyetest.io.dataset import discover
from eyetest.io.tables import read_table
from eyetest.run.cache import CacheWriteWarning, ScoreCache, sha256_file
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
    with pytest.raises(UnknownNameError,
                       match=r"unknown preset 'double'; known: matlab, sr-y-crop<N>$"):
        resolve_metrics(["tmean"], has_reference=True, preset="double")
    # every preset of the requested metrics, not only the first metric's
    known = sorted({"sr-y-crop<N>"} | {p for m in ("tmean", "tmad")
                                       for p in get_metric(m).presets if p != "sr-y"})
    with pytest.raises(UnknownNameError,
                       match=rf"unknown preset 'nope'; known: {', '.join(known)}$"):
        resolve_metrics(["tmean", "tmad"], has_reference=True, preset="nope")
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


def test_unwritable_cache_warns_once_and_keeps_scoring(toy_metrics, toy_dataset, tmp_path):
    root, _ = toy_dataset
    (tmp_path / "notadir").write_text("a file")
    cache = ScoreCache(tmp_path / "notadir" / "c")
    with pytest.warns(CacheWriteWarning) as caught:
        run = score_dataset(discover(root), metrics=["tmad", "tmean"], workers=1, cache=cache)
    assert len([w for w in caught if w.category is CacheWriteWarning]) == 1
    plain = score_dataset(discover(root), metrics=["tmad", "tmean"], workers=1)
    pd.testing.assert_frame_equal(run.table, plain.table)
    m = run.manifest["cache"]
    assert m["writes"] == 0 and str(tmp_path / "notadir") in m["write_error"]


def _rgba_and_palette_dataset(root):
    from PIL import Image

    rng = np.random.default_rng(5)
    ref = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    (root / "gt").mkdir(parents=True)
    (root / "methods/m").mkdir(parents=True)
    Image.fromarray(ref).quantize(16).save(root / "gt/x.png")  # palette reference
    rgba = np.dstack([ref, np.full(ref.shape[:2], 200, np.uint8)])
    Image.fromarray(rgba).save(root / "methods/m/x.png")  # semi-transparent output


def test_conversion_notes_restored_from_cache(toy_metrics, tmp_path):
    root = tmp_path / "ds"
    _rgba_and_palette_dataset(root)
    first = score_dataset(discover(root), metrics=["tmad", "tmean"], workers=1,
                          cache=ScoreCache(tmp_path / "c"))
    assert first.manifest["notes"] == {
        "gt/x.png": ["palette image converted to RGB"],
        "methods/m/x.png": ["alpha composited on white (alpha='composite')"]}
    cache = ScoreCache(tmp_path / "c")
    second = score_dataset(discover(root), metrics=["tmad", "tmean"], workers=1, cache=cache)
    assert cache.hits == 2 and second.manifest["counts"]["units_computed"] == 0
    assert second.manifest["notes"] == first.manifest["notes"]
    # an NR score alone depends on the output only: the reference's notes are not claimed
    nr = score_dataset(discover(root), metrics=["tmean"], workers=1,
                       cache=ScoreCache(tmp_path / "c"))
    assert nr.manifest["notes"] == {"methods/m/x.png": first.manifest["notes"]["methods/m/x.png"]}


def test_file_rewritten_between_hash_and_read_is_not_cached(toy_metrics, tmp_path, monkeypatch):
    """Cache key and pixels come from the same bytes: a file that changes after the
    driver hashed it is reported, and its new pixels are never cached under the old hash."""
    import eyetest.run.score as score_mod
    from PIL import Image

    ref = np.arange(60, dtype=np.uint8).reshape(6, 10)
    (tmp_path / "gt").mkdir()
    (tmp_path / "methods/m").mkdir(parents=True)
    Image.fromarray(ref).save(tmp_path / "gt/x.png")
    out = tmp_path / "methods/m/x.png"
    Image.fromarray(ref).save(out)  # version 1: an exact copy, tmad = 0
    v1 = out.read_bytes()
    real = score_mod.sha256_file

    def rewritten_after_hashing(path):
        digest = real(path)
        if str(path) == str(out):
            Image.fromarray(ref // 2).save(out)  # version 2
        return digest

    monkeypatch.setattr(score_mod, "sha256_file", rewritten_after_hashing)
    run = score_dataset(discover(tmp_path), metrics=["tmad"], workers=1,
                        cache=ScoreCache(tmp_path / "c"))
    assert run.table.empty
    (p,) = run.problems
    assert p.file == str(out) and "changed while the run was reading it" in p.reason
    monkeypatch.setattr(score_mod, "sha256_file", real)
    out.write_bytes(v1)
    cache = ScoreCache(tmp_path / "c")
    again = score_dataset(discover(tmp_path), metrics=["tmad"], workers=1, cache=cache)
    assert cache.hits == 0 and again.table.value.tolist() == [0.0]


def test_channel_count_mismatch_named(toy_metrics, tmp_path):
    from PIL import Image

    gray = np.full((4, 5), 100, np.uint8)
    (tmp_path / "gt").mkdir()
    (tmp_path / "methods/m").mkdir(parents=True)
    Image.fromarray(gray).save(tmp_path / "gt/x.png")
    Image.fromarray(np.dstack([gray] * 3)).save(tmp_path / "methods/m/x.png")
    run = score_dataset(discover(tmp_path), metrics=["tmad", "tmean"], workers=1)
    assert run.table.metric.tolist() == ["tmean"]
    (p,) = run.problems
    assert "channels differ: 3 here, 1 in reference" in p.reason
    assert "same size 4x5" in p.reason and "size 4x5x3 differs" not in p.reason


def test_float_image_outside_unit_range_not_scored(toy_metrics, tmp_path):
    import tifffile

    rng = np.random.default_rng(2)
    ref = rng.uniform(0, 1, (6, 7)).astype(np.float32)
    (tmp_path / "gt").mkdir()
    (tmp_path / "methods/good").mkdir(parents=True)
    (tmp_path / "methods/scaled").mkdir(parents=True)
    tifffile.imwrite(tmp_path / "gt/x.tif", ref)
    tifffile.imwrite(tmp_path / "methods/good/x.tif", ref)
    tifffile.imwrite(tmp_path / "methods/scaled/x.tif", ref * 255)  # saved on 0-255
    run = score_dataset(discover(tmp_path), metrics=["tmad", "tmean"], workers=1)
    t = run.table
    assert set(t.method) == {"good"}
    assert t[t.metric == "tmean"].value.iloc[0] == pytest.approx(ref.mean(dtype=np.float64))
    (p,) = run.problems
    assert p.file == str(tmp_path / "methods/scaled/x.tif")
    assert f"to {float((ref * 255).max()):.6g}" in p.reason


@pytest.mark.parametrize("value", ["0", "-5", "abc"])
def test_bad_max_pixels_env_fails_before_scoring(toy_metrics, toy_dataset, monkeypatch, value):
    root, _ = toy_dataset
    monkeypatch.setenv("EYETEST_MAX_PIXELS", value)
    with pytest.raises(EyetestError, match=rf"\$EYETEST_MAX_PIXELS .* got '{value}'"):
        score_dataset(discover(root), metrics=["tmad", "tmean"], workers=1)
    assert toy_metrics == {"tmad": 0, "tmean": 0}
