"""``eyetest audit`` end to end on a small generated folder, with toy closed-form metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image as PILImage
from scipy import ndimage

from eyetest.cli.main import cli
from eyetest.core.manipulate import unsharp_mask
from eyetest.core.metrics import registry
from eyetest.core.metrics.registry import MetricSpec, register


def _hf(image, *, data_range):
    """Mean squared Laplacian (high-frequency energy), higher 'better'."""
    x = image.astype(np.float64) / data_range
    if x.ndim == 3:
        x = x.mean(axis=2)
    return float(np.mean(ndimage.laplace(x, mode="reflect") ** 2))


def _mae(reference, distorted, *, data_range):
    return float(np.mean(np.abs(reference.astype(np.float64) - distorted)) / data_range)


TOYS = [MetricSpec("cli-hf", "NR", True, (0.0, 1.0), _hf, {"matlab": {}}),
        MetricSpec("cli-mae", "FR", False, (0.0, 1.0), _mae, {"matlab": {}})]


@pytest.fixture
def toys(monkeypatch, tmp_path):
    monkeypatch.setenv("EYETEST_CACHE_DIR", str(tmp_path / "cache"))
    registry.list_metrics()
    for spec in TOYS:
        register(spec, replace=True)
    yield
    for spec in TOYS:
        registry._REGISTRY.pop(spec.name, None)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(4)
    d = tmp_path / "imgs"
    d.mkdir()
    arrays = {}
    for i in range(3):
        a = ndimage.gaussian_filter(rng.random((48, 64)), 2.0)
        a = np.clip(np.rint((a - a.min()) / (a.max() - a.min()) * 200 + 20), 0, 255).astype(np.uint8)
        PILImage.fromarray(a).save(d / f"img{i}.png")
        arrays[f"img{i}"] = a
    (d / "notes.txt").write_text("not an image")
    return d, arrays


def test_audit_writes_tables_and_flags_the_trick(toys, folder, tmp_path):
    d, arrays = folder
    out = tmp_path / "res" / "audit.csv"
    r = CliRunner().invoke(cli, ["audit", str(d), "--metrics", "cli-hf,cli-mae",
                                 "--manipulations", "identity,usm,gaussian-blur",
                                 "--strengths", "usm=0.5,1", "--strengths", "gaussian-blur=1,2",
                                 "--out", str(out), "--workers", "1", "--n-boot", "200"])
    assert r.exit_code == 0, r.output
    assert "notes.txt" in r.output  # the non-image is reported, the rest completes
    t = pd.read_csv(out)
    for col in ("image", "metric", "manipulation", "strength", "value", "baseline", "delta", "improved"):
        assert col in t.columns
    assert len(t) == 3 * 2 * (1 + 2 + 2)
    # recompute one row independently
    row = t[(t.image == "img1") & (t.metric == "cli-hf") & (t.manipulation == "usm") & (t.strength == 1.0)].iloc[0]
    x = arrays["img1"]
    assert row.value == pytest.approx(_hf(unsharp_mask(x, data_range=255, strength=1.0), data_range=255))
    assert row.baseline == pytest.approx(_hf(x, data_range=255))
    assert bool(row.improved) == (row.value > row.baseline)
    summary = pd.read_csv(tmp_path / "res" / "audit.summary.csv")
    assert {"mean_delta", "ci_low", "ci_high", "share_improved", "share_above"} <= set(summary.columns)
    flags = pd.read_csv(tmp_path / "res" / "audit.gameability.csv").set_index(["metric", "manipulation"])
    assert flags.loc[("cli-hf", "usm"), "gameable"]
    assert not flags.loc[("cli-hf", "gaussian-blur"), "gameable"]
    assert not flags.loc[("cli-mae", "usm"), "gameable"]
    assert "YES" in r.output and "Gameability" in r.output
    manifest = json.loads((tmp_path / "res" / "audit.manifest.json").read_text())
    assert manifest["plan"] == {"identity": [1.0], "usm": [0.5, 1.0], "gaussian-blur": [1.0, 2.0]}
    # second run: same numbers, served from the score cache
    r2 = CliRunner().invoke(cli, ["audit", str(d), "--metrics", "cli-hf,cli-mae",
                                  "--manipulations", "identity,usm,gaussian-blur",
                                  "--strengths", "usm=0.5,1", "--strengths", "gaussian-blur=1,2",
                                  "--out", str(tmp_path / "again.csv"), "--workers", "1", "-q"])
    assert r2.exit_code == 0, r2.output
    pd.testing.assert_frame_equal(t, pd.read_csv(tmp_path / "again.csv"))
    m2 = json.loads((tmp_path / "again.manifest.json").read_text())
    assert m2["run"]["cache"]["misses"] == 0 and m2["run"]["cache"]["hits"] > 0


def test_plots_and_context_blur(toys, folder, tmp_path):
    d, _ = folder
    out = tmp_path / "a.csv"
    plots = tmp_path / "plots"
    r = CliRunner().invoke(cli, ["audit", str(d / "img0.png"), str(d / "img2.png"),
                                 "--metrics", "cli-hf", "--manipulations", "usm,jpeg",
                                 "--strengths", "0.5,20", "--strengths", "deblur=1",
                                 "--strengths", "oversharpen=0.5", "--strengths", "usm=0.5,1",
                                 "--out", str(out), "--plots", str(plots),
                                 "--context-blur", "--workers", "1", "--n-boot", "100", "--no-cache"])
    assert r.exit_code == 0, r.output
    t = pd.read_csv(out)
    ctx = t[t.context == "intended-blur"]
    assert set(ctx.image) == {"img0+dof", "img2+dof", "skimage-clock-motion"}
    assert set(ctx.manipulation) == {"usm", "oversharpen", "deblur"}
    assert set(t[t.context == "standard"].strength) == {0.5, 1.0, 20.0}
    assert set(t[(t.context == "standard") & (t.manipulation == "jpeg")].strength) == {0.5, 20.0}
    assert set(ctx[ctx.manipulation == "deblur"].strength) == {1.0}
    flags = pd.read_csv(tmp_path / "a.context-flags.csv").set_index("manipulation")
    assert flags.loc["usm", "prefers_sharpened"]  # a high-frequency metric wants the blur gone
    assert "Intended blur: does the metric prefer the sharpened version?" in r.output
    for name in ("score_vs_strength.png", "gameability.png", "context_score_vs_strength.png",
                 "context_prefers_sharpened.png"):
        with PILImage.open(plots / name) as im:
            assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 150


def test_figures_are_returned_as_objects(toys, folder):
    from matplotlib.figure import Figure

    from eyetest.core.audit import gameability, summarize
    from eyetest.report.audit_plots import plot_gameability, plot_score_vs_strength
    from eyetest.run.audit import AuditSource, resolve_plan, run_audit

    _, arrays = folder
    run = run_audit([AuditSource(k, array=v, data_range=255.0) for k, v in arrays.items()],
                    metrics=["cli-hf", "cli-mae"], plan=resolve_plan(["usm", "noise"], default=[1, 5]))
    s = summarize(run.table, higher_is_better={"cli-hf": True, "cli-mae": False},
                  rng=np.random.default_rng(0), n_boot=100)
    fig = plot_score_vs_strength(run.table, summary=s, higher_is_better={"cli-hf": True, "cli-mae": False})
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert fig.axes[0].get_title() == "usm" and "Δ cli-hf ↑" == fig.axes[0].get_ylabel()
    wrapped = plot_score_vs_strength(run.table, max_columns=1)
    assert len(wrapped.axes) == 4 and [a.get_title() for a in wrapped.axes] == ["usm", "", "noise", ""]
    # FR metric: untouched score is the ideal (MAE 0 is finite, so deltas are drawn)
    g = gameability(s, kinds={"usm": "trick", "noise": "degradation"})
    hm = plot_gameability(g)
    texts = [t.get_text() for t in hm.axes[0].texts]
    assert "100%" in texts and len(texts) == 4


def test_bad_arguments_exit_2(toys, folder, tmp_path):
    d, _ = folder
    r = CliRunner().invoke(cli, ["audit", str(d), "--metrics", "cli-hf", "--manipulations", "sharpen",
                                 "--out", str(tmp_path / "x.csv")])
    assert r.exit_code == 2 and "unknown manipulation 'sharpen'" in r.output
    r = CliRunner().invoke(cli, ["audit", str(d), "--metrics", "cli-hf", "--strengths", "a,b",
                                 "--out", str(tmp_path / "x.csv")])
    assert r.exit_code == 2 and "comma-separated numbers" in r.output


def _score_exported(directory, metric):
    """An 'outside tool': cli-hf's formula on every exported PNG, read back with Pillow."""
    idx = pd.read_csv(directory / "index.csv")
    rows = [(f[:-4], metric, _hf(np.asarray(PILImage.open(directory / f)), data_range=255.0))
            for f in idx.file]
    path = directory / "scores.csv"
    pd.DataFrame(rows, columns=["image", "metric", "value"]).to_csv(path, index=False,
                                                                   float_format="%.17g")
    return path


