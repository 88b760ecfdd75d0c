"""`score_dataset` wiring: imported scores, `pyiqa:NAME` resolution, executor choice."""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import pandas as pd
import pytest

from eyetest.backends import pyiqa as pyiqa_adapter
from eyetest.backends.imported import ImportedScoresError
from eyetest.errors import DatasetError, ResourceMissingError, SpecError
from eyetest.io.dataset import discover
from eyetest.run.cache import ScoreCache
from eyetest.run.score import resolve_metrics, score_dataset
from eyetest.run.summary import summarize


def _write_import(path, rows):
    pd.DataFrame(rows, columns=["image", "method", "metric", "value"]).to_csv(path, index=False)
    return path


MUSIQ = [("img1", "a", "musiq", 61.5), ("img2", "a", "musiq", 70.25),
         ("img3", "a", "musiq", 55.0), ("img4", "a", "musiq", 66.0),
         ("img1", "b", "musiq", 40.0)]


def test_imported_scores_merge_manifest_and_summary(toy_metrics, toy_dataset, tmp_path):
    root, arrays = toy_dataset
    f1 = _write_import(tmp_path / "musiq.csv", MUSIQ)
    f2 = tmp_path / "extra.parquet"
    pd.DataFrame({"image": ["img2"], "method": ["a"], "metric": ["clipiqa"],
                  "value": [0.5]}).to_parquet(f2)
    run = score_dataset(discover(root), metrics=["tmad", "tmean"], workers=1,
                        imports=[f1, f2])
    t = run.table
    assert "source" in t.columns
    native = t[t.source == "eyetest"]
    assert len(native) == run.manifest["counts"]["rows_scored"] == 11
    imp = t[t.metric == "musiq"].set_index(["method", "image"])["value"]
    assert imp.to_dict() == {(m, i): v for i, m, _, v in MUSIQ}
    assert set(t[t.metric == "musiq"].source) == {"musiq.csv"}
    assert t[(t.metric == "clipiqa")].value.tolist() == [0.5]
    # scenario / family of imported rows come from the dataset, as for native ones
    row = t[(t.metric == "musiq") & (t.method == "a") & (t.image == "img1")].iloc[0]
    assert row.scenario == "food;text" and row.family == "gan"
    # sorted like native rows: by method, image, then metric order
    assert t[["method", "image"]].apply(tuple, axis=1).is_monotonic_increasing
    rec = {r["file"]: r for r in run.manifest["imported"]}
    assert rec[str(f1)]["sha256"] == hashlib.sha256(f1.read_bytes()).hexdigest()
    assert rec[str(f1)]["rows"] == 5 and rec[str(f2)]["rows"] == 1
    assert run.manifest["counts"]["rows_imported"] == 6
    # the summary covers imported metrics like native ones (mean over images)
    specs = run.summary_specs
    assert [s.name for s in specs] == ["tmad", "tmean", "musiq", "clipiqa"]
    assert specs[2].direction == "?"  # unknown metric: direction not guessed
    s = summarize(t, specs).set_index(["method", "metric"])
    assert s.loc[("a", "musiq"), "mean"] == pytest.approx(np.mean([61.5, 70.25, 55.0, 66.0]))
    assert s.loc[("a", "musiq"), "n"] == 4


def test_registered_imported_metric_keeps_its_direction(toy_metrics, toy_dataset, tmp_path):
    root, _ = toy_dataset
    f = _write_import(tmp_path / "p.csv", [("img1", "a", "psnr", 30.0)])
    run = score_dataset(discover(root), metrics=["tmean"], workers=1, imports=[f])
    (psnr,) = [s for s in run.summary_specs if s.name == "psnr"]
    assert psnr.higher_is_better is True and psnr.direction == "↑"


