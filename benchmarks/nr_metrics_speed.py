"""Speed of the MATLAB-faithful no-reference metrics next to scikit-image SSIM.

Prints one JSON object: the best-of-``--repeats`` seconds per 512x384 RGB
image (astronaut rows 64:448) for eyetest NIQE, BRISQUE and PIQE under the
``matlab`` preset (MATLAB rgb2gray included), and for
``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=255)`` on the BT.601 Y channel of the
same image and a noisy copy, measured in the same process.  ``ratios`` is
skimage SSIM time / metric time (>= 1: the metric is at least as fast).
Minimum over repeats because a shared CPU only ever adds time.

Target (issue #2): NIQE ratio >= 1.

Usage: ``python benchmarks/nr_metrics_speed.py [--repeats 30]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def _best(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args(argv)

    from skimage import data
    from skimage.metrics import structural_similarity

    from eyetest.core.color import rgb_to_y_bt601
    from eyetest.run.compute import score_arrays

    image = np.ascontiguousarray(data.astronaut()[64:448])
    rng = np.random.default_rng(0)
    noisy = np.clip(np.round(image + rng.normal(0, 8, image.shape)), 0, 255).astype(np.uint8)
    y_ref = rgb_to_y_bt601(image, data_range=255)
    y_dist = rgb_to_y_bt601(noisy, data_range=255)

    def ssim():
        return structural_similarity(y_ref, y_dist, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, data_range=255.0)

    jobs = {"niqe": "niqe", "brisque": "brisque", "piqe": "piqe"}
    times, values = {}, {}
    # interleave the peer and the metrics so load changes hit both alike
    times["skimage_ssim_y"] = _best(ssim, args.repeats)
    for key, metric in jobs.items():
        def call(metric=metric):
            return score_arrays(metric, noisy, data_range=255, preset="matlab")
        times[key] = _best(call, args.repeats)
        values[key] = call()
    times["skimage_ssim_y"] = min(times["skimage_ssim_y"], _best(ssim, args.repeats))
    base = times["skimage_ssim_y"]
    out = {
        "benchmark": "nr_metrics_speed",
        "image": "astronaut rows 64:448 (384x512x3 uint8) + N(0, 8^2)",
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "best_s": times,
        "values": values,
        "ratios": {k: base / v for k, v in times.items() if k != "skimage_ssim_y"},
        "target_niqe_ratio_min": 1.0,
    }
    out["passed"] = out["ratios"]["niqe"] >= 1.0
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
