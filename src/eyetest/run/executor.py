"""Run independent tasks in-process or on a local process pool.

Tasks are small picklable descriptions (file paths and names, never pixel
arrays); each worker reads its own images.  Tasks are sent in chunks so the
per-task overhead of the pool stays far below the cost of a task.  The
results are the same whatever the number of workers: the caller orders them.

On Linux the pool forks (workers inherit the imported metric modules and
loaded parameter files, so they start in milliseconds); elsewhere it spawns.
Workers keep torch (when a metric uses it) to one thread each.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator, Sequence


def available_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def resolve_workers(workers: int | None) -> int:
    """``None`` or 0 -> all available cores; otherwise the given positive number."""
    if workers is None or workers == 0:
        return available_cores()
    if workers < 0:
        raise ValueError(f"workers must be >= 0 (0 = all cores), got {workers}")
    return int(workers)


def _run_chunk(func: Callable[[Any], Any], chunk: Sequence[Any]) -> list[Any]:
    return [func(task) for task in chunk]


def chunk_size(n_tasks: int, workers: int) -> int:
    """About four chunks per worker (load balance), at most 16 tasks per chunk."""
    return max(1, min(16, n_tasks // (workers * 4)))


def _context():
    # Forking is fast and inherits the registry and loaded parameter files
    # (torch registers fork handlers for its thread pool, as DataLoader relies on).
    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


def _init_worker() -> None:
    # Ctrl-C reaches the whole process group: the parent stops the run (cancelling what is
    # queued) and reports it once; workers ignore it instead of each printing a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # One process per core: keep each worker's torch single-threaded (no oversubscription).
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def run_tasks(func: Callable[[Any], Any], tasks: Iterable[Any], *, workers: int = 1,
              on_done: Callable[[int], None] | None = None) -> Iterator[Any]:
    """Apply a module-level ``func`` to every task; yield results as they finish.

    ``workers == 1`` runs in this process (no pickling, easiest to debug).
    ``on_done(k)`` is called after every ``k`` finished tasks (progress bars).
    Exceptions raised by ``func`` propagate; ``func`` should turn expected
    failures into results instead.
    """
    tasks = list(tasks)
    workers = max(1, min(resolve_workers(workers), len(tasks)))
    if workers == 1:
        for task in tasks:
            result = func(task)
            if on_done:
                on_done(1)
            yield result
        return
    size = chunk_size(len(tasks), workers)
    chunks = [tasks[i:i + size] for i in range(0, len(tasks), size)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context(),
                             initializer=_init_worker) as pool:
        pending = {pool.submit(_run_chunk, func, chunk): len(chunk) for chunk in chunks}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    n = pending.pop(fut)
                    results = fut.result()
                    if on_done:
                        on_done(n)
                    yield from results
        finally:
            for fut in pending:
                fut.cancel()
