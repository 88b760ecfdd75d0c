"""Score a dataset: build work units, use the cache, run them, write table + manifest.

The work unit is one (image, method) (:mod:`eyetest.run.unit`): both images
are read once and every requested metric is computed on them through
:func:`eyetest.run.compute.score_arrays` (the single numerical path).
A unit that fails (unreadable file, size, channel or data-range mismatch
with its reference, a metric raising) becomes a
:class:`~eyetest.io.dataset.Problem` naming the file; the rest of the run
completes.  The driver hashes every file first (the cache keys); a worker
reads each file's bytes once, hashes them and decodes those bytes, so a file
rewritten in between is reported (and neither scored nor cached) instead of
being cached under the hash of its other version.  Each cached score keeps
the reader's conversion notes of its files, so the manifest of a cached run
lists them too.

Result table (tidy, one row per image, method, metric)::

    image, method, metric, value, scenario, family

``scenario`` holds the image's tags joined by ``";"`` (empty when unknown;
split it to break results down by scenario), ``family`` the method's family
from ``methods.csv`` (empty when unknown).  Rows are sorted by method, image
and the order of the requested metrics, so the table does not depend on the
number of workers, the executor (local pool or Ray) or on which scores came
from the cache.

Distribution metrics (FID, KID) add one row per method with ``image = "*"``
(:mod:`eyetest.run.distribution`).  Imported scores (``imports=``) are merged
last with :func:`eyetest.backends.imported.merge_imported`, which adds a
``source`` column (``eyetest`` or the file name); imported rows whose
(image, method) is not in the dataset become problems
(:func:`eyetest.backends.imported.match_dataset`).
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from eyetest import __version__
from eyetest.core.metrics.registry import MetricSpec, list_metrics
from eyetest.errors import DatasetError, SpecError, UnknownNameError
from eyetest.io.dataset import Dataset, Problem
from eyetest.io.images import READER_VERSION, max_pixels_limit
from eyetest.io.resources import load_resource, resource_sha256
from eyetest.io.tables import atomic_write_text, write_table
from eyetest.run.cache import ScoreCache, score_key, sha256_file
from eyetest.run.distribution import SET_IMAGE, score_distribution_metrics
from eyetest.run.executor import resolve_workers, run_tasks
from eyetest.run.imports import check_imports, merge_files, metric_descriptor
from eyetest.run.ray_executor import gpus_for_units, run_tasks_ray
from eyetest.run.resolve import check_weights, metric_spec
from eyetest.run.unit import Unit, UnitResult, score_unit

EXECUTORS = ("local", "ray")

COLUMNS = ["image", "method", "metric", "value", "scenario", "family"]


def default_metrics(*, has_reference: bool) -> list[MetricSpec]:
    """FR metrics (when there are references) and NR metrics that need nothing optional."""
    kinds = ("FR", "NR") if has_reference else ("NR",)
    return [s for s in list_metrics() if s.kind in kinds and not s.requires]


def resolve_metrics(names: Sequence[str] | None, *, has_reference: bool,
                    preset: str) -> list[MetricSpec]:
    """Specs for ``names`` (default :func:`default_metrics`), checked against the data.

    Distribution metrics (FID, KID) are allowed when the dataset has
    references; they give one value per method (see :mod:`eyetest.run.distribution`).
    """
    if names:
        specs, seen = [], set()
        for name in names:
            spec = metric_spec(name)
            if spec.name not in seen:
                seen.add(spec.name)
                specs.append(spec)
    else:
        specs = default_metrics(has_reference=has_reference)
        if not specs:
            raise DatasetError("no metric is registered that can score this dataset")
    for spec in specs:
        if spec.kind == "distribution" and not has_reference:
            raise DatasetError(f"metric {spec.name!r} compares each method's outputs with the "
                               "references, but the dataset has no references (gt/ or --ref)")
        if spec.kind == "FR" and not has_reference:
            raise DatasetError(f"metric {spec.name!r} is full-reference but the dataset has "
                               "no references (gt/ or --ref)")
    if not any(_defines(s, preset) for s in specs):
        known: set[str] = set()
        for s in specs:
            try:
                s.settings(preset)
            except UnknownNameError as exc:
                known.update(exc.known)
        raise UnknownNameError("preset", preset, known)  # every preset of these metrics
    return specs


def _defines(spec: MetricSpec, preset: str) -> bool:
    try:
        spec.settings(preset)
    except UnknownNameError:
        return False
    return True


def effective_preset(spec: MetricSpec, preset: str) -> str:
    """``preset`` if the metric defines it, else ``"matlab"``.

    ``matlab`` and ``sr-y-crop<N>`` exist for every metric; an extra name
    (e.g. ``skimage`` for SSIM) applies to the metrics that define it and the
    others fall back to ``matlab`` (recorded per metric in the manifest).
    """
    return preset if _defines(spec, preset) else "matlab"


def _notes_meta(res: UnitResult, item, *, fr: bool) -> dict[str, list[str]]:
    """Reader notes of the files a score depends on, by role, for its cache entry."""
    roles = [("distorted", item.distorted)] + ([("reference", item.reference)] if fr else [])
    return {role: list(res.notes[str(p)]) for role, p in roles if res.notes.get(str(p))}


def _restore_notes(entry: dict, item, notes: dict[str, list[str]]) -> None:
    """Put the reader notes kept in a cache entry back under the item's file paths."""
    kept = entry.get("notes")
    if not isinstance(kept, dict):
        return
    for role, p in (("distorted", item.distorted), ("reference", item.reference)):
        if p is not None and kept.get(role):
            notes[str(p)] = [str(n) for n in kept[role]]