def test_export_then_import_equals_native(toys, folder, tmp_path):
    d, _ = folder
    plan = ["--manipulations", "usm,gaussian-blur,noise", "--strengths", "1,2", "--seed", "3"]
    exp = tmp_path / "exp"
    r = CliRunner().invoke(cli, ["audit", str(d), *plan, "--export-images", str(exp),
                                 "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert "notes.txt" in r.output and f"wrote {exp / 'index.csv'}" in r.output
    idx = pd.read_csv(exp / "index.csv")
    assert len(idx) == 3 * (1 + 3 * 2) and (exp / "img0~standard~noise~2.0.png").is_file()
    assert not (tmp_path / "audit.csv").exists()  # export only: nothing scored
    scores = _score_exported(exp, "cli-hf-outside")
    r = CliRunner().invoke(cli, ["audit", "--import-scores", str(scores),
                                 "--out", str(tmp_path / "imp.csv"), "--n-boot", "200"])
    assert r.exit_code == 2 and "'cli-hf-outside' is not registered" in r.output
    assert "--higher-is-better cli-hf-outside" in r.output
    # imported + a native metric in one run, against the all-native run
    r = CliRunner().invoke(cli, ["audit", str(d), *plan, "--metrics", "cli-mae",
                                 "--import-scores", str(scores), "--higher-is-better",
                                 "cli-hf-outside", "--out", str(tmp_path / "imp.csv"),
                                 "--n-boot", "200", "--workers", "1", "--no-cache"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["audit", str(d), *plan, "--metrics", "cli-mae,cli-hf",
                                 "--out", str(tmp_path / "nat.csv"), "--n-boot", "200",
                                 "--workers", "1", "--no-cache"])
    assert r.exit_code == 0, r.output
    imp, nat = pd.read_csv(tmp_path / "imp.csv"), pd.read_csv(tmp_path / "nat.csv")
    nat["metric"] = nat["metric"].replace("cli-hf", "cli-hf-outside")
    pd.testing.assert_frame_equal(imp, nat, check_exact=False, rtol=1e-12, atol=1e-15)
    # same name order as cli-hf (the bootstrap draws follow the sorted metric names)
    gi = pd.read_csv(tmp_path / "imp.gameability.csv")
    gn = pd.read_csv(tmp_path / "nat.gameability.csv").replace("cli-hf", "cli-hf-outside")
    pd.testing.assert_frame_equal(gi, gn, check_exact=False, rtol=1e-9)
    si = pd.read_csv(tmp_path / "imp.summary.csv")
    sn = pd.read_csv(tmp_path / "nat.summary.csv").replace("cli-hf", "cli-hf-outside")
    pd.testing.assert_frame_equal(si, sn, check_exact=False, rtol=1e-9)
    assert gi.set_index(["metric", "manipulation"]).loc[("cli-hf-outside", "usm"), "gameable"]
    manifest = json.loads((tmp_path / "imp.manifest.json").read_text())
    assert manifest["metrics"]["cli-hf-outside"]["kind"] == "imported"
    assert manifest["imported"]["index"] == str(exp / "index.csv")


def test_import_option_errors(toys, folder, tmp_path):
    d, _ = folder
    r = CliRunner().invoke(cli, ["audit"])
    assert r.exit_code == 2 and "--import-scores" in r.output
    r = CliRunner().invoke(cli, ["audit", "--export-images", str(tmp_path / "e")])
    assert r.exit_code == 2 and "--export-images needs IMAGES" in r.output
    scores = tmp_path / "s.csv"
    scores.write_text("image,metric,value\nimg0~standard~baseline,x,1\n")
    r = CliRunner().invoke(cli, ["audit", "--import-scores", str(scores), "--higher-is-better", "x",
                                 "--lower-is-better", "x"])
    assert r.exit_code == 2 and "both --higher-is-better and --lower-is-better" in r.output
    r = CliRunner().invoke(cli, ["audit", "--import-scores", str(scores), "--higher-is-better", "x"])
    assert r.exit_code == 2 and "index.csv" in r.output and "does not exist" in r.output


def test_bad_out_fails_before_anything_is_scored(toys, folder, tmp_path, monkeypatch):
    d, _ = folder
    calls = []
    monkeypatch.setattr("eyetest.run.audit.run_audit", lambda *a, **k: calls.append(1))
    (tmp_path / "afile").write_text("")
    for out, msg in ((tmp_path / "aout" / "audit.txt", "unknown table file extension '.txt'"),
                     (tmp_path / "aout" / "audit", "unknown table file extension"),
                     (tmp_path / "afile" / "audit.csv", "afile' is a file, not a folder")):
        r = CliRunner().invoke(cli, ["audit", str(d), "--metrics", "cli-hf", "--manipulations", "usm",
                                     "--out", str(out), "--workers", "1", "-q"])
        assert r.exit_code == 2 and msg in r.output, r.output
        assert "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["audit", str(d), "--metrics", "cli-hf", "--manipulations", "usm",
                                 "--out", str(tmp_path / "a.csv"), "--plots", str(tmp_path / "afile" / "p"),
                                 "--workers", "1", "-q"])
    assert r.exit_code == 2 and "afile' is a file, not a folder" in r.output, r.output
    assert not calls and not (tmp_path / "aout").exists()


def test_write_failure_is_one_line_and_few_images_warn(toys, folder, tmp_path, monkeypatch):
    d, _ = folder

    def full(path, data, **kw):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr("eyetest.io.tables.atomic_write_bytes", full)
    r = CliRunner().invoke(cli, ["audit", str(d / "img0.png"), "--metrics", "cli-hf", "--manipulations", "usm",
                                 "--strengths", "usm=0.5", "--out", str(tmp_path / "a.csv"), "--workers", "1",
                                 "-q", "--no-cache"])
    assert r.exit_code == 2 and "No space left on device" in r.output and "a.csv" in r.output, r.output
    assert not isinstance(r.exception, OSError)
    # one image: the audit says its shares are coarse and that there is no interval
    assert "warning: only 1 image(s) audited" in r.output and "no interval" in r.output


def _picky(image, *, data_range):
    """cli-hf, but refuses images that are not 48 pixels tall (a metric with a size limit)."""
    from eyetest.errors import MetricInputError

    if image.shape[0] != 48:
        raise MetricInputError(f"needs 48 rows, got {image.shape[0]}")
    return _hf(image, data_range=data_range)


def test_few_images_warning_counts_the_images_of_each_metric(toys, tmp_path):
    # 3 images, but the picky metric scores only 1: its flag rests on one image, and the
    # warning must say so (it used to count the images any metric had scored: 3, silent).
    d = tmp_path / "imgs"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i, h in enumerate((48, 40, 40)):
        PILImage.fromarray((rng.random((h, 64)) * 255).astype(np.uint8)).save(d / f"im{i}.png")
    register(MetricSpec("cli-picky", "NR", True, (0.0, 1.0), _picky, {"matlab": {}}), replace=True)
    try:
        r = CliRunner().invoke(cli, ["audit", str(d), "--metrics", "cli-hf,cli-picky",
                                     "--manipulations", "usm", "--strengths", "usm=1",
                                     "--out", str(tmp_path / "a.csv"), "--workers", "1", "-q",
                                     "--no-cache"])
    finally:
        registry._REGISTRY.pop("cli-picky", None)
    assert r.exit_code == 0, r.output
    summ = pd.read_csv(tmp_path / "a.summary.csv").set_index("metric")
    assert summ.loc["cli-picky", "n_images"] == 1 and summ.loc["cli-hf", "n_images"] == 3
    assert "warning: only 1 image(s) audited for cli-picky" in r.output, r.output


def test_flag_table_shows_na_for_a_share_with_no_comparable_image():
    import numpy as np
    import pandas as pd

    from eyetest.cli.commands.audit import _fmt

    flags = pd.DataFrame({"metric": ["m", "m"], "manipulation": ["usm", "jpeg"], "kind": ["trick", "degradation"],
                          "max_share_improved": [np.nan, 0.75], "at_strength": [np.nan, 30.0],
                          "mean_delta_at": [np.nan, 0.1], "ci_low_at": [np.nan, 0.05], "ci_high_at": [np.nan, 0.2],
                          "significant": [False, True], "gameable": [False, True]})
    lines = _fmt(flags, "gameable").splitlines()
    assert "n/a" in lines[1] and "nan%" not in "\n".join(lines) and "75%" in lines[2]
