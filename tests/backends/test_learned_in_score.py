"""LPIPS through `score_dataset` (the `eyetest score` path): offline from the
weights cache, and a named fix when the weights are missing."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
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


# ---------------------------------------------------------------- missing weights


def _cli(*args):
    from click.testing import CliRunner

    from eyetest.cli.main import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def test_missing_lpips_weights_named_once_and_other_metrics_scored(dataset, random_weights,
                                                                   tmp_path, monkeypatch):
    from skimage.metrics import peak_signal_noise_ratio

    from eyetest.io.dataset import discover
    from eyetest.run.score import score_dataset

    monkeypatch.setenv("EYETEST_CACHE_DIR", str(tmp_path / "scache"))
    root, pairs = dataset
    run = score_dataset(discover(root), metrics=["lpips", "psnr"], workers=1)
    # psnr is still scored, and equals scikit-image's PSNR
    assert set(run.table.metric) == {"psnr"}
    got = dict(zip(run.table["image"], run.table["value"]))
    for stem, (ref, dist) in pairs.items():
        assert got[stem] == pytest.approx(peak_signal_noise_ratio(ref, dist, data_range=255),
                                          rel=1e-12)
    # one problem per missing weight file (not one per image), naming file, hash and fixes
    assert len(run.problems) == 2
    for name in ("alexnet", "lpips-alex"):
        wf = weights.WEIGHTS[name]
        (p,) = [p for p in run.problems if p.file == str(weights.weight_path(name))]
        assert wf.filename in p.reason and wf.sha256 in p.reason
        assert f"eyetest weights fetch {name}" in p.reason
        assert "eyetest weights import PATH" in p.reason
    assert "lpips" in run.manifest["skipped_metrics"] and "lpips" not in run.manifest["metrics"]

    out = tmp_path / "r.csv"
    res = _cli("score", root, "--metrics", "lpips,psnr", "--out", out, "--workers", 1)
    assert res.exit_code == 0, res.output  # something was scored: exit 0 (docs/scoring.md)
    assert "eyetest weights fetch alexnet" in res.output
    assert weights.WEIGHTS["alexnet"].sha256 in res.output
    assert "psnr" in res.output and out.exists()
    res = _cli("score", root, "--metrics", "lpips,psnr", "--out", out, "--strict")
    assert res.exit_code == 1  # --strict: a problem occurred
    res = _cli("score", root, "--metrics", "lpips", "--out", tmp_path / "n.csv")
    assert res.exit_code == 1 and "nothing could be scored" in res.output


# ---------------------------------------------------------------- FID / KID


@pytest.fixture
def inception_weights(tmp_path, monkeypatch):
    """Random weights in the pt_inception key layout, imported into a private cache."""
    monkeypatch.setenv(weights.ENV_DIR, str(tmp_path / "wcache"))
    monkeypatch.setenv("EYETEST_CACHE_DIR", str(tmp_path / "scache"))
    sd = H.random_inception(seed=3)
    p = tmp_path / "inception.pth"
    torch.save(sd, p)
    wf = weights.WeightFile("pt-inception", "pt_inception-test.pth", "https://example.invalid/i",
                            weights.sha256_file(p), None, "test")
    monkeypatch.setattr(weights, "WEIGHTS", {"pt-inception": wf})
    weights.import_file(p)
    return sd


def _set_dataset(root, stems, size, methods, rng):
    from PIL import Image

    refs = {}
    (root / "gt").mkdir(parents=True)
    for stem in stems:
        refs[stem] = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        Image.fromarray(refs[stem]).save(root / "gt" / f"{stem}.png")
    outs = {}
    for method, (kind, keep) in methods.items():
        (root / "methods" / method).mkdir(parents=True)
        for stem in keep:
            if kind == "copy":
                arr = refs[stem]
            else:
                arr = np.clip(refs[stem].astype(int) + rng.integers(-40, 41, refs[stem].shape),
                              0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / "methods" / method / f"{stem}.png")
            outs[(method, stem)] = arr
    return refs, outs


def test_fid_kid_from_score_cli_one_row_per_method_cached_with_warning(inception_weights,
                                                                       tmp_path):
    from eyetest.io.tables import read_table

    rng = np.random.default_rng(1)
    root = tmp_path / "ds"
    _set_dataset(root, ("a", "b", "c"), 32, {"copy": ("copy", "abc"), "noisy": ("noisy", "abc")},
                 rng)
    (root / "methods.csv").write_text("method,family\ncopy,other\nnoisy,gan\n")
    out = tmp_path / "r.csv"
    res = _cli("score", root, "--metrics", "psnr,fid,kid", "--out", out, "--workers", 1)
    assert res.exit_code == 0, res.output
    t = read_table(out)
    sets = t[t["image"] == "*"]
    assert sorted(zip(sets.method, sets.metric)) == [("copy", "fid"), ("copy", "kid"),
                                                     ("noisy", "fid"), ("noisy", "kid")]
    assert set(sets.family) == {"other", "gan"}  # same schema as the per-image rows
    assert len(t[t.metric == "psnr"]) == 6
    v = {(r.method, r.metric): r.value for r in sets.itertuples()}
    # identical sets: the Frechet distance of a Gaussian with itself is 0
    assert v[("copy", "fid")] == pytest.approx(0.0, abs=1e-6) and v[("noisy", "fid")] > 1e-3
    # the summary lists them and the small-sample warnings surface
    lines = res.output.splitlines()
    header = next(line for line in lines if line.startswith("method"))
    assert "fid ↓" in header and "kid ↓" in header
    assert "warning: fid of noisy: FID from 3 images" in res.output
    assert "warning: kid of noisy: KID with subsets of 3 images" in res.output
    manifest = json.loads((tmp_path / "r.csv.manifest.json").read_text())
    assert manifest["distribution"]["images"]["noisy/fid"] == 3
    assert manifest["distribution"]["computed"] == 4

    res2 = _cli("score", root, "--metrics", "psnr,fid,kid", "--out", out, "--workers", 1)
    assert res2.exit_code == 0, res2.output
    manifest = json.loads((tmp_path / "r.csv.manifest.json").read_text())
    assert manifest["distribution"]["computed"] == 0 and manifest["cache"]["hits"] == 10
    assert "warning: fid of noisy: FID from 3 images" in res2.output  # also when cached
    pd.testing.assert_frame_equal(read_table(out), t)


def test_distribution_values_pairing_feature_sharing_and_problems(inception_weights, tmp_path):
    """Values equal the core functions on features extracted independently; each image
    goes through the network once; an unreadable output is left out, reported, and its
    set is not cached."""
    from eyetest.core.metrics import registry
    from eyetest.core.metrics.fid import fid, inception_features, kid
    from eyetest.core.metrics.registry import MetricSpec, get_metric, register
    from eyetest.io.dataset import discover
    from eyetest.run.cache import ScoreCache
    from eyetest.run.score import score_dataset

    seen = []

    def counting(images, **kw):
        seen.append(len(images))
        return inception_features(images, **kw)

    # FID/KID exactly as registered, but at the network's native size (resize "none"),
    # so the test runs on 76x76 images in a fraction of the time
    specs = []
    for base, name in (("fid", "tfid"), ("kid", "tkid")):
        b = get_metric(base)
        specs.append(register(MetricSpec(
            name, "distribution", False, b.value_range, b.func, {"matlab": {"resize": "none"}},
            requires=b.requires, extra=dict(b.extra, feature_func=counting)), replace=True))
    try:
        rng = np.random.default_rng(2)
        root = tmp_path / "ds"
        refs, outs = _set_dataset(root, ("a", "b", "c", "d"), 76,
                                  {"noisy": ("noisy", "abc"), "shift": ("noisy", "abd")}, rng)
        (root / "methods/noisy/d.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
        cache = ScoreCache(tmp_path / "c1")
        run = score_dataset(discover(root), metrics=["tfid", "tkid"], workers=1, cache=cache,
                            device="cpu")
        # refs a-d + noisy a-c + shift a,b,d: ten images, each run once for both metrics
        assert sum(seen) == 10
        # expected: the core functions on features of the same images, extracted here
        keys = [("gt", s) for s in "abcd"] + [(m, s) for m, s in outs]
        arrays = [refs[s] if m == "gt" else outs[(m, s)] for m, s in keys]
        f = dict(zip(keys, inception_features(
            arrays, data_range=255, state_dict=weights.load_state_dict("pt-inception"),
            resize="none", device="cpu")))
        v = {(r.method, r.metric): r.value for r in run.table.itertuples()}
        for method, stems in (("noisy", "abc"), ("shift", "abd")):
            fr = np.stack([f[("gt", s)] for s in stems])
            fd = np.stack([f[(method, s)] for s in stems])
            with pytest.warns(UserWarning):
                want_fid = fid(fr, fd)
                want_kid = kid(fr, fd, rng=np.random.default_rng(0))[0]
            # float32 convolutions differ in the last bits with the batch composition
            assert v[(method, "tfid")] == pytest.approx(want_fid, rel=1e-5)
            assert v[(method, "tkid")] == pytest.approx(want_kid, rel=1e-5, abs=1e-9)
        assert any(p.file.endswith("d.png") and p.method == "noisy" for p in run.problems)
        assert run.manifest["distribution"]["images"]["noisy/tfid"] == 3
        # a set with a problem is not cached (the problem is reported again), the other is
        run2 = score_dataset(discover(root), metrics=["tfid", "tkid"], workers=1,
                             cache=ScoreCache(tmp_path / "c1"), device="cpu")
        assert run2.manifest["distribution"]["computed"] == 2
        assert any(p.file.endswith("d.png") for p in run2.problems)
        pd.testing.assert_frame_equal(run.table, run2.table)
    finally:
        for s in specs:
            registry._REGISTRY.pop(s.name, None)