def _jsonable(obj: Any) -> Any:
    """Settings as JSON values (tuples -> lists, anything else odd -> repr)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "item"):
        return obj.item()
    return repr(obj)


def _resource_hashes(spec: MetricSpec) -> dict[str, str]:
    """Pinned SHA256 of each parameter file and weight file a metric uses."""
    out = {}
    for res in spec.resources:
        load_resource(res)  # verify now; forked workers inherit the loaded copy
        out[res] = resource_sha256(res)
    weights = dict(spec.extra.get("weights", {}))
    if weights:
        from eyetest.backends.weights import get_weight_file

        for name in weights.values():
            out[f"weights:{name}"] = get_weight_file(name).sha256
    return out


@dataclass
class ScoreRun:
    """The outcome of :func:`score_dataset`."""

    table: pd.DataFrame
    manifest: dict
    problems: list[Problem]
    specs: list[MetricSpec]
    warnings: list[dict] = field(default_factory=list)

    @property
    def summary_specs(self) -> list:
        """Specs of every metric in the table (scored, then imported) for the summary."""
        known = {s.name for s in self.specs}
        extra = [m for m in dict.fromkeys(self.table["metric"]) if m not in known]
        return list(self.specs) + [metric_descriptor(m) for m in extra]


def _versions() -> dict[str, str]:
    import numpy
    import PIL
    import scipy

    return {"eyetest": __version__, "python": platform.python_version(),
            "numpy": numpy.__version__, "scipy": scipy.__version__, "pillow": PIL.__version__,
            "platform": platform.platform()}


def _executor_tasks(executor: str, units, *, workers: int, address: str | None, on_done):
    """The results of ``score_unit`` over ``units`` from the chosen executor."""
    if executor == "ray":
        return run_tasks_ray(score_unit, units, address=address,
                             num_cpus=workers if address is None else None,
                             gpus_per_task=gpus_for_units, on_done=on_done)
    return run_tasks(score_unit, units, workers=workers, on_done=on_done)


def _sort_rows(table: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Sort by method, image and metric order (``names`` first, then first appearance)."""
    if not len(table):
        return table.reset_index(drop=True)
    order = {n: i for i, n in enumerate(dict.fromkeys([*names, *table["metric"]]))}
    return (table.assign(_m=table["metric"].map(order))
            .sort_values(["method", "image", "_m"], kind="stable")
            .drop(columns="_m").reset_index(drop=True))