@pytest.mark.parametrize("policy", ["error", "imported", "native"])
def test_conflict_policy(toy_metrics, toy_dataset, tmp_path, policy):
    root, arrays = toy_dataset
    f = _write_import(tmp_path / "tm.csv", [("img1", "a", "tmean", 0.125),
                                            ("img2", "a", "other", 3.0)])
    native = arrays[("a", "img1")].mean() / 255
    if policy == "error":
        with pytest.raises(ImportedScoresError, match=r"\('img1', 'a', 'tmean'\).*on_conflict"):
            score_dataset(discover(root), metrics=["tmean"], workers=1, imports=[f])
        return
    run = score_dataset(discover(root), metrics=["tmean"], workers=1, imports=[f],
                        on_conflict=policy)
    t = run.table
    (v,) = t[(t.method == "a") & (t.image == "img1") & (t.metric == "tmean")].value
    assert v == pytest.approx(0.125 if policy == "imported" else native, abs=1e-15)
    assert len(t[t.metric == "other"]) == 1  # non-clashing rows always merge


def test_bad_import_file_fails_before_any_scoring(toy_metrics, toy_dataset, tmp_path):
    root, _ = toy_dataset
    bad = tmp_path / "bad.csv"
    bad.write_text("image,method,metric,value\nimg1,a,musiq,61\nimg2,a,musiq,high\n")
    with pytest.raises(ImportedScoresError, match="bad.csv line 3: value 'high'"):
        score_dataset(discover(root), metrics=["tmad", "tmean"], workers=1, imports=[bad])
    assert toy_metrics == {"tmad": 0, "tmean": 0}
    with pytest.raises(SpecError, match="on_conflict"):
        score_dataset(discover(root), metrics=["tmean"], workers=1, imports=[bad],
                      on_conflict="mine")


@pytest.mark.skipif(pyiqa_adapter.available(),
                    reason="pyiqa is installed; the missing-extra error cannot be seen")
def test_pyiqa_name_without_pyiqa_names_the_extra(toy_metrics):
    with pytest.raises(ResourceMissingError) as err:
        resolve_metrics(["tmean", "pyiqa:musiq"], has_reference=True, preset="matlab")
    msg = str(err.value)
    assert "'pyiqa:musiq'" in msg and "extra 'pyiqa'" in msg and "eyetest[pyiqa]" in msg
    assert "non-commercial" in msg


def test_pyiqa_names_go_through_the_adapter(toy_metrics, monkeypatch):
    """Resolution hands `pyiqa:NAME` to `eyetest.backends.pyiqa.resolve` (the adapter
    itself is tested against the real package in tests/backends/test_pyiqa.py)."""
    from eyetest.core.metrics.registry import get_metric

    seen = []
    monkeypatch.setattr(pyiqa_adapter, "available", lambda: True)
    monkeypatch.setattr(pyiqa_adapter, "resolve",
                        lambda name: seen.append(name) or get_metric("tmean"))
    specs = resolve_metrics(["PyIQA:MUSIQ"], has_reference=False, preset="matlab")
    assert seen == ["pyiqa:musiq"] and specs[0].name == "tmean"


def test_distribution_metric_needs_references(toy_metrics):
    with pytest.raises(DatasetError, match="'fid' compares each method's outputs"):
        resolve_metrics(["fid"], has_reference=False, preset="matlab")
    assert resolve_metrics(["fid"], has_reference=True, preset="matlab")[0].name == "fid"


def test_ray_executor_without_ray_is_a_clear_error(toy_metrics, toy_dataset, monkeypatch):
    root, _ = toy_dataset
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ResourceMissingError, match=r"pip install 'eyetest\[ray\]'"):
        score_dataset(discover(root), metrics=["tmean"], executor="ray")
    assert toy_metrics["tmean"] == 0
    with pytest.raises(SpecError, match="executor"):
        score_dataset(discover(root), metrics=["tmean"], executor="dask")


