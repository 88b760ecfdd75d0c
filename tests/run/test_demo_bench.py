"""The demo benchmark: degradations, honest and gamed methods, features and the simulated panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from eyetest.errors import UnknownNameError
from eyetest.run.demo_bench import (
    BENCH_IMAGES,
    BENCH_METHODS,
    PANEL_DIMENSIONS,
    SCALE,
    back_projection,
    build_benchmark,
    degrade,
    image_features,
    latent_quality,
    load_bench_image,
    restore,
    simulate_panel,
)


def _down(x):
    im = Image.fromarray(x)
    return np.asarray(im.resize((im.width // SCALE, im.height // SCALE), Image.Resampling.BICUBIC), float)


def test_images_load_offline_with_sizes_multiple_of_scale():
    for spec in BENCH_IMAGES:
        gt = load_bench_image(spec)
        assert gt.dtype == np.uint8 and gt.ndim in (2, 3)
        assert gt.shape[0] % SCALE == 0 and gt.shape[1] % SCALE == 0
        assert 176 <= min(gt.shape[:2]) and max(gt.shape[:2]) <= 256   # MS-SSIM needs >= 176 px
        assert spec.scenarios


def test_back_projection_is_consistent_with_its_input():
    gt = load_bench_image(BENCH_IMAGES[0])
    lq = degrade(gt, seed=0, name="astronaut")
    assert lq.shape[:2] == (gt.shape[0] // SCALE, gt.shape[1] // SCALE)
    ibp = back_projection(lq)
    bic = restore(lq, "bicubic")
    err = lambda x: np.abs(_down(x) - lq.astype(float)).mean()
    # Irani & Peleg: the iterations drive D(x) towards the input, far closer than plain bicubic
    assert err(ibp) < 0.5 * err(bic)


def test_gamed_methods_add_energy_and_unknown_method_is_named():
    gt = load_bench_image(BENCH_IMAGES[7])   # brick
    lq = degrade(gt, seed=0, name="brick")
    feats = {m: image_features(restore(lq, m, name="brick"), gt) for m in BENCH_METHODS}
    assert feats["bicubic-usm"]["energy"] > feats["bicubic"]["energy"]
    assert feats["ibp-overgen"]["invented"] > feats["ibp"]["invented"]
    with pytest.raises(UnknownNameError, match="nearest"):
        restore(lq, "nearest")


def test_image_features_of_the_reference_itself():
    gt = load_bench_image(BENCH_IMAGES[0])
    f = image_features(gt, gt)
    assert f == pytest.approx({"fidelity": 1.0, "detail": 1.0, "invented": 0.0, "energy": 1.0}, abs=1e-9)
    flat = np.full_like(gt, 128)
    g = image_features(flat, gt)
    assert g["detail"] == pytest.approx(0.0, abs=1e-12) and g["energy"] == pytest.approx(0.0, abs=1e-12)


def test_latent_quality_is_the_documented_mix():
    rng = np.random.default_rng(1)
    rows = [{"image": i, "method": m, **dict(zip(("fidelity", "detail", "invented", "energy"), rng.random(4)))}
            for i in ("x", "y") for m in ("p", "q", "r")]
    f = pd.DataFrame(rows)
    truth = latent_quality(f, scenarios={"x": ("text",), "y": ("food",)}, scale=1.0)
    assert truth.dimensions == PANEL_DIMENSIONS and truth.scenarios == ("text", "food")
    z = f.copy()
    for c in ("fidelity", "detail", "invented", "energy"):
        z[c] = f.groupby("image")[c].transform(lambda v: (v - v.mean()) / v.std())
    # naturalness of image y, method q, by hand: 0.6 f + 0.2 d - 1.2 i
    r = z[(z["image"] == "y") & (z["method"] == "q")].iloc[0]
    d = PANEL_DIMENSIONS.index("naturalness")
    assert truth.quality[1, 1, d] == pytest.approx(0.6 * r.fidelity + 0.2 * r.detail - 1.2 * r.invented)
    # text gets the extra edge weight on the overall dimension: 1.0 f + 0.6 d - 0.8 i + 0.7 e
    r = z[(z["image"] == "x") & (z["method"] == "r")].iloc[0]
    assert truth.quality[0, 2, 0] == pytest.approx(r.fidelity + 0.6 * r.detail - 0.8 * r.invented + 0.7 * r.energy)
    # z-scores sum to zero within an image, so every dimension's qualities do too
    assert np.allclose(truth.quality.sum(axis=1), 0.0)


def test_simulated_panel_structure():
    rng = np.random.default_rng(0)
    f = pd.DataFrame([{"image": i, "method": m, "fidelity": k, "detail": k, "invented": -k, "energy": k}
                      for i in ("a", "b") for k, m in enumerate(("m1", "m2", "m3"))])
    truth = latent_quality(f, scenarios={"a": ("food",), "b": ("text",)})
    j = simulate_panel(truth, rng=rng, raters=4, pairs_per_rater=5, gold_per_rater=2, repeats_per_rater=2)
    assert set(j["source"]) == {"simulated"} and set(j["dimension"]) == set(PANEL_DIMENSIONS)
    one = j[j["dimension"] == "overall"]
    assert len(one) == 4 * (5 + 2 + 2) and one["is_gold"].sum() == 8 and one["is_repeat"].sum() == 8
    gold = one[one["is_gold"]]
    assert gold["condition_a"].str.endswith("::gt").all() and gold["condition_b"].str.endswith("::gold-blur").all()
    pairs = one[~one["is_gold"]]
    assert (pairs["method_a"] != pairs["method_b"]).all()
    assert (pairs["condition_a"].str.split("::").str[0] == pairs["condition_b"].str.split("::").str[0]).all()


def test_build_benchmark_layout(tmp_path):
    from eyetest.io.dataset import discover, read_families, read_scenarios

    images = [i for i in BENCH_IMAGES if i.name in ("page", "brick")]
    root = build_benchmark(tmp_path / "d", images=images)
    ds = discover(root)
    assert not ds.problems and len(ds.items) == 2 * len(BENCH_METHODS)
    assert read_families(root / "methods.csv") == {m: fam for m, (fam, _) in BENCH_METHODS.items()}
    assert read_scenarios(root / "scenarios.csv") == {i.name: i.scenarios for i in images}
