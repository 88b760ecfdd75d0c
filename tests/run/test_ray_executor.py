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
