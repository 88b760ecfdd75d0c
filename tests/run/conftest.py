"""Fixtures for the scoring pipeline: two tiny metrics and a small dataset on disk.

The toy metrics have closed forms (mean absolute difference, mean value), so
the pipeline's output can be checked against numpy on the written arrays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from eyetest.core.metrics import registry
from eyetest.core.metrics.registry import MetricSpec, register

CALLS = {"tmad": 0, "tmean": 0}


def _tmad(reference, distorted, *, data_range, scale=1.0):
    CALLS["tmad"] += 1
    diff = np.abs(reference.astype(np.float64) - distorted.astype(np.float64))
    return scale * float(diff.mean()) / data_range


def _tmean(image, *, data_range):
    CALLS["tmean"] += 1
    return float(np.mean(image, dtype=np.float64)) / data_range


def _tboom(image, *, data_range):
    raise RuntimeError("kaboom")


TOY = [
    MetricSpec("tmad", "FR", False, (0.0, 1.0), _tmad,
               {"matlab": {"color": "as-is"}, "double": {"scale": 2.0}},
               description="mean |ref - dist| / data_range (test metric)"),
    MetricSpec("tmean", "NR", True, (0.0, 1.0), _tmean, {"matlab": {}},
               description="mean value / data_range (test metric)"),
    MetricSpec("tboom", "NR", True, (0.0, 1.0), _tboom, {"matlab": {}},
               requires=("extra:never",), description="always raises (test metric)"),
]


@pytest.fixture
def toy_metrics():
    registry.list_metrics()  # load the built-in metrics first
    for spec in TOY:
        register(spec, replace=True)
    for k in CALLS:
        CALLS[k] = 0
    yield CALLS
    for spec in TOY:
        registry._REGISTRY.pop(spec.name, None)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EYETEST_CACHE_DIR", str(tmp_path / "cache"))


def write_image(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array).save(path)
    return path


@pytest.fixture
def toy_dataset(tmp_path):
    """gt/ with 4 images; methods a (all good) and b (one missing, one corrupt,
    one of the wrong size); scenarios.csv and methods.csv."""
    rng = np.random.default_rng(7)
    root = tmp_path / "ds"
    arrays = {}
    for stem in ("img1", "img2", "img3", "img4"):
        ref = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
        write_image(root / "gt" / f"{stem}.png", ref)
        arrays[("gt", stem)] = ref
        for method in ("a", "b"):
            noisy = np.clip(ref.astype(int) + rng.integers(-20, 21, ref.shape), 0, 255)
            arrays[(method, stem)] = noisy.astype(np.uint8)
    for stem in ("img1", "img2", "img3", "img4"):
        write_image(root / "methods/a" / f"{stem}.png", arrays[("a", stem)])
    write_image(root / "methods/b/img1.png", arrays[("b", "img1")])
    (root / "methods/b/img2.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")  # corrupt
    write_image(root / "methods/b/img3.png", arrays[("b", "img3")][:, :8])  # wrong size
    # img4 missing for b
    (root / "scenarios.csv").write_text("image,scenario\nimg1,food\nimg1,text\nimg3,crowd\n")
    (root / "methods.csv").write_text("method,family\na,gan\nb,diffusion\n")
    return root, arrays
