"""Score cache keys, atomic concurrent writes, and the executor."""

from __future__ import annotations

import hashlib
import math
import multiprocessing as mp

import pytest

from eyetest.run.cache import (
    CacheWriteWarning,
    ScoreCache,
    default_cache_dir,
    read_with_sha256,
    score_key,
    sha256_file,
)
from eyetest.run.executor import chunk_size, resolve_workers, run_tasks

BASE = dict(metric="psnr", metric_version="1", settings={"color": "as-is", "crop": 0},
            eyetest_version="0.1.0", reader={"alpha": "composite"}, resources={},
            distorted="aa", reference="bb")


@pytest.mark.parametrize("field,value", [
    ("metric", "ssim"), ("metric_version", "2"), ("settings", {"color": "y", "crop": 0}),
    ("eyetest_version", "0.2.0"), ("reader", {"alpha": "drop"}), ("resources", {"x": "1"}),
    ("distorted", "ab"), ("reference", None),
])
def test_key_depends_on_every_input(field, value):
    assert score_key(**BASE) != score_key(**dict(BASE, **{field: value}))


def test_key_independent_of_dict_order():
    a = score_key(**dict(BASE, settings={"color": "y", "crop": 4}))
    b = score_key(**dict(BASE, settings={"crop": 4, "color": "y"}))
    assert a == b and len(a) == 64


def test_sha256_file_matches_hashlib(tmp_path):
    data = bytes(range(256)) * 5000  # spans several read chunks
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("value", [0.25, -3.5, math.inf, -math.inf, 1 / 3])
def test_put_get_round_trip(tmp_path, value):
    cache = ScoreCache(tmp_path)
    key = score_key(**BASE)
    assert cache.get(key) is None and cache.misses == 1
    cache.put(key, value, metric="psnr")
    assert cache.get(key) == value and cache.hits == 1


def test_nan_round_trip_and_corrupt_entry_is_a_miss(tmp_path):
    cache = ScoreCache(tmp_path)
    key = score_key(**BASE)
    cache.put(key, math.nan)
    assert math.isnan(cache.get(key))
    cache._path(key).write_text("{not json")
    assert cache.get(key) is None


def test_read_with_sha256_matches_hashlib(tmp_path):
    data = bytes(range(256)) * 5000
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert read_with_sha256(path) == (data, hashlib.sha256(data).hexdigest())


def test_entry_keeps_meta(tmp_path):
    cache = ScoreCache(tmp_path)
    key = score_key(**BASE)
    cache.put(key, math.inf, metric="psnr", notes={"distorted": ["alpha composited"]})
    assert cache.entry(key) == {"value": math.inf, "metric": "psnr",
                                "notes": {"distorted": ["alpha composited"]}}
    assert cache.hits == 1


def test_unwritable_cache_warns_once_and_stops_writing(tmp_path):
    (tmp_path / "notadir").write_text("a file, not a folder")
    cache = ScoreCache(tmp_path / "notadir" / "c")
    with pytest.warns(CacheWriteWarning, match="notadir") as caught:
        for i in range(5):
            cache.put(hashlib.sha256(str(i).encode()).hexdigest(), float(i))
    assert len(caught) == 1
    assert cache.writes == 0 and "notadir" in cache.stats()["write_error"]
    assert cache.get(hashlib.sha256(b"0").hexdigest()) is None  # a miss, not an error


def test_default_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("EYETEST_CACHE_DIR", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("EYETEST_CACHE_DIR")
    assert "eyetest" in str(default_cache_dir())


def _writer(args):
    directory, worker = args
    cache = ScoreCache(directory)
    for i in range(200):
        key = hashlib.sha256(str(i % 50).encode()).hexdigest()
        cache.put(key, float(i % 50), worker=worker)
    return True


def test_concurrent_writers_leave_valid_entries(tmp_path):
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(3) as pool:
        assert all(pool.map(_writer, [(str(tmp_path), w) for w in range(3)]))
    cache = ScoreCache(tmp_path)
    for i in range(50):
        assert cache.get(hashlib.sha256(str(i).encode()).hexdigest()) == float(i)
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.name.startswith(".tmp")]
    assert leftovers == []


def _square(x):
    return x * x


def test_run_tasks_same_results_any_workers():
    tasks = list(range(37))
    expected = [t * t for t in tasks]
    done = []
    serial = list(run_tasks(_square, tasks, workers=1, on_done=done.append))
    assert serial == expected and sum(done) == 37
    done.clear()
    parallel = list(run_tasks(_square, tasks, workers=2, on_done=done.append))
    assert sorted(parallel) == expected and sum(done) == 37


def test_worker_resolution_and_chunks():
    assert resolve_workers(0) >= 1 and resolve_workers(None) == resolve_workers(0)
    assert resolve_workers(3) == 3
    with pytest.raises(ValueError, match="workers"):
        resolve_workers(-1)
    assert chunk_size(5, 2) == 1 and chunk_size(80, 2) == 10 and chunk_size(10_000, 2) == 16


def test_unwritable_cache_with_warn_false_only_records_the_error(tmp_path):
    """A caller that reports write_error itself asks for no warning (no warning filter needed)."""
    import warnings

    (tmp_path / "notadir").write_text("a file, not a folder")
    cache = ScoreCache(tmp_path / "notadir" / "c", warn=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(3):
            cache.put(hashlib.sha256(str(i).encode()).hexdigest(), float(i))
    assert caught == [] and cache.writes == 0 and "notadir" in cache.write_error
