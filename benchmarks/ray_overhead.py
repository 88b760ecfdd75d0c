"""Ray executor overhead against the local process pool, on one machine.

Scores the same 200 (image, method) units with ``eyetest.run.executor.run_tasks``
(process pool) and ``eyetest.run.ray_executor.run_tasks_ray`` (a local Ray
cluster with the same number of CPUs), checks the numbers are identical, and
prints JSON.  The same comparison is made through the wired command path,
``score_dataset(executor="local" | "ray")`` (what ``eyetest score --executor``
runs; no cache), on the same files laid out as a dataset.  Ray's cluster start is timed separately (``ray_init_s``): the
target (overhead <= 15%) is about the scoring run on a started cluster.

    python benchmarks/ray_overhead.py [--images 200] [--workers N] [--size 256] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def make_units(root: Path, n: int, size: int, metrics: tuple[str, ...]):
    from PIL import Image

    from eyetest.run.score import Unit

    rng = np.random.default_rng(0)
    units = []
    for i in range(n):
        yy, xx = np.mgrid[0:size, 0:size]
        base = (127 + 100 * np.sin(xx / (5 + i % 7)) * np.cos(yy / (7 + i % 5)))[..., None]
        base = np.clip(base + rng.normal(0, 10, size=(size, size, 3)), 0, 255).astype(np.uint8)
        dist = np.clip(base + rng.normal(0, 12, size=base.shape), 0, 255).astype(np.uint8)
        ref_p, dist_p = root / "gt" / f"{i:04d}.png", root / "methods" / "bench" / f"{i:04d}.png"
        ref_p.parent.mkdir(parents=True, exist_ok=True)
        dist_p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(base).save(ref_p)
        Image.fromarray(dist).save(dist_p)
        units.append(Unit(f"{i:04d}", "bench", str(dist_p), str(ref_p), metrics,
                          tuple("matlab" for _ in metrics), "composite", None))
    return units


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--metrics", default="piqe,brisque")
    args = ap.parse_args()

    import ray

    from eyetest.run.executor import run_tasks
    from eyetest.run.ray_executor import run_tasks_ray
    from eyetest.io.dataset import discover
    from eyetest.run.score import score_dataset, score_unit

    metrics = tuple(m.strip() for m in args.metrics.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        units = make_units(Path(tmp), args.images, args.size, metrics)

        def local():
            return {(r.image, r.method): r.values for r in
                    run_tasks(score_unit, units, workers=args.workers)}

        t = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
        init_s = time.perf_counter() - t

        def on_ray():
            return {(r.image, r.method): r.values for r in run_tasks_ray(score_unit, units)}

        def pipeline(executor):
            return score_dataset(discover(tmp), metrics=list(metrics), workers=args.workers,
                                 cache=None, executor=executor).table

        on_ray()  # warm the worker processes (imports), as a long-lived cluster would be
        local_t, ray_t, pipe_local_t, pipe_ray_t = [], [], [], []
        for _ in range(args.repeat):  # interleaved, so load changes hit both alike
            t = time.perf_counter()
            a = local()
            local_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            b = on_ray()
            ray_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            pa = pipeline("local")
            pipe_local_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            pb = pipeline("ray")
            pipe_ray_t.append(time.perf_counter() - t)
        ray.shutdown()

    identical = a == b
    pipe_identical = bool(pa.equals(pb))
    best_local, best_ray = min(local_t), min(ray_t)
    print(json.dumps({
        "benchmark": "ray_overhead",
        "images": args.images, "size": args.size, "metrics": list(metrics),
        "workers": args.workers, "repeat": args.repeat,
        "local_pool_s": local_t, "ray_s": ray_t,
        "best_local_pool_s": best_local, "best_ray_s": best_ray,
        "ray_overhead_pct": 100.0 * (best_ray / best_local - 1.0),
        "target_overhead_pct": 15.0,
        "ray_init_s": init_s,
        "identical_results": identical,
        "pipeline_local_s": pipe_local_t, "pipeline_ray_s": pipe_ray_t,
        "pipeline_ray_overhead_pct": 100.0 * (min(pipe_ray_t) / min(pipe_local_t) - 1.0),
        "pipeline_identical_tables": pipe_identical,
        "note": "one shared machine; wall times are noisy when other jobs run",
    }, indent=2))


if __name__ == "__main__":
    main()