def score_dataset(dataset: Dataset, *, metrics: Sequence[str] | None = None,
                  preset: str = "matlab", workers: int | None = None,
                  cache: ScoreCache | None = None, alpha: str = "composite",
                  max_pixels: int | None = None, progress: bool = False,
                  executor: str = "local", address: str | None = None,
                  imports: Sequence = (), on_conflict: str = "error",
                  device: str | None = "auto") -> ScoreRun:
    """Score every item of ``dataset``; see the module docstring for the table.

    Parameters
    ----------
    metrics : metric names (default: :func:`default_metrics`); ``pyiqa:NAME``
        through the pyiqa adapter; distribution metrics (``fid``, ``kid``) give
        one row per method with ``image = "*"``.
    preset : ``matlab``, ``sr-y-crop<N>`` or a preset a metric defines.
    workers : processes (``None``/0 = all cores, 1 = in this process); with
        ``executor="ray"`` the CPUs of a private local cluster.
    cache : a :class:`ScoreCache`, or None to compute everything.
    alpha, max_pixels : passed to :func:`eyetest.io.images.read_image`.
    progress : show a tqdm bar on stderr.
    executor : ``"local"`` (process pool) or ``"ray"``
        (:func:`eyetest.run.ray_executor.run_tasks_ray`; GPUs requested per
        unit by :func:`~eyetest.run.ray_executor.gpus_for_units`).
    address : Ray cluster to join (``"auto"``, ``"HOST:6379"``); None starts
        a private local one.
    imports : files of scores computed elsewhere, merged with
        :func:`eyetest.backends.imported.merge_imported` in the given order.
    on_conflict : ``"error"``, ``"imported"`` or ``"native"`` (see merge_imported).
    device : torch device of the distribution metrics' feature extractor.
    """
    t0 = time.perf_counter()
    if executor not in EXECUTORS:
        raise SpecError("executor", f"must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if executor == "ray":
        from eyetest.run.ray_executor import _import_ray

        _import_ray()  # a clear error now, not after hashing the dataset
    max_pixels_limit(max_pixels)  # a bad $EYETEST_MAX_PIXELS fails now, naming it
    known_pairs = ({(i.image, i.method) for i in dataset.items}
                   | {(SET_IMAGE, m) for m in dataset.methods})
    import_paths = check_imports(list(imports), on_conflict, pairs=known_pairs)
    requested = resolve_metrics(metrics, has_reference=dataset.has_reference, preset=preset)
    problems = list(dataset.problems)
    specs, weight_problems = check_weights(requested)
    problems.extend(weight_problems)
    unit_specs = [s for s in specs if s.kind != "distribution"]
    set_specs = [s for s in specs if s.kind == "distribution"]
    names = tuple(s.name for s in unit_specs)
    resources = {s.name: _resource_hashes(s) for s in specs}
    presets = {s.name: effective_preset(s, preset) for s in specs}
    settings = {s.name: _jsonable(s.settings(presets[s.name])) for s in specs}
    reader = {"alpha": alpha, "reader_version": READER_VERSION}

    t_hash = time.perf_counter()
    hashes: dict[str, str] = {}
    items = []
    for item in dataset.items:
        paths = [item.distorted] + ([item.reference] if item.reference is not None else [])
        try:
            for p in paths:
                if str(p) not in hashes:
                    hashes[str(p)] = sha256_file(p)
        except OSError as exc:
            problems.append(Problem(str(getattr(exc, "filename", p) or p),
                                    f"cannot read file: {exc.strerror or exc}",
                                    item.image, item.method))
            continue
        items.append(item)
    hash_s = time.perf_counter() - t_hash

    values: dict[tuple[str, str], dict[str, float]] = {}
    keys: dict[tuple[str, str, str], str] = {}
    notes: dict[str, list[str]] = {}
    units = []
    for item in items:
        got: dict[str, float] = {}
        todo = []
        ref_hash = hashes.get(str(item.reference)) if item.reference is not None else None
        for spec in unit_specs:
            if spec.kind == "FR" and item.reference is None:
                continue
            if cache is not None:
                key = score_key(
                    metric=spec.name, metric_version=spec.version, settings=settings[spec.name],
                    eyetest_version=__version__, reader=reader,
                    resources=resources[spec.name],
                    distorted=hashes[str(item.distorted)],
                    reference=ref_hash if spec.kind == "FR" else None)
                keys[(item.method, item.image, spec.name)] = key
                cached = cache.entry(key)
                if cached is not None:
                    got[spec.name] = cached["value"]
                    _restore_notes(cached, item, notes)
                    continue
            todo.append(spec.name)
        values[(item.method, item.image)] = got
        if todo:
            units.append(Unit(item.image, item.method, str(item.distorted),
                              None if item.reference is None else str(item.reference),
                              tuple(todo), tuple(presets[m] for m in todo), alpha,
                              max_pixels, hashes[str(item.distorted)], ref_hash))

    n_workers = resolve_workers(workers)
    t_compute = time.perf_counter()
    seconds: dict[str, float] = {}
    by_pair = {(item.method, item.image): item for item in items}
    kinds = {s.name: s.kind for s in unit_specs}
    bar = None
    if progress and units:
        from tqdm import tqdm

        bar = tqdm(total=len(units), unit="img", desc="scoring", leave=False, dynamic_ncols=True)
    try:
        for res in _executor_tasks(executor, units, workers=n_workers, address=address,
                                   on_done=bar.update if bar is not None else None):
            values[(res.method, res.image)].update(res.values)
            problems.extend(res.problems)
            for k, v in res.seconds.items():
                seconds[k] = seconds.get(k, 0.0) + v
            for path, n in res.notes.items():
                notes[path] = list(n)
            if cache is not None:  # at once, so an interrupted run resumes from here
                item = by_pair[(res.method, res.image)]
                for metric, value in res.values.items():
                    cache.put(keys[(res.method, res.image, metric)], value, metric=metric,
                              image=res.image, method=res.method,
                              notes=_notes_meta(res, item, fr=kinds[metric] == "FR"))
    finally:
        if bar is not None:
            bar.close()
    sets = score_distribution_metrics(
        items, set_specs, hashes=hashes, presets=presets, settings=settings,
        resources=resources, reader=reader, cache=cache, alpha=alpha, max_pixels=max_pixels,
        device=device)
    for k, v in sets.seconds.items():
        seconds[k] = seconds.get(k, 0.0) + v
    seen = {(p.file, p.reason) for p in problems}
    for p in sets.problems:  # an unreadable file is also reported by its unit
        if (p.file, p.reason) not in seen:
            seen.add((p.file, p.reason))
            problems.append(p)
    compute_s = time.perf_counter() - t_compute

    rows = []
    for item in items:
        tags = ";".join(dataset.scenarios.get(item.image, ()))
        family = dataset.families.get(item.method, "")
        got = values[(item.method, item.image)]
        for name in names:
            if name in got:
                rows.append((item.image, item.method, name, float(got[name]), tags, family))
    for (method, name), value in sorted(sets.values.items()):
        rows.append((SET_IMAGE, method, name, float(value), "",
                     dataset.families.get(method, "")))
    table = pd.DataFrame(rows, columns=COLUMNS)
    order = [s.name for s in specs]
    table = _sort_rows(table, order)
    n_native = len(table)
    imported = []
    if import_paths:
        table, imported, import_problems = merge_files(table, import_paths,
                                                       on_conflict=on_conflict, pairs=known_pairs)
        problems.extend(import_problems)
        table = _sort_rows(table, order)

    root = dataset.root
    def rel(p: str) -> str:
        if root is not None:
            try:
                return str(Path(p).relative_to(root))
            except ValueError:
                pass
        return p

    manifest = {
        "versions": _versions(),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dataset": str(root) if root is not None else None,
        "preset": preset,
        "metrics": {s.name: {"kind": s.kind, "higher_is_better": s.higher_is_better,
                             "version": s.version, "preset": presets[s.name],
                             "settings": settings[s.name],
                             "resources": resources[s.name],
                             "reference": s.reference} for s in specs},
        "skipped_metrics": {s.name: "weight files missing or damaged (see problems)"
                            for s in requested if s not in specs},
        "distribution": {
            "image_marker": SET_IMAGE,
            "images": {f"{m}/{k}": n for (m, k), n in sorted(sets.images.items())},
            "computed": sets.computed,
        } if set_specs else None,
        "read": {"alpha": alpha, "max_pixels": max_pixels, "reader_version": READER_VERSION},
        "inputs": {rel(p): h for p, h in sorted(hashes.items())},
        "imported": imported,
        "on_conflict": on_conflict if imported else None,
        "methods": {m: {"family": dataset.families.get(m)} for m in dataset.methods},
        "counts": {"items": len(items), "units_computed": len(units), "rows": len(table),
                   "rows_scored": n_native,
                   "rows_imported": int((table["source"] != "eyetest").sum()) if imported else 0,
                   "problems": len(problems)},
        "executor": {"kind": executor, "address": address},
        "workers": n_workers,
        "cache": cache.stats() if cache is not None else None,
        "timings_s": {"hash": hash_s, "compute_wall": compute_s,
                      "total": time.perf_counter() - t0,
                      "per_metric_cpu": {k: v for k, v in seconds.items()}},
        "notes": {rel(p): n for p, n in sorted(notes.items())},
        "warnings": sets.warnings,
        "problems": [dict(p.to_dict(), file=rel(p.file)) for p in problems],
    }
    return ScoreRun(table, manifest, problems, specs, sets.warnings)


def manifest_path(out) -> Path:
    """``<out>.manifest.json`` next to the result table."""
    out = Path(out)
    return out.with_name(out.name + ".manifest.json")


def write_outputs(run: ScoreRun, out) -> tuple[Path, Path]:
    """Write the table (format by extension) and its manifest, both atomically."""
    out = Path(out)
    run.manifest["output"] = str(out)
    if run.manifest.get("dataset"):
        # "dataset" is the folder as given (relative to where scoring ran); this one stays
        # valid wherever the table and manifest are opened from, as long as they move together
        try:
            run.manifest["dataset_from_manifest"] = os.path.relpath(
                Path(run.manifest["dataset"]).resolve(), out.resolve().parent)
        except ValueError:                          # another drive (Windows): no relative path
            pass
    write_table(run.table, out)
    mpath = manifest_path(out)
    atomic_write_text(mpath, json.dumps(run.manifest, indent=2, default=repr, allow_nan=False,
                                        ensure_ascii=False) + "\n")
    return out, mpath


__all__ = ["COLUMNS", "ScoreRun", "Unit", "UnitResult", "default_metrics", "manifest_path",
           "resolve_metrics", "score_dataset", "score_unit", "write_outputs"]
