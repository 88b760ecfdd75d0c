"""Benchmark: Bradley-Terry point fit + 1,000 bootstrap resamples, 100 conditions, 1,000,000 judgments.

Prints one JSON object.  Target (issue 3): point fit + 1,000 judgment-bootstrap
replicates <= 5 s on 2 cores.  The peer measured in the same run is choix's
``ilsr_pairwise`` (alpha=0) on the same counts (its input list is built
outside the timer), and the two estimates are compared.

Usage: python benchmarks/ranking.py [--conditions 100] [--judgments 1000000] [--boot 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

# The bootstrap parallelises over chunks of replicates itself; multi-threaded BLAS on
# 100x100 systems only adds contention (badly so on a loaded machine).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def simulate_counts(n_conditions, n_judgments, rng, *, tie=0.0):
    from eyetest.core.judgments.model import PairCounts

    s = rng.normal(0, 1, n_conditions)
    i, j = np.triu_indices(n_conditions, 1)
    p = len(i)
    pair = rng.integers(0, p, n_judgments)
    d = s[i[pair]] - s[j[pair]]
    z = np.exp(d / 2) + np.exp(-d / 2) + tie
    u = rng.random(n_judgments)
    cell = np.where(u < np.exp(d / 2) / z, 0, np.where(u < (np.exp(d / 2) + tie) / z, 2, 1))
    c = np.bincount(cell * p + pair, minlength=3 * p).reshape(3, p).astype(float)
    labels = tuple(f"c{k:03d}" for k in range(n_conditions))
    return PairCounts(labels, i, j, c[0], c[1], c[2]), s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conditions", type=int, default=100)
    ap.add_argument("--judgments", type=int, default=1_000_000)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import choix

    from eyetest.core.judgments.bradley_terry import fit_pairwise
    from eyetest.core.judgments.uncertainty import bootstrap

    rng = np.random.default_rng(args.seed)
    counts, truth = simulate_counts(args.conditions, args.judgments, rng)
    result = {"benchmark": "ranking", "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"), "conditions": args.conditions, "judgments": args.judgments,
              "bootstrap": args.boot, "cpu_count": os.cpu_count(), "python": platform.python_version(),
              "note": "shared machine: timings are noisy"}

    t0 = time.perf_counter()
    fit = fit_pairwise(counts)
    result["fit_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    boot = bootstrap(counts, fit, n_boot=args.boot, rng=np.random.default_rng(args.seed + 1))
    result["bootstrap_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    boot_p = bootstrap(counts, fit, n_boot=args.boot, rng=np.random.default_rng(args.seed + 1), scheme="poisson")
    result["bootstrap_poisson_s"] = time.perf_counter() - t0
    result["total_s"] = result["fit_s"] + result["bootstrap_s"]
    result["target_s"] = 5.0
    result["bootstrap_unconverged"] = boot.info["n_unconverged"] + boot_p.info["n_unconverged"]
    result["mean_bootstrap_se"] = float(boot.se.mean())
    result["mean_hessian_se"] = float(fit.se.mean())

    data = []
    for a, b, w, l, t in zip(counts.i, counts.j, counts.wins_i, counts.wins_j, counts.ties):
        data += [(int(a), int(b))] * int(w + t // 2) + [(int(b), int(a))] * int(l + t - t // 2)
    t0 = time.perf_counter()
    ref = choix.ilsr_pairwise(counts.n_conditions, data, alpha=0.0, tol=1e-10)
    result["choix_ilsr_fit_s"] = time.perf_counter() - t0
    result["max_abs_diff_vs_choix"] = float(np.abs((ref - ref.mean()) - fit.scores).max())
    result["max_abs_error_vs_truth"] = float(np.abs(fit.scores - (truth - truth.mean())).max())
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
