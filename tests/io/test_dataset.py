"""Dataset discovery: stem matching, problems by name, CSV validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from eyetest.errors import DatasetError
from eyetest.io.dataset import discover, discover_pair, read_families, read_scenarios


def _img(path: Path, seed=0, shape=(8, 8, 3)):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    PILImage.fromarray(arr).save(path)
    return path


def _dataset(root: Path):
    for i, stem in enumerate(["b", "a", "c"]):
        _img(root / "gt" / f"{stem}.png", seed=i)
    _img(root / "methods/hat/a.png")
    _img(root / "methods/hat/b.jpg")  # other extension, same stem: still matched
    _img(root / "methods/hat/c.png")
    _img(root / "methods/supir/a.png")  # b missing
    _img(root / "methods/supir/c.png")
    _img(root / "methods/supir/z.png")  # extra
    return root


def test_match_by_stem_not_position(tmp_path):
    ds = discover(_dataset(tmp_path))
    assert ds.methods == ["hat", "supir"]
    pairs = {(i.method, i.image): (i.distorted.name, i.reference.name) for i in ds.items}
    assert pairs == {
        ("hat", "a"): ("a.png", "a.png"), ("hat", "b"): ("b.jpg", "b.png"),
        ("hat", "c"): ("c.png", "c.png"), ("supir", "a"): ("a.png", "a.png"),
        ("supir", "c"): ("c.png", "c.png"),
    }
    reasons = {(Path(p.file).name, p.method): p.reason for p in ds.problems}
    assert set(reasons) == {("b.png", "supir"), ("z.png", "supir")}
    assert "no output with stem 'b'" in reasons[("b.png", "supir")]
    assert "no reference with stem 'z'" in reasons[("z.png", "supir")]


def test_duplicate_stems_and_non_images_reported(tmp_path):
    root = _dataset(tmp_path)
    _img(root / "methods/hat/c.webp")
    (root / "methods/hat/notes.txt").write_text("hello")
    (root / "methods/hat/.DS_Store").write_bytes(b"x")
    ds = discover(root)
    hat = sorted(p.file for p in ds.problems if p.method == "hat")
    assert hat == sorted(str(root / f) for f in (
        "methods/hat/c.png", "methods/hat/c.webp", "methods/hat/notes.txt",
        "gt/c.png"))  # the skipped duplicates leave gt/c.png without an output
    assert ("hat", "c") not in {(i.method, i.image) for i in ds.items}
    assert any("several files share the stem 'c'" in p.reason for p in ds.problems)
    (gt_c,) = [p for p in ds.problems if p.file == str(root / "gt/c.png")]
    assert "has several outputs with stem 'c', all skipped" in gt_c.reason
    assert "no output" not in gt_c.reason  # it has two, skipped as duplicates


def test_subfolders_reported_hidden_ones_ignored(tmp_path):
    root = _dataset(tmp_path)
    _img(root / "gt/Set5/a.png")
    _img(root / "methods/hat/Set5/a.png")
    (root / "methods/hat/.ipynb_checkpoints").mkdir()
    ds = discover(root)
    sub = {p.file: p for p in ds.problems if p.reason.startswith("subfolder ignored")}
    assert set(sub) == {str(root / "gt/Set5"), str(root / "methods/hat/Set5")}
    assert "does not look into subfolders" in sub[str(root / "gt/Set5")].reason
    assert sub[str(root / "methods/hat/Set5")].method == "hat"
    # the files directly in the folders are matched as before
    assert {(i.method, i.image) for i in ds.items} == {
        ("hat", "a"), ("hat", "b"), ("hat", "c"), ("supir", "a"), ("supir", "c")}
    pair = discover_pair(root / "gt", root / "methods/hat")
    subs = [p.file for p in pair.problems if p.reason.startswith("subfolder ignored")]
    assert subs == [str(root / "gt/Set5"), str(root / "methods/hat/Set5")]


def test_nr_only_dataset(tmp_path):
    _img(tmp_path / "methods/m1/x.png")
    _img(tmp_path / "methods/m1/y.png")
    ds = discover(tmp_path)
    assert not ds.has_reference and not ds.problems
    assert [(i.image, i.reference) for i in ds.items] == [("x", None), ("y", None)]


def test_pair_form_names_method_after_folder(tmp_path):
    _img(tmp_path / "ref/1.png")
    _img(tmp_path / "ref/2.png")
    _img(tmp_path / "out/hat_x4/2.png")
    ds = discover_pair(tmp_path / "ref", tmp_path / "out/hat_x4")
    assert ds.methods == ["hat_x4"]
    assert [(i.image, i.method) for i in ds.items] == [("2", "hat_x4")]
    assert [Path(p.file).name for p in ds.problems] == ["1.png"]


def test_missing_folders_named(tmp_path):
    with pytest.raises(DatasetError, match="nowhere"):
        discover(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="no methods/ folder"):
        discover(tmp_path)
    with pytest.raises(DatasetError, match="reference folder.*nope"):
        _img(tmp_path / "d/1.png")
        discover_pair(tmp_path / "nope", tmp_path / "d")


def test_scenarios_and_families(tmp_path):
    root = _dataset(tmp_path)
    (root / "scenarios.csv").write_text(
        "image,scenario\na.png,medium face\na,text\nb,food\na,text\nghost,crowd\n")
    (root / "methods.csv").write_text("method,family\nhat,gan\nsupir,Diffusion\nold,other\n")
    ds = discover(root)
    assert ds.scenarios == {"a": ("medium face", "text"), "b": ("food",), "ghost": ("crowd",)}
    assert ds.families == {"hat": "gan", "supir": "diffusion", "old": "other"}
    unused = {p.reason for p in ds.problems if p.file.endswith(".csv")}
    assert unused == {"image 'ghost' is not in the dataset; its tags are unused",
                      "method 'old' has no folder in methods/; unused"}


@pytest.mark.parametrize("name,text,match", [
    ("scenarios.csv", "img,scenario\na,food\n", r"scenarios.csv, line 1: header 'img,scenario'"),
    ("scenarios.csv", "image,scenario\na,food\nb,\n", r"scenarios.csv, line 3: empty scenario"),
    ("scenarios.csv", "image,scenario\na,food,x\n", r"scenarios.csv, line 2: expected 2 values"),
    ("scenarios.csv", 'image,scenario\na,text\na,"faces;indoor"\n',
     r"scenarios.csv, line 3: scenario 'faces;indoor' contains ';'"),
    ("methods.csv", "method,family\nhat,gan\nsupir,transformer\n",
     r"methods.csv, line 3: family 'transformer' of method 'supir'"),
    ("methods.csv", "method,family\nhat,gan\nhat,diffusion\n",
     r"methods.csv, line 3: method 'hat' is given two families"),
    ("methods.csv", "", r"methods.csv: empty file"),
])
def test_bad_csv_named(tmp_path, name, text, match):
    path = tmp_path / name
    path.write_text(text)
    reader = read_scenarios if name == "scenarios.csv" else read_families
    with pytest.raises(DatasetError, match=match):
        reader(path)
