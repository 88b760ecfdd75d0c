"""The audit runner against closed-form toy metrics recomputed independently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image as PILImage
from scipy import ndimage

from eyetest.core.manipulate import gaussian_blur, get_manipulation, noise, unsharp_mask
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
    # the identity rows are the baseline's pixels but never go through the cache (the
    # control must recompute), so nothing hits on the first run
    n_identity = int((first.table.manipulation == "identity").sum())
    assert n_identity == 6 and first.info["cache"]["hits"] == 0 and first.info["cache"]["misses"] > 0
    second = run_audit(srcs, metrics=toys, plan=PLAN, workers=1, cache=cache)
    # every other score (baselines included) comes from the cache the second time
    assert second.info["cache"]["misses"] == 0
    assert second.info["cache"]["hits"] == first.info["cache"]["misses"]
    pd.testing.assert_frame_equal(first.table, second.table)
    pd.testing.assert_frame_equal(first.table, one.table)
    other_seed = run_audit(srcs, metrics=toys, plan=PLAN, workers=1, seed=1)
    diff = other_seed.table.value.to_numpy() != one.table.value.to_numpy()
    assert set(other_seed.table[diff].manipulation) == {"noise"}


def test_identity_control_shows_a_non_deterministic_metric_even_with_the_cache(tmp_path):
    # The identity control is there to catch a metric that scores the same pixels
    # differently; served from the cache (same pixels, same key) its delta was 0 always.
    registry.list_metrics()
    draws = np.random.default_rng(0)
    register(MetricSpec("audit-rnd", "NR", True, (0.0, 1.0),
                        lambda image, *, data_range: float(draws.random()), {"matlab": {}}),
             replace=True)
    try:
        src = [AuditSource("a", array=np.zeros((16, 16), np.uint8), data_range=255.0)]
        run = run_audit(src, metrics=["audit-rnd"], plan=[("identity", (1.0,)), ("usm", (1.0,))],
                        cache=ScoreCache(tmp_path / "c"))
    finally:
        registry._REGISTRY.pop("audit-rnd", None)
    ident = run.table[run.table.manipulation == "identity"]
    assert (ident.delta != 0).all()
    # usm of a constant image returns the same pixels: that one is served from the cache
    assert run.info["cache"]["hits"] == 1


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


@pytest.mark.parametrize("name,bad", [("jpeg", 100.0), ("jpeg", 150.0), ("usm", float("nan")),
                                      ("noise", float("inf")), ("usm", -1.0)])
def test_plan_refuses_a_strength_every_image_would_refuse(name, bad):
    # Such a strength used to pass the plan and fail on every image, one problem
    # each, exit 0; the manipulation itself is the reference for what it refuses.
    with pytest.raises(ManipulationError):
        get_manipulation(name)(np.zeros((8, 8), np.uint8), data_range=255.0, strength=bad,
                               rng=np.random.default_rng(0))
    with pytest.raises(ManipulationError, match=f"{name}: strengths must be finite"):
        resolve_plan([name], {name: [1.0, bad]})


def test_plan_strength_keys_are_case_insensitive_like_the_names():
    # get_manipulation accepts "USM"; the grid given under that key must not be ignored
    assert resolve_plan(["usm"], {"USM": [0.1]}) == (("usm", (0.1,)),)


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


# --- export / import round trip (metrics computed elsewhere) ------------------------------------

def _read_png(path):
    """Decode an exported PNG with pypng (independent of eyetest's reader), keeping 16 bits."""
    import png

    w, h, rows, info = png.Reader(filename=str(path)).read()
    a = np.vstack([np.asarray(r) for r in rows]).astype(np.uint16 if info["bitdepth"] == 16
                                                          else np.uint8)
    return a.reshape(h, w, info["planes"]) if info["planes"] > 1 else a.reshape(h, w)


def _outside_tool(directory, index, metric="ext-hf", method=None):
    """What another machine would do: score every exported file, write a tidy CSV."""
    rows = [(f[:-4], metric, _hf(_read_png(directory / f), data_range=255.0)) for f in index.file]
    df = pd.DataFrame(rows, columns=["image", "metric", "value"])
    if method is not None:
        df.insert(1, "method", method)
    path = directory / "scores.csv"
    df.to_csv(path, index=False, float_format="%.17g")
    return path


def _sources(n=3):
    return [AuditSource(f"im{i}", array=a, data_range=255.0) for i, a in enumerate(_images(n))]


def test_export_writes_exactly_the_arrays_the_audit_scores(tmp_path):
    from eyetest.run.audit_io import export_images, file_stem

    srcs = _sources()
    res = export_images(srcs, tmp_path / "exp", plan=PLAN, seed=0)
    assert list(res.index.columns) == ["file", "image", "context", "manipulation", "kind", "strength"]
    assert len(res.index) == 3 * (1 + 6) and not res.problems
    on_disk = pd.read_csv(tmp_path / "exp" / "index.csv")
    assert on_disk.file.tolist() == res.index.file.tolist()
    assert sorted(on_disk.file) == sorted(p.name for p in (tmp_path / "exp").glob("*.png"))
    for r in on_disk.itertuples():
        x = _images(3)[int(r.image[2:])]
        want = x if r.manipulation == "baseline" else _expected(r.image, x, r.manipulation, r.strength)
        np.testing.assert_array_equal(_read_png(tmp_path / "exp" / r.file), want)
        assert r.file == file_stem(r.image, r.context, r.manipulation, r.strength) + ".png"
    assert "im1~standard~usm~1.5.png" in set(on_disk.file)
    assert "im1~standard~baseline.png" in set(on_disk.file)


def test_export_is_deterministic_and_16_bit(tmp_path):
    from eyetest.run.audit_io import export_images

    rng = np.random.default_rng(3)
    deep = (ndimage.gaussian_filter(rng.random((24, 30, 3)), (2, 2, 0)) * 60000).astype(np.uint16)
    srcs = [AuditSource("deep", array=deep, data_range=65535.0)]
    plan = (("noise", (5.0,)), ("usm", (1.0,)))
    a = export_images(srcs, tmp_path / "a", plan=plan, seed=7)
    export_images(srcs, tmp_path / "b", plan=plan, seed=7, workers=2)
    c = export_images(srcs, tmp_path / "c", plan=plan, seed=8)
    for f in a.index.file.tolist() + ["index.csv"]:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    noisy = "deep~standard~noise~5.0.png"
    assert (tmp_path / "a" / noisy).read_bytes() != (tmp_path / "c" / noisy).read_bytes()
    assert c.index.file.tolist() == a.index.file.tolist()
    back = _read_png(tmp_path / "a" / "deep~standard~baseline.png")
    assert back.dtype == np.uint16 and back.max() > 255
    np.testing.assert_array_equal(back, deep)
    assert not list((tmp_path / "a").glob("*.tmp"))


def test_export_names_are_collision_free(tmp_path):
    from eyetest.run.audit_io import export_images, file_stem

    # '~' is the field separator: escaped, so 'a~standard' cannot pose as image 'a'
    assert file_stem("a~standard", "standard") != file_stem("a", "standard")
    assert file_stem("a%7E", "standard") != file_stem("a~", "standard")
    assert file_stem("a", "intended-blur") != file_stem("a", "standard")
    x = _images(1)[0]
    with pytest.raises(MetricInputError, match="letter case"):
        export_images([AuditSource("Im", array=x, data_range=255.0),
                       AuditSource("im", array=x, data_range=255.0)], tmp_path, plan=PLAN)
    with pytest.raises(MetricInputError, match="float64 image losslessly"):
        from eyetest.io.images import encode_png
        encode_png(x / 255.0)


def test_imported_scores_equal_the_native_audit(toys, tmp_path):
    from eyetest.run.audit_io import combine, export_images, import_scores

    srcs = _sources()
    exp = export_images(srcs, tmp_path, plan=PLAN, seed=0)
    scores = _outside_tool(tmp_path, exp.index)
    native = run_audit(srcs, metrics=["audit-hf"], plan=PLAN, workers=1)
    table, metrics, problems = import_scores(scores, tmp_path / "index.csv",
                                             directions={"ext-hf": True})
    assert not problems and [m.name for m in metrics] == ["ext-hf"]
    want = native.table.assign(metric="ext-hf")
    pd.testing.assert_frame_equal(table, want, check_exact=False, rtol=1e-12, atol=1e-15)
    assert (table.improved == want.improved).all()
    # native and imported in one run: summaries and flags as if both were native
    both_native = run_audit(srcs, metrics=["audit-mse", "audit-hf"], plan=PLAN, workers=1)
    mse = run_audit(srcs, metrics=["audit-mse"], plan=PLAN, workers=1)
    table2, metrics2, _ = import_scores(_outside_tool(tmp_path, exp.index, "audit-hf", "x"),
                                        tmp_path / "index.csv")  # registered: direction known
    run, plan, cplan = combine(mse, table2, metrics2, [], plan=PLAN)
    assert plan == PLAN and cplan == ()
    pd.testing.assert_frame_equal(run.table, both_native.table, check_exact=False, rtol=1e-12,
                                  atol=1e-15)
    s_imp = summaries(run, rng=np.random.default_rng(0), n_boot=300)
    s_nat = summaries(both_native, rng=np.random.default_rng(0), n_boot=300)
    for k in ("summary", "gameability"):
        pd.testing.assert_frame_equal(s_imp[k], s_nat[k], check_exact=False, rtol=1e-9)
    assert s_imp["gameability"].set_index(["metric", "manipulation"]).loc[("audit-hf", "usm"),
                                                                          "gameable"]


def test_imported_context_blur_rows(toys, tmp_path):
    from eyetest.run.audit_io import combine, export_images, import_scores

    srcs = context_sources(_sources(2), include_clock=False)
    cplan = (("usm", (0.5, 1.0)),)
    exp = export_images(srcs, tmp_path, plan=(), context_plan=cplan)
    assert set(exp.index.context) == {INTENDED_BLUR}
    assert "im0+dof~intended-blur~usm~0.5.png" in set(exp.index.file)
    table, metrics, _ = import_scores(_outside_tool(tmp_path, exp.index), tmp_path / "index.csv",
                                      directions={"ext-hf": True})
    native = run_audit(srcs, metrics=["audit-hf"], plan=(), context_plan=cplan)
    pd.testing.assert_frame_equal(table, native.table.assign(metric="ext-hf"), check_exact=False,
                                  rtol=1e-12, atol=1e-15)
    run, _, got_cplan = combine(None, table, metrics, [])
    assert got_cplan == cplan
    flags = summaries(run, rng=np.random.default_rng(0), n_boot=200)["context_flags"]
    assert flags.set_index("manipulation").loc["usm", "prefers_sharpened"]


def test_import_errors_name_file_line_and_value(toys, tmp_path):
    from eyetest.backends.imported import ImportedScoresError
    from eyetest.run.audit_io import AuditImportError, combine, export_images, import_scores

    srcs = _sources(2)
    exp = export_images(srcs, tmp_path, plan=(("usm", (1.0,)),))
    idx = tmp_path / "index.csv"
    good = pd.read_csv(_outside_tool(tmp_path, exp.index))
    bad = tmp_path / "bad.csv"
    good.drop(columns="value").to_csv(bad, index=False)
    with pytest.raises(ImportedScoresError, match="lacks column.*value"):
        import_scores(bad, idx, directions={"ext-hf": True})
    g = good.astype({"value": object})
    g.loc[2, "value"] = "n/a"
    g.to_csv(bad, index=False)
    with pytest.raises(ImportedScoresError, match=r"bad.csv line 4: value 'n/a'"):
        import_scores(bad, idx, directions={"ext-hf": True})
    g = good.copy()
    g.loc[1, "image"] = "im0~standard~usm~9.0"
    g.to_csv(bad, index=False)
    with pytest.raises(AuditImportError, match=r"bad.csv line 3: image 'im0~standard~usm~9.0' "
                                               "is not an exported file stem"):
        import_scores(bad, idx, directions={"ext-hf": True})
    with pytest.raises(AuditImportError, match=r"'ext-hf' is not registered.*--higher-is-better "
                                               "ext-hf or --lower-is-better ext-hf"):
        import_scores(tmp_path / "scores.csv", idx)
    good.assign(metric="audit-hf").to_csv(bad, index=False)
    with pytest.raises(AuditImportError, match="registered as higher-is-better"):
        import_scores(bad, idx, directions={"audit-hf": False})
    with pytest.raises(AuditImportError, match="index.csv"):
        import_scores(bad, tmp_path / "nope.csv")
    # a missing score is a problem (like a native metric failing on one image), not a silent gap
    good.drop(index=1).to_csv(bad, index=False)
    table, _, problems = import_scores(bad, idx, directions={"ext-hf": True})
    assert len(table) == 1 and len(problems) == 1 and "no score for" in problems[0].reason
    # the same name computed here and imported: refused
    t, m, _ = import_scores(tmp_path / "scores.csv", idx, directions={"ext-hf": True})
    native = run_audit(srcs, metrics=["audit-hf"], plan=(("usm", (1.0,)),))
    with pytest.raises(AuditImportError, match="both computed here and imported"):
        combine(native, t.assign(metric="audit-hf"),
                [type(m[0])("audit-hf", True, "scores.csv")], [])
