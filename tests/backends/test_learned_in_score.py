"""LPIPS through `score_dataset` (the `eyetest score` path): offline from the
weights cache, and a named fix when the weights are missing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from eyetest.backends import weights  # noqa: E402

_p = Path(__file__).resolve().parents[1] / "core" / "nets" / "ckpt_helpers.py"
_spec = importlib.util.spec_from_file_location("ckpt_helpers", _p)
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)


@pytest.fixture
def dataset(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    (tmp_path / "ds" / "gt").mkdir(parents=True)
    (tmp_path / "ds" / "methods" / "noisy").mkdir(parents=True)
    pairs = {}
    for stem in ("0001", "0002"):
        ref = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
        dist = np.clip(ref.astype(int) + rng.integers(-30, 31, size=ref.shape), 0, 255).astype(np.uint8)
        Image.fromarray(ref).save(tmp_path / "ds" / "gt" / f"{stem}.png")
        Image.fromarray(dist).save(tmp_path / "ds" / "methods" / "noisy" / f"{stem}.png")
        pairs[stem] = (ref, dist)
    return tmp_path / "ds", pairs


@pytest.fixture
def random_weights(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.ENV_DIR, str(tmp_path / "wcache"))
    sds = {"alexnet": H.random_backbone("alex", seed=5), "lpips-alex": H.random_heads("alex", seed=6)}
    files = {}
    for name, sd in sds.items():
        p = tmp_path / f"{name}.pth"
        torch.save(sd, p)
        files[name] = weights.WeightFile(name, f"{name}-t.pth", "https://example.invalid/w",
                                         weights.sha256_file(p), None, "test")
    monkeypatch.setattr(weights, "WEIGHTS", files)
    return tmp_path, sds


def test_missing_weights_reported_by_file_with_fix(dataset, random_weights):
    from eyetest.io.dataset import discover
    from eyetest.run.score import score_dataset

    root, _ = dataset
    run = score_dataset(discover(root), metrics=["lpips"], workers=1)
    assert run.table.empty
    reasons = " | ".join(p.reason for p in run.problems)
    assert "eyetest weights fetch alexnet" in reasons and "eyetest weights import PATH" in reasons


def test_lpips_scores_offline_from_cache(dataset, random_weights):
    from eyetest.core.metrics.lpips import lpips
    from eyetest.io.dataset import discover
    from eyetest.run.score import score_dataset

    root, pairs = dataset
    tmp, sds = random_weights
    for name in sds:
        weights.import_file(tmp / f"{name}.pth")
    run = score_dataset(discover(root), metrics=["lpips"], workers=1)
    assert not run.problems
    got = dict(zip(run.table["image"], run.table["value"]))
    for stem, (ref, dist) in pairs.items():
        want = lpips(ref, dist, data_range=255, backbone=sds["alexnet"], heads=sds["lpips-alex"],
                     device="cpu")
        assert got[stem] == pytest.approx(want, rel=1e-5)
    hashes = run.manifest["metrics"]["lpips"]["resources"]
    assert hashes["weights:alexnet"] == weights.WEIGHTS["alexnet"].sha256