def test_cache_resume_after_interrupted_local_run(toy_metrics, toy_dataset, tmp_path,
                                                  monkeypatch):
    """Scores are cached as units finish: after a failure midway the re-run computes
    only the units that had not finished (the Ray variant is in test_ray_executor.py)."""
    import eyetest.run.score as score_mod

    root, _ = toy_dataset
    real = score_mod.run_tasks

    def dies_after_two(func, tasks, **kw):
        for k, res in enumerate(real(func, tasks, **kw)):
            if k == 2:
                raise RuntimeError("worker lost")
            yield res

    monkeypatch.setattr(score_mod, "run_tasks", dies_after_two)
    with pytest.raises(RuntimeError, match="worker lost"):
        score_dataset(discover(root), metrics=["tmad", "tmean"], workers=1,
                      cache=ScoreCache(tmp_path / "c"))
    monkeypatch.setattr(score_mod, "run_tasks", real)
    run = score_dataset(discover(root), metrics=["tmad", "tmean"], workers=1,
                        cache=ScoreCache(tmp_path / "c"))
    full = score_dataset(discover(root), metrics=["tmad", "tmean"], workers=1)
    pd.testing.assert_frame_equal(run.table, full.table)
    n_units = full.manifest["counts"]["units_computed"]
    assert run.manifest["counts"]["units_computed"] == n_units - 2


def test_imported_rows_outside_the_dataset_become_problems(toy_metrics, toy_dataset, tmp_path):
    root, _ = toy_dataset
    f = _write_import(tmp_path / "imp.csv", [
        ("img1", "a", "musiq", 1.0),       # line 2: kept
        ("img2.png", "a", "musiq", 2.0),   # line 3: a file name, read as stem img2: kept
        ("zzz", "a", "musiq", 3.0),        # line 4: no such image
        ("img1", "q", "musiq", 4.0),       # line 5: no such method
        ("IMG1", "a", "musiq", 5.0),       # line 6: names are case-sensitive
        ("img4", "b", "musiq", 6.0),       # line 7: b has no output img4
        ("img1", "q", "clipiqa", 7.0),     # line 8: same unknown pair as line 5
    ])
    run = score_dataset(discover(root), metrics=["tmean"], workers=1, imports=[f])
    imp = run.table[run.table.metric == "musiq"]
    assert sorted(zip(imp.image, imp.method, imp.value)) == [("img1", "a", 1.0),
                                                            ("img2", "a", 2.0)]
    assert "clipiqa" not in set(run.table.metric) and "q" not in set(run.table.method)
    got = {p.reason.split(":")[0]: p for p in run.problems if p.file == str(f)}
    assert set(got) == {"line 4", "line 5 (and 1 more row(s))", "line 6", "line 7"}
    assert "image 'zzz' of method 'a' is not in the dataset" in got["line 4"].reason
    assert "method 'q' is not a method of the dataset" in got["line 5 (and 1 more row(s))"].reason
    assert "image 'IMG1'" in got["line 6"].reason and got["line 7"].method == "b"
    assert run.manifest["counts"]["rows_imported"] == 2
    assert {p["file"] for p in run.manifest["problems"]} >= {str(f)}
    s = summarize(run.table, run.summary_specs).set_index(["method", "metric"])
    assert s.loc[("a", "musiq"), "mean"] == pytest.approx(1.5)  # only the matching rows


def test_file_name_and_stem_of_one_image_clash_before_scoring(toy_metrics, toy_dataset, tmp_path):
    root, _ = toy_dataset
    f = _write_import(tmp_path / "imp.csv", [("img1", "a", "musiq", 1.0),
                                             ("img1.png", "a", "musiq", 2.0)])
    with pytest.raises(ImportedScoresError, match=r"imp.csv line 3: image 'img1.png' read as "
                       r"a stem gives .*already given by imp.csv line 2"):
        score_dataset(discover(root), metrics=["tmad", "tmean"], workers=1, imports=[f])
    assert toy_metrics == {"tmad": 0, "tmean": 0}
