"""Speed of ``eyetest audit``: 6 manipulations x 5 strengths x 4 classical metrics on 24 images.

Prints one JSON object:

* ``config``: images (crops of scikit-image's photographs, ``--size`` square,
  default 256), manipulations, strengths, metrics (PSNR, SSIM, NIQE, BRISQUE;
  any not registered yet is listed under ``missing``), scores computed.
* ``audit_wall_s``: wall time of :func:`eyetest.run.audit.run_audit` on all
  images with ``--workers`` processes (default 2), cache off.
* ``peer``: on a subset of ``--subset`` images, the same work done by a plain
  serial loop (manipulate, then :func:`eyetest.run.compute.score_arrays`),
  next to ``run_audit`` with one worker on the same subset:
  ``pipeline_overhead`` = audit / loop (1.0 = no overhead).  Also the serial
  seconds spent in each metric and in the manipulations.
* ``target_s`` (60, issue #6, on 2 cores) and ``passed``.

The machine this runs on may be shared: numbers are noisy, say so when you
report them.  Usage: ``python benchmarks/audit_speed.py [--images 24]
[--size 256] [--workers 2] [--subset 4] [--metrics psnr,ssim,niqe,brisque]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

MANIPULATIONS = ("usm", "oversharpen", "downup-alias", "overgen", "gaussian-blur", "jpeg")
METRICS = ("psnr", "ssim", "niqe", "brisque")
TARGET_S = 60.0


def _images(n: int, size: int) -> list[np.ndarray]:
    """``n`` RGB crops of ``size`` x ``size`` from scikit-image's colour / grey photographs."""
    from skimage import data

    names = ("astronaut", "coffee", "chelsea", "rocket", "camera", "brick", "grass", "gravel",
             "moon", "coins", "hubble_deep_field", "retina")
    out = []
    k = 0
    while len(out) < n:
        a = getattr(data, names[k % len(names)])()
        if a.ndim == 2:
            a = np.stack([a] * 3, axis=-1)
        h, w = a.shape[:2]
        s = min(size, h, w)
        # different crops of the same photograph on later rounds
        r = (k // len(names)) * 37
        y0, x0 = min(h - s, (h - s) // 2 + r), min(w - s, (w - s) // 2 + r)
        out.append(np.ascontiguousarray(a[y0:y0 + s, x0:x0 + s]))
        k += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--subset", type=int, default=4)
    ap.add_argument("--metrics", default=",".join(METRICS),
                    help="comma-separated metrics (default: psnr,ssim,niqe,brisque)")
    args = ap.parse_args()

    from eyetest.core.manipulate import get_manipulation
    from eyetest.core.metrics.registry import get_metric
    from eyetest.errors import UnknownNameError
    from eyetest.run.audit import AuditSource, manipulation_rng, resolve_plan, run_audit
    from eyetest.run.compute import score_arrays

    metrics, missing = [], []
    for m in [v.strip() for v in args.metrics.split(",") if v.strip()]:
        try:
            get_metric(m)
            metrics.append(m)
        except UnknownNameError:
            missing.append(m)
    plan = resolve_plan(MANIPULATIONS)
    images = _images(args.images, args.size)
    sources = [AuditSource(f"img{i:02d}", array=a, data_range=255.0) for i, a in enumerate(images)]

    # warm-up (imports, parameter files) outside the timings
    run_audit(sources[:1], metrics=metrics, plan=(("usm", (1.0,)),), workers=1)

    t = time.perf_counter()
    full = run_audit(sources, metrics=metrics, plan=plan, workers=args.workers)
    wall = time.perf_counter() - t

    sub = sources[: args.subset]
    t = time.perf_counter()
    run_audit(sub, metrics=metrics, plan=plan, workers=1)
    audit_sub = time.perf_counter() - t
    per_metric = {m: 0.0 for m in metrics}
    manip_s = 0.0
    t = time.perf_counter()
    for src in sub:
        x = src.array
        for m in metrics:
            t1 = time.perf_counter()
            score_arrays(m, x, x, data_range=255.0)
            per_metric[m] += time.perf_counter() - t1
        for name, grid in plan:
            f = get_manipulation(name)
            for s in grid:
                t1 = time.perf_counter()
                y = f(x, data_range=255.0, strength=s, rng=manipulation_rng(0, src.name, name, s))
                manip_s += time.perf_counter() - t1
                for m in metrics:
                    t1 = time.perf_counter()
                    score_arrays(m, y, x, data_range=255.0)
                    per_metric[m] += time.perf_counter() - t1
    loop_sub = time.perf_counter() - t

    print(json.dumps({
        "config": {"images": len(images), "size": [args.size, args.size, 3],
                   "manipulations": list(MANIPULATIONS), "strengths_per_manipulation": 5,
                   "metrics": metrics, "missing": missing, "scores": len(full.table),
                   "workers": args.workers, "cpu_count": os.cpu_count()},
        "audit_wall_s": round(wall, 3),
        "peer": {"subset_images": len(sub), "audit_workers1_s": round(audit_sub, 3),
                 "plain_loop_s": round(loop_sub, 3),
                 "pipeline_overhead": round(audit_sub / loop_sub, 3),
                 "loop_seconds_per_metric": {k: round(v, 3) for k, v in per_metric.items()},
                 "loop_seconds_manipulate": round(manip_s, 3)},
        "target_s": TARGET_S,
        "passed": bool(wall <= TARGET_S and not missing and len(metrics) >= 4),
        "note": "shared machine: timings are noisy",
    }, indent=2))


if __name__ == "__main__":
    main()
