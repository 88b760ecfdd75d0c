"""Find the (image, method) pairs of a dataset folder, matched by file stem.

Two forms (see DESIGN.md)::

    DATASET/
      gt/                 references (optional: NR-only datasets have none)
      lq/                 degraded inputs (optional, not scored)
      methods/<name>/     one folder per method; files matched to gt/ by stem
      scenarios.csv       image,scenario   (one row per tag; optional)
      methods.csv         method,family    (optional)

and ``--ref DIR --dist DIR`` (:func:`discover_pair`), the method being named
after ``DIR``'s folder name.

Files are matched by *file stem* (``0001.png`` <-> ``0001.jpg``), never by
sorted position.  Problems (a missing output, an output without reference,
two files with one stem in a folder, a non-image file, a subfolder inside an
image folder (folders are not searched recursively), a ``scenarios.csv`` /
``methods.csv`` row naming an unknown image or method) are collected in
``Dataset.problems`` with the file name and reason; those files are skipped
and the rest is scored.  Hidden files and folders (names starting with ``.``)
are ignored.  Size mismatches are found when the images are read
(:mod:`eyetest.run.score`).  A malformed CSV (bad header, empty value,
unknown family, a scenario tag containing ``;``) is a
:class:`~eyetest.errors.DatasetError` naming the file, line and value.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from eyetest.errors import DatasetError
from eyetest.io.images import IMAGE_EXTENSIONS

FAMILIES = ("psnr-oriented", "gan", "diffusion", "other")


@dataclass(frozen=True)
class Problem:
    """Something skipped: ``file`` names it, ``reason`` says why."""

    file: str
    reason: str
    image: str | None = None
    method: str | None = None

    def to_dict(self) -> dict:
        return {"file": self.file, "reason": self.reason, "image": self.image,
                "method": self.method}

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


@dataclass(frozen=True)
class Item:
    """One output to score: ``distorted`` (and its ``reference`` if any)."""

    image: str
    method: str
    distorted: Path
    reference: Path | None = None


@dataclass
class Dataset:
    """Matched items plus metadata and the problems met while matching."""

    root: Path | None
    items: list[Item]
    methods: list[str]
    references: dict[str, Path] = field(default_factory=dict)
    scenarios: dict[str, tuple[str, ...]] = field(default_factory=dict)
    families: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def has_reference(self) -> bool:
        return bool(self.references)


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def list_images(folder: Path, problems: list[Problem], *, method: str | None = None,
                duplicates: set[str] | None = None) -> dict[str, Path]:
    """Image files of ``folder`` by stem; duplicates, non-images and subfolders become problems.

    The stems shared by several files (all skipped) are added to ``duplicates``
    when it is given.  Hidden entries are ignored; subfolders are not searched.
    """
    by_stem: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir():
            problems.append(Problem(str(path), "subfolder ignored: eyetest does not look "
                                    f"into subfolders; put the images directly in {folder}",
                                    method=method))
            continue
        if not _is_image(path):
            problems.append(Problem(str(path), "not an image file (extension "
                                    f"{path.suffix or 'none'}); skipped", method=method))
            continue
        by_stem.setdefault(path.stem, []).append(path)
    out = {}
    for stem, paths in by_stem.items():
        if len(paths) > 1:
            if duplicates is not None:
                duplicates.add(stem)
            names = ", ".join(p.name for p in paths)
            for p in paths:
                problems.append(Problem(str(p), f"several files share the stem {stem!r} "
                                        f"({names}); all skipped", image=stem, method=method))
        else:
            out[stem] = paths[0]
    return out


def _match(method: str, outputs: dict[str, Path], refs: dict[str, Path] | None,
           ref_dir: Path | None, problems: list[Problem],
           duplicates: set[str] = frozenset()) -> list[Item]:
    items = []
    if refs is None:
        return [Item(stem, method, path) for stem, path in sorted(outputs.items())]
    for stem, path in sorted(outputs.items()):
        if stem in refs:
            items.append(Item(stem, method, path, refs[stem]))
        else:
            problems.append(Problem(str(path), f"no reference with stem {stem!r} in {ref_dir}; "
                                    "skipped", image=stem, method=method))
    for stem, ref in sorted(refs.items()):
        if stem in duplicates:
            problems.append(Problem(str(ref), f"method {method!r} has several outputs with "
                                    f"stem {stem!r}, all skipped (see their problems); not "
                                    "scored for this method", image=stem, method=method))
        elif stem not in outputs:
            problems.append(Problem(str(ref), f"method {method!r} has no output with stem "
                                    f"{stem!r}; skipped", image=stem, method=method))
    return items


def _read_csv(path: Path, columns: tuple[str, str]) -> list[tuple[int, str, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from exc
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise DatasetError(f"{path}: empty file; expected the header {','.join(columns)}")
    header = tuple(h.strip().lower() for h in rows[0])
    if header != columns:
        raise DatasetError(f"{path}, line 1: header {','.join(rows[0])!r} should be "
                           f"{','.join(columns)!r}")
    out = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2:
            raise DatasetError(f"{path}, line {lineno}: expected 2 values, got {len(row)}: "
                               f"{','.join(row)!r}")
        a, b = row[0].strip(), row[1].strip()
        for name, value in zip(columns, (a, b)):
            if not value:
                raise DatasetError(f"{path}, line {lineno}: empty {name} in {','.join(row)!r}")
        out.append((lineno, a, b))
    return out


def read_scenarios(path) -> dict[str, tuple[str, ...]]:
    """``scenarios.csv`` (``image,scenario``, one row per tag) -> image stem -> tags.

    The image may be given as a stem or a file name with an image extension.
    Tags keep their first-seen order; a repeated (image, scenario) row is ignored.
    A tag may not contain ``;``, which joins the tags in the result table
    (give one row per tag).
    """
    path = Path(path)
    out: dict[str, list[str]] = {}
    for lineno, image, scenario in _read_csv(path, ("image", "scenario")):
        if ";" in scenario:
            raise DatasetError(f"{path}, line {lineno}: scenario {scenario!r} contains ';', "
                               "which separates tags in the result table; give one row per "
                               "tag")
        stem = Path(image).stem if _is_image(Path(image)) else image
        tags = out.setdefault(stem, [])
        if scenario not in tags:
            tags.append(scenario)
    return {k: tuple(v) for k, v in out.items()}


def read_families(path) -> dict[str, str]:
    """``methods.csv`` (``method,family``) -> method -> family (one of :data:`FAMILIES`)."""
    path = Path(path)
    out: dict[str, str] = {}
    for lineno, method, family in _read_csv(path, ("method", "family")):
        fam = family.lower()
        if fam not in FAMILIES:
            raise DatasetError(f"{path}, line {lineno}: family {family!r} of method {method!r} "
                               f"is not one of {', '.join(FAMILIES)}")
        if method in out and out[method] != fam:
            raise DatasetError(f"{path}, line {lineno}: method {method!r} is given two families "
                               f"({out[method]!r} and {fam!r})")
        out[method] = fam
    return out


def _check_dir(path: Path, what: str) -> Path:
    if not path.exists():
        raise DatasetError(f"{what} {str(path)!r} does not exist")
    if not path.is_dir():
        raise DatasetError(f"{what} {str(path)!r} is not a folder")
    return path


def discover(root) -> Dataset:
    """Read a dataset folder in the DESIGN.md layout."""
    root = _check_dir(Path(root), "dataset folder")
    problems: list[Problem] = []
    gt = root / "gt"
    refs = list_images(gt, problems) if gt.is_dir() else None
    mdir = root / "methods"
    if not mdir.is_dir():
        raise DatasetError(f"dataset {str(root)!r} has no methods/ folder "
                           "(expected methods/<name>/ with one folder per method)")
    methods = sorted(p.name for p in mdir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not methods:
        raise DatasetError(f"{str(mdir)!r} contains no method folders")
    items: list[Item] = []
    for method in methods:
        dups: set[str] = set()
        outputs = list_images(mdir / method, problems, method=method, duplicates=dups)
        items.extend(_match(method, outputs, refs, gt if refs is not None else None, problems,
                            dups))
    scenarios = {}
    if (root / "scenarios.csv").is_file():
        scenarios = read_scenarios(root / "scenarios.csv")
        known = set(refs or ()) | {i.image for i in items}
        for stem in sorted(set(scenarios) - known):
            problems.append(Problem(str(root / "scenarios.csv"),
                                    f"image {stem!r} is not in the dataset; its tags are unused",
                                    image=stem))
    families = {}
    if (root / "methods.csv").is_file():
        families = read_families(root / "methods.csv")
        for method in sorted(set(families) - set(methods)):
            problems.append(Problem(str(root / "methods.csv"),
                                    f"method {method!r} has no folder in methods/; unused",
                                    method=method))
    return Dataset(root, items, methods, dict(refs or {}), scenarios, families, problems)


def write_image(root, name: str, gt, lq, outputs) -> None:
    """Write one image of a dataset in the layout :func:`discover` reads, atomically per file.

    ``gt/<name>.png``, ``lq/<name>.png`` and ``methods/<method>/<name>.png``
    for each ``method -> array`` of ``outputs`` (arrays: uint8/uint16, see
    :func:`eyetest.io.images.encode_png`).
    """
    from eyetest.io.images import encode_png
    from eyetest.io.tables import atomic_write_bytes

    root = Path(root)
    atomic_write_bytes(root / "gt" / f"{name}.png", encode_png(gt))
    atomic_write_bytes(root / "lq" / f"{name}.png", encode_png(lq))
    for method, out in outputs.items():
        atomic_write_bytes(root / "methods" / method / f"{name}.png", encode_png(out))


def write_tables(root, scenarios, families) -> None:
    """Write ``scenarios.csv`` (``image -> tags``) and ``methods.csv`` (``method -> family``)."""
    from eyetest.io.tables import atomic_write_text

    root = Path(root)
    scen = ["image,scenario"] + [f"{image},{tag}" for image, tags in scenarios.items() for tag in tags]
    atomic_write_text(root / "scenarios.csv", "\n".join(scen) + "\n")
    fam = ["method,family"] + [f"{m},{f}" for m, f in families.items()]
    atomic_write_text(root / "methods.csv", "\n".join(fam) + "\n")


def discover_pair(reference_dir, distorted_dir, *, method: str | None = None) -> Dataset:
    """The two-folder form: outputs in ``distorted_dir`` against ``reference_dir``.

    The method is named after ``distorted_dir`` (its folder name) unless given.
    ``reference_dir`` may be None for NR-only scoring of one folder.
    """
    dist = _check_dir(Path(distorted_dir), "distorted folder")
    problems: list[Problem] = []
    name = method or dist.resolve().name
    refs = None
    if reference_dir is not None:
        ref = _check_dir(Path(reference_dir), "reference folder")
        refs = list_images(ref, problems)
    dups: set[str] = set()
    outputs = list_images(dist, problems, method=name, duplicates=dups)
    items = _match(name, outputs, refs, Path(reference_dir) if refs is not None else None,
                   problems, dups)
    return Dataset(None, items, [name], dict(refs or {}), {}, {}, problems)
