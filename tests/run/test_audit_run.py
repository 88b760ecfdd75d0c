"""The audit runner against closed-form toy metrics recomputed independently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image as PILImage
from scipy import ndimage

from eyetest.core.manipulate import gaussian_blur, noise, unsharp_mask
from eyetest.core.metrics import registry
from eyetest.core.metrics.registry import MetricSpec, register
from eyetest.errors import ManipulationError, MetricInputError, UnknownNameError
from eyetest.run.audit import (
    INTENDED_BLUR,
    AuditSource,
    context_sources,
    manipulation_rng,
    resolve_plan,
    run_audit,
    summaries,
)
from eyetest.run.cache import ScoreCache


def _hf(image, *, data_range):
    """Mean squared Laplacian / data_range^2: high-frequency energy (higher 'better')."""
    x = image.astype(np.float64) / data_range
    lap = ndimage.laplace(x, mode="reflect") if x.ndim == 2 else np.stack(
        [ndimage.laplace(x[..., c], mode="reflect") for c in range(x.shape[2])], -1)
    return float(np.mean(lap**2))


def _mse(reference, distorted, *, data_range):
    d = (reference.astype(np.float64) - distorted.astype(np.float64)) / data_range
    return float(np.mean(d**2))


TOYS = [
    MetricSpec("audit-hf", "NR", True, (0.0, 1.0), _hf, {"matlab": {}}, description="test metric"),
    MetricSpec("audit-mse", "FR", False, (0.0, 1.0), _mse, {"matlab": {}}, description="test metric"),
]


@pytest.fixture
def toys():
    registry.list_metrics()
    for spec in TOYS:
        register(spec, replace=True)
    yield [s.name for s in TOYS]
    for spec in TOYS:
        registry._REGISTRY.pop(spec.name, None)


def _images(n=4, size=(40, 48)):
    rng = np.random.default_rng(11)
    out = []
    for i in range(n):
        # smooth random field + edges: a small "photo"
        base = ndimage.gaussian_filter(rng.random(size + (3,)), (3, 3, 0))
        base = (base - base.min()) / (base.max() - base.min())
        base[:, size[1] // 2 + i:] += 0.2
        out.append(np.clip(np.rint(base / base.max() * 230), 0, 255).astype(np.uint8))
    return out


PLAN = (("identity", (1.0,)), ("usm", (0.5, 1.5)), ("gaussian-blur", (1.0, 2.0)), ("noise", (5.0,)))


def _expected(name, image, manip, strength, seed=0):
    """Recompute one manipulated image with the documented seed recipe."""
    if manip == "identity":
        return image.copy()
    if manip == "usm":
        return unsharp_mask(image, data_range=255, strength=strength)
    if manip == "gaussian-blur":
        return gaussian_blur(image, data_range=255, strength=strength)
    import zlib
    words = [seed] + [zlib.crc32(s.encode()) for s in (name, manip, repr(float(strength)))]
    return noise(image, data_range=255, strength=strength,
                 rng=np.random.default_rng(np.random.SeedSequence(words)))


def test_table_matches_independent_recomputation(toys):
    images = _images()
    srcs = [AuditSource(f"im{i}", array=a, data_range=255.0) for i, a in enumerate(images)]
    run = run_audit(srcs, metrics=toys, plan=PLAN, workers=1)
    assert list(run.table.columns)[:10] == ["image", "context", "metric", "manipulation", "kind",
                                            "strength", "value", "baseline", "delta", "improved"]
    assert len(run.table) == 4 * 2 * 6 and not run.problems
    for row in run.table.itertuples():
        x = images[int(row.image[2:])]
        y = _expected(row.image, x, row.manipulation, row.strength)
        if row.metric == "audit-hf":
            value, base = _hf(y, data_range=255), _hf(x, data_range=255)
            better = value > base
        else:
            value, base = _mse(x, y, data_range=255), 0.0
            better = value < base
        assert row.value == pytest.approx(value, rel=1e-12, abs=1e-15)
        assert row.baseline == pytest.approx(base, rel=1e-12, abs=1e-15)
        assert row.delta == pytest.approx(value - base, rel=1e-9, abs=1e-15)
        assert row.improved == (better and abs(value - base) > 1e-9 * max(1, abs(base)))
    ident = run.table[run.table.manipulation == "identity"]
    assert (ident.delta == 0).all() and not ident.improved.any()


def test_gameability_of_a_high_frequency_metric(toys):
    srcs = [AuditSource(f"im{i}", array=a, data_range=255.0) for i, a in enumerate(_images())]
    run = run_audit(srcs, metrics=toys, plan=PLAN, workers=1)
    s = summaries(run, rng=np.random.default_rng(0), n_boot=300)
    g = s["gameability"].set_index(["metric", "manipulation"])
    # USM and noise add high-frequency energy on every image: flagged
    assert g.loc[("audit-hf", "usm"), "gameable"] and g.loc[("audit-hf", "usm"), "max_share_improved"] == 1
    assert g.loc[("audit-hf", "noise"), "gameable"]
    # blur removes it; an FR metric with the untouched image as reference cannot improve
    assert not g.loc[("audit-hf", "gaussian-blur"), "gameable"]
    assert not g[g.index.get_level_values(0) == "audit-mse"]["gameable"].any()
    assert not g.loc[("audit-hf", "identity"), "gameable"]
    assert s["context"].empty and s["context_flags"].empty
    summ = s["summary"].set_index(["metric", "manipulation", "strength"])
    rows = run.table[(run.table.metric == "audit-hf") & (run.table.manipulation == "usm")
                     & (run.table.strength == 1.5)]
    assert summ.loc[("audit-hf", "usm", 1.5), "mean_delta"] == pytest.approx(rows.delta.mean())


def test_same_table_with_two_workers_and_from_the_cache(toys, tmp_path):
    srcs = [AuditSource(f"im{i}", array=a, data_range=255.0) for i, a in enumerate(_images(3))]
    one = run_audit(srcs, metrics=toys, plan=PLAN, workers=1)
    two = run_audit(srcs, metrics=toys, plan=PLAN, workers=2)
    pd.testing.assert_frame_equal(one.table, two.table)
    cache = ScoreCache(tmp_path / "c")
    first = run_audit(srcs, metrics=toys, plan=PLAN, workers=1, cache=cache)
    # content-addressed: the identity rows are the baseline's pixels, so they hit
    n_identity = int((first.table.manipulation == "identity").sum())
    assert first.info["cache"]["hits"] == n_identity == 6 and first.info["cache"]["misses"] > 0
    second = run_audit(srcs, metrics=toys, plan=PLAN, workers=1, cache=cache)
    # every score (baselines included) comes from the cache the second time
    assert second.info["cache"]["misses"] == 0
    assert second.info["cache"]["hits"] == first.info["cache"]["misses"] + n_identity
    pd.testing.assert_frame_equal(first.table, second.table)
    pd.testing.assert_frame_equal(first.table, one.table)
    other_seed = run_audit(srcs, metrics=toys, plan=PLAN, workers=1, seed=1)
    diff = other_seed.table.value.to_numpy() != one.table.value.to_numpy()
    assert set(other_seed.table[diff].manipulation) == {"noise"}


def test_files_and_problems(toys, tmp_path):
    images = _images(2)
    paths = []
    for i, a in enumerate(images):
        p = tmp_path / f"p{i}.png"
        PILImage.fromarray(a).save(p)
        paths.append(p)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    srcs = [AuditSource(p.stem, path=str(p)) for p in paths + [bad]]
    run = run_audit(srcs, metrics=toys, plan=(("usm", (1.0,)),), workers=1)
    assert set(run.table.image) == {"p0", "p1"}
    assert len(run.problems) == 1 and run.problems[0].file == str(bad)
    arr_run = run_audit([AuditSource(f"p{i}", array=a, data_range=255.0) for i, a in enumerate(images)],
                        metrics=toys, plan=(("usm", (1.0,)),), workers=1)
    pd.testing.assert_frame_equal(run.table, arr_run.table)


def test_context_blur_rows_are_separate(toys):
    srcs = [AuditSource(f"im{i}", array=a, data_range=255.0) for i, a in enumerate(_images(2, (64, 64)))]
    ctx = context_sources(srcs, dof_sigma=3.0)
    assert [c.name for c in ctx] == ["im0+dof", "im1+dof", "skimage-clock-motion"]
    run = run_audit(srcs + ctx, metrics=toys, plan=(("gaussian-blur", (1.0,)),),
                    context_plan=resolve_plan(["usm", "deblur"], default=[1.0]), workers=1)
    c = run.table[run.table.context == INTENDED_BLUR]
    assert set(c.image) == {"im0+dof", "im1+dof", "skimage-clock-motion"}
    assert set(c.manipulation) == {"usm", "deblur"}
    assert set(run.table[run.table.context == "standard"].manipulation) == {"gaussian-blur"}
    s = summaries(run, rng=np.random.default_rng(0), n_boot=200)
    flags = s["context_flags"].set_index(["metric", "manipulation"])
    # the high-frequency metric prefers the sharpened version of intended blur
    assert flags.loc[("audit-hf", "usm"), "prefers_sharpened"]
    assert not flags.loc[("audit-mse", "usm"), "prefers_sharpened"]
    # baseline of a DoF source is the DoF image, not the original
    from eyetest.core.manipulate import depth_of_field
    dof0 = depth_of_field(srcs[0].array, data_range=255, strength=3.0)
    b = c[(c.image == "im0+dof") & (c.metric == "audit-hf")].baseline.iloc[0]
    assert b == pytest.approx(_hf(dof0, data_range=255))


def test_plan_and_argument_errors(toys):
    plan = resolve_plan(["usm", "jpeg", "usm"], {"jpeg": [0, 50, 10]})
    assert plan[0][0] == "usm" and plan[0][1] == (0.25, 0.5, 1.0, 1.5, 2.0)
    assert plan[1] == ("jpeg", (10.0, 50.0)) and len(plan) == 2
    assert resolve_plan(["noise"], default=[3, 1])[0] == ("noise", (1.0, 3.0))
    with pytest.raises(UnknownNameError):
        resolve_plan(["sharpen-more"])
    with pytest.raises(ManipulationError):
        resolve_plan(["usm"], {"usm": [0]})
    src = AuditSource("a", array=np.zeros((8, 8), np.uint8), data_range=255.0)
    with pytest.raises(MetricInputError, match="unique"):
        run_audit([src, src], metrics=toys, plan=plan)
    with pytest.raises(MetricInputError, match="data_range"):
        AuditSource("b", array=np.zeros((8, 8)))
    with pytest.raises(UnknownNameError):
        run_audit([src], metrics=["no-such-metric"], plan=plan)


def test_manipulation_rng_is_stable():
    a = manipulation_rng(3, "im", "noise", 5.0).random(3)
    np.testing.assert_array_equal(a, manipulation_rng(3, "im", "noise", 5).random(3))
    assert not np.array_equal(a, manipulation_rng(3, "im", "noise", 6.0).random(3))


def test_registered_nr_metric_with_resources_goes_through_score_arrays():
    # A real metric that needs a parameter file (NIQE's pristine model) must
    # give, row by row, what the public path computes on the same pixels.
    from skimage import data

    from eyetest.errors import UnknownNameError
    from eyetest.metrics import score

    try:
        registry.get_metric("niqe")
    except UnknownNameError:
        pytest.skip("niqe is not registered in this tree")
    x = data.camera()[160:288, 160:288]
    run = run_audit([AuditSource("cam", array=x, data_range=255.0)], metrics=["niqe"],
                    plan=(("usm", (1.0,)), ("gaussian-blur", (2.0,))), workers=1)
    assert not run.problems
    for row in run.table.itertuples():
        f = unsharp_mask if row.manipulation == "usm" else gaussian_blur
        y = f(x, data_range=255, strength=row.strength)
        assert row.value == score("niqe", y, data_range=255)
        assert row.baseline == score("niqe", x, data_range=255)
