"""Ray executor: a local 2-CPU cluster gives exactly the local executor's results."""

from __future__ import annotations

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'eyetest[ray]')")

from eyetest.run.executor import run_tasks  # noqa: E402
from eyetest.run.ray_executor import run_tasks_ray  # noqa: E402


def _square(x):
    return x * x


def _fails(x):
    raise ValueError(f"task {x} failed")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def _units(tmp_path):
    from PIL import Image

    from eyetest.run.score import Unit

    rng = np.random.default_rng(0)
    units = []
    for i in range(6):
        base = rng.integers(0, 256, size=(96, 112, 3), dtype=np.uint8)
        noisy = np.clip(base.astype(int) + rng.integers(-25, 26, size=base.shape), 0, 255)
        ref, dist = tmp_path / f"r{i}.png", tmp_path / f"d{i}.png"
        Image.fromarray(base).save(ref)
        Image.fromarray(noisy.astype(np.uint8)).save(dist)
        units.append(Unit(f"{i:04d}", "m", str(dist), str(ref), ("piqe", "brisque"),
                          ("matlab", "matlab"), "composite", None))
    return units


def test_score_units_identical_to_local_executor(cluster, tmp_path):
    from eyetest.run.score import score_unit

    units = _units(tmp_path)
    local = {(r.image, r.method): r for r in run_tasks(score_unit, units, workers=1)}
    seen = []
    remote = {(r.image, r.method): r
              for r in run_tasks_ray(score_unit, units, on_done=seen.append)}
    assert sum(seen) == len(units) and set(remote) == set(local)
    for key, r in local.items():
        assert r.values and not r.problems
        assert remote[key].values == r.values  # bit-identical numbers
        assert remote[key].problems == r.problems


def test_order_independent_and_errors_propagate(cluster):
    got = sorted(run_tasks_ray(_square, range(50)))
    assert got == [x * x for x in range(50)]
    with pytest.raises(Exception, match="task 0 failed"):
        list(run_tasks_ray(_fails, [0]))
    assert ray.is_initialized()  # a cluster this call did not start is left running


def test_gpu_request_per_chunk_and_cpu_only_fallback(cluster, tmp_path):
    from eyetest.run.ray_executor import gpus_for_units
    from eyetest.run.score import Unit

    u_cpu = Unit("a", "m", "x.png", None, ("piqe",), ("matlab",), "composite", None)
    u_gpu = Unit("a", "m", "x.png", "r.png", ("piqe", "lpips"), ("matlab", "matlab"), "composite", None)
    assert gpus_for_units([u_cpu]) == 0.0
    assert gpus_for_units([u_cpu, u_gpu], fraction=0.5) == 0.5
    # this cluster has no GPU: a GPU request must not block the tasks forever
    assert sorted(run_tasks_ray(_square, range(4), gpus_per_task=0.5)) == [0, 1, 4, 9]


# ------------------------------------------------- through score_dataset / eyetest score


@pytest.fixture
def small_dataset(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(3)
    root = tmp_path / "ds"
    for d in ("gt", "methods/noisy", "methods/blocky"):
        (root / d).mkdir(parents=True)
    for i in range(5):
        base = rng.integers(0, 256, size=(64, 72, 3), dtype=np.uint8)
        Image.fromarray(base).save(root / "gt" / f"{i:02d}.png")
        noisy = np.clip(base.astype(int) + rng.integers(-25, 26, size=base.shape), 0, 255)
        Image.fromarray(noisy.astype(np.uint8)).save(root / "methods/noisy" / f"{i:02d}.png")
        blocky = np.repeat(np.repeat(base[::4, ::4], 4, axis=0), 4, axis=1)[:64, :72]
        Image.fromarray(blocky).save(root / "methods/blocky" / f"{i:02d}.png")
    (root / "methods/blocky/04.png").write_bytes(b"junk")  # a problem, reported either way
    return root


METRICS = ["psnr", "ssim", "piqe"]


def test_score_dataset_on_ray_identical_to_local(cluster, small_dataset):
    import pandas as pd

    from eyetest.io.dataset import discover
    from eyetest.run.score import score_dataset

    local = score_dataset(discover(small_dataset), metrics=METRICS, workers=1)
    on_ray = score_dataset(discover(small_dataset), metrics=METRICS, executor="ray")
    assert len(local.table) == 27  # 10 outputs x 3 metrics, less the unreadable one
    pd.testing.assert_frame_equal(on_ray.table, local.table)  # bit-identical values
    assert sorted(map(str, on_ray.problems)) == sorted(map(str, local.problems))
    assert on_ray.manifest["executor"] == {"kind": "ray", "address": None}
    assert ray.is_initialized()  # the cluster it joined is left running


def test_ray_run_resumes_through_cache_after_failure(cluster, small_dataset, tmp_path,
                                                    monkeypatch):
    import pandas as pd

    import eyetest.run.score as score_mod
    from eyetest.io.dataset import discover
    from eyetest.run.cache import ScoreCache

    real = score_mod.run_tasks_ray
    delivered = []

    def driver_dies_after_three(func, tasks, **kw):
        for k, res in enumerate(real(func, tasks, **kw)):
            if k == 3:
                raise RuntimeError("driver interrupted")
            delivered.append(res)
            yield res

    monkeypatch.setattr(score_mod, "run_tasks_ray", driver_dies_after_three)
    with pytest.raises(RuntimeError, match="driver interrupted"):
        score_mod.score_dataset(discover(small_dataset), metrics=METRICS, executor="ray",
                                cache=ScoreCache(tmp_path / "c"))
    monkeypatch.setattr(score_mod, "run_tasks_ray", real)
    cache = ScoreCache(tmp_path / "c")
    run = score_mod.score_dataset(discover(small_dataset), metrics=METRICS, executor="ray",
                                  cache=cache)
    full = score_mod.score_dataset(discover(small_dataset), metrics=METRICS, workers=1)
    pd.testing.assert_frame_equal(run.table, full.table)
    # what the interrupted run delivered came from the cache; only the rest was computed
    # (Ray's completion order varies; a unit with a problem is retried on every run)
    assert len(delivered) == 3
    complete = sum(1 for r in delivered if not r.problems)
    assert cache.hits == sum(len(r.values) for r in delivered) > 0
    assert (run.manifest["counts"]["units_computed"]
            == full.manifest["counts"]["units_computed"] - complete)


def test_cli_executor_ray_matches_local(cluster, small_dataset, tmp_path):
    import json

    import pandas as pd
    from click.testing import CliRunner

    from eyetest.cli.main import cli
    from eyetest.io.tables import read_table

    runner = CliRunner()
    args = ["score", str(small_dataset), "--metrics", ",".join(METRICS), "--no-cache", "-q"]
    a = runner.invoke(cli, args + ["--out", str(tmp_path / "local.csv"), "--workers", "1"])
    b = runner.invoke(cli, args + ["--out", str(tmp_path / "ray.csv"), "--executor", "ray"])
    assert a.exit_code == 0 and b.exit_code == 0, (a.output, b.output)
    pd.testing.assert_frame_equal(read_table(tmp_path / "ray.csv"),
                                  read_table(tmp_path / "local.csv"))
    m = json.loads((tmp_path / "ray.csv.manifest.json").read_text())
    assert m["executor"]["kind"] == "ray"
