"""A small demo results folder shared by the report tests (built once per session)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_results(tmp_path_factory):
    """``run_pipeline`` on four images (the audit uses the audit images among them), light bootstraps."""
    from eyetest.run.demo_bench import BENCH_IMAGES
    from eyetest.run.pipeline import run_pipeline

    out = tmp_path_factory.mktemp("demo")
    images = [i for i in BENCH_IMAGES if i.name in ("astronaut", "brick", "page", "colorwheel")]
    result = run_pipeline(out, workers=1, images=images, n_boot=60)
    return result


@pytest.fixture
def small_study():
    """A function writing a small pairwise study into a folder: ``judgments.csv`` (simulated raters,
    method quality a > b > c), ``scores.csv`` with a metric that agrees with the raters (psnr) and one
    that contradicts them (niqe, lower is better yet higher for better methods), ``methods.csv`` and
    ``scenarios.csv``.  ``names`` renames the three methods (e.g. to hostile strings)."""
    import numpy as np
    import pandas as pd

    from eyetest.core.design.simulator import RaterSimulator, make_truth
    from eyetest.core.judgments.model import condition_id

    def make(folder, names=("a", "b", "c"), images=5, scenario_column=False):
        folder.mkdir(parents=True, exist_ok=True)
        imgs = [f"img{i}" for i in range(images)]
        tags = {i: ("faces" if k < 3 else "text") for k, i in enumerate(imgs)}
        rng = np.random.default_rng(3)
        truth = make_truth(images=imgs, methods=list(names), rng=rng,
                           method_quality=dict(zip(names, (1.0, 0.0, -1.0))), scenarios=tags)
        sim = RaterSimulator(truth, rng=rng)
        ca, cb, raters = [], [], []
        for r in range(6):
            for img in imgs:
                for x, y in ((0, 1), (1, 2), (0, 2)):
                    ca.append(condition_id(img, names[x]))
                    cb.append(condition_id(img, names[y]))
                    raters.append(f"r{r}")
        j = sim.judge_pairs(raters, list(range(len(ca))), ca, cb)
        if scenario_column:
            j["scenario"] = j["image"].map(tags)
        elif "scenario" in j.columns:
            j = j.drop(columns=["scenario"])
        j.to_csv(folder / "judgments.csv", index=False)
        q = truth.condition_quality()
        rows = []
        for img in imgs:
            for m in names:
                base = q[condition_id(img, m)]
                rows.append((img, m, "psnr", 30 + 2 * base))
                rows.append((img, m, "niqe", 5 + base + rng.normal(0, 0.1)))
        pd.DataFrame(rows, columns=["image", "method", "metric", "value"]).to_csv(folder / "scores.csv", index=False)
        pd.DataFrame({"method": list(names), "family": ["diffusion", "gan", "psnr-oriented"]}).to_csv(
            folder / "methods.csv", index=False)
        pd.DataFrame({"image": imgs, "scenario": [tags[i] for i in imgs]}).to_csv(folder / "scenarios.csv",
                                                                                   index=False)
        return folder

    return make
