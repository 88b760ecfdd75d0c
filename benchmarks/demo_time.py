"""Wall time of ``eyetest demo`` (budget: 180 s on 2 cores), with the score-only interim demo as a peer.

Prints JSON: per-step seconds of :func:`eyetest.run.pipeline.run_pipeline`
(no score cache, so everything is computed), its total, the budget, and the
wall time of :func:`eyetest.run.demo.run_demo` (build + score only) measured
in the same run on the same machine.  Usage: ``python benchmarks/demo_time.py [--workers N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from eyetest.run.demo import run_demo
    from eyetest.run.pipeline import run_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        result = run_pipeline(os.path.join(tmp, "full"), workers=args.workers, cache=None)
        total = time.perf_counter() - t
        t = time.perf_counter()
        run_demo(os.path.join(tmp, "interim"), workers=args.workers, cache=None)
        peer = time.perf_counter() - t
    print(json.dumps({"benchmark": "demo_time", "workers": args.workers, "cpus": os.cpu_count(),
                      "demo_total_s": round(total, 2), "budget_s": 180,
                      "steps_s": {k: round(v, 2) for k, v in result.timings_s.items()},
                      "peer_interim_demo_s": round(peer, 2),
                      "note": "shared machine: other jobs make these numbers noisy"}, indent=2))


if __name__ == "__main__":
    main()
