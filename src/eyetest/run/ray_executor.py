"""Run metric work units on a Ray cluster (optional; ``pip install 'eyetest[ray]'``).

:func:`run_tasks_ray` has the contract of :func:`eyetest.run.executor.run_tasks`
(same tasks, same module-level function, results yielded as chunks finish),
so ``eyetest score --executor ray`` gives exactly the numbers of the local
executor: every unit still goes through
:func:`eyetest.run.compute.score_arrays`, only the place it runs changes.
Tasks are file paths, never pixels; each worker reads its own images.

Cluster
-------
``address=None`` starts a private local cluster (``num_cpus`` CPUs; all
cores by default) and shuts it down afterwards; ``"auto"`` or
``"ray://HOST:10001"`` / ``"HOST:6379"`` joins a running one.  On a
multi-node cluster every node needs the same eyetest version, the dataset
at the same path (a shared file system), and the weights cache
(``EYETEST_WEIGHTS_DIR`` on shared storage, or ``eyetest weights import`` on
each node); see ``docs/learned-metrics.md``.

GPUs: ``gpus_per_task`` (a number, or a function of a chunk of tasks such as
:func:`gpus_for_units`) is passed to Ray as ``num_gpus`` so units with torch
metrics are placed on GPU nodes and at most ``1 / gpus_per_task`` of them
share a GPU; on a cluster without GPUs the request is dropped (the metrics
then run on CPU).

Resuming: results are yielded as they arrive and ``score_dataset`` writes
each one to the score cache at once, so after a failure (a node lost, the
driver interrupted) running the same command again computes only what is
missing.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator, Sequence

from eyetest.errors import ResourceMissingError
from eyetest.run.executor import chunk_size


def _run_chunk(func: Callable[[Any], Any], chunk: Sequence[Any]) -> list[Any]:
    # one task per worker process at a time: keep torch to one thread (no oversubscription)
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    return [func(task) for task in chunk]


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ResourceMissingError(
            "the Ray executor needs Ray: `pip install 'eyetest[ray]'` (or `pip install ray`)"
        ) from exc
    return ray


def gpus_for_units(chunk: Sequence[Any], *, fraction: float = 0.25) -> float:
    """GPU share for a chunk of score units: ``fraction`` if any of its metrics
    needs torch (LPIPS, pyiqa, ...), else 0.  Use as ``gpus_per_task``."""
    from eyetest.core.metrics.registry import get_metric

    names = {m for unit in chunk for m in getattr(unit, "metrics", ())}
    return fraction if any("torch" in get_metric(n).requires for n in names) else 0.0


def run_tasks_ray(
    func: Callable[[Any], Any],
    tasks: Iterable[Any],
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    gpus_per_task: float | Callable[[Sequence[Any]], float] = 0.0,
    on_done: Callable[[int], None] | None = None,
    shutdown: bool | None = None,
) -> Iterator[Any]:
    """Apply ``func`` to every task on Ray; yield results as chunks finish.

    Parameters
    ----------
    func : module-level function (imported by name on the workers).
    tasks : picklable task descriptions.
    address : ``None`` = private local cluster; else a Ray address to join.
    num_cpus : CPUs of the local cluster (default: all cores); ignored when joining.
    gpus_per_task : GPUs Ray reserves per chunk, or a function of the chunk's tasks.
    on_done : called with the number of finished tasks after each chunk.
    shutdown : shut Ray down at the end (default: only if this call started it).
    """
    ray = _import_ray()
    tasks = list(tasks)
    if not tasks:
        return
    started = False
    if not ray.is_initialized():
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "logging_level": "ERROR"}
        if address is None:
            # local workers are children of this process: they inherit its
            # environment (EYETEST_WEIGHTS_DIR, EYETEST_CACHE_DIR) and sys.path
            kw["num_cpus"] = num_cpus or len(os.sched_getaffinity(0))
        else:
            kw["address"] = address
        ray.init(**kw)
        started = True
    try:
        resources = ray.cluster_resources()
        cpus = int(resources.get("CPU", 1)) or 1
        have_gpu = resources.get("GPU", 0) > 0
        size = chunk_size(len(tasks), cpus)
        chunks = [tasks[i:i + size] for i in range(0, len(tasks), size)]
        remote = ray.remote(_run_chunk)
        func_ref = ray.put(func)
        pending = {}
        for chunk in chunks:
            g = gpus_per_task(chunk) if callable(gpus_per_task) else float(gpus_per_task)
            g = g if have_gpu else 0.0  # a GPU request on a CPU-only cluster would never start
            ref = remote.options(num_cpus=1, num_gpus=g, max_retries=2).remote(func_ref, chunk)
            pending[ref] = len(chunk)
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    n = pending.pop(ref)
                    results = ray.get(ref)
                    if on_done:
                        on_done(n)
                    yield from results
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
    finally:
        if shutdown or (shutdown is None and started):
            ray.shutdown()
