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
