"""Distribution metrics (FID, KID) in ``eyetest score``: one value per method.

A distribution metric compares a *set* of outputs with a set of references;
it has no per-image value.  ``eyetest score`` computes it once per method,
over all that method's outputs that have a reference, against the references
of the same images (so every method is compared with the content it was asked
to reproduce), through the numerical path of :func:`eyetest.run.compute.score_sets`
(:func:`~eyetest.run.compute.set_features` then
:func:`~eyetest.run.compute.compare_features`), with each image's features
computed once per run and shared by FID and KID and by methods with the same
references.  The value is written as a row of the tidy table with
``image = "*"`` (:data:`SET_IMAGE`), so the table keeps one schema.

Images enter each set in image-name order.  The cache key is that of a
per-image score with the ordered list of the files' SHA256s in place of one
file's hash (the order matters for KID's seeded subsets); a set with a
problem (an unreadable image, a file rewritten since the run hashed it, a
different data range) is computed on the rest, reported, and not cached, so
the problem is reported on every run.

Small samples: FID and KID note (:class:`~eyetest.core.metrics.fid.SmallSampleWarning`'s
message) when a set is small; the notes are kept in the cache entry and in the
manifest, so a cached run reports them too.  They come back from
:func:`~eyetest.run.compute.compare_features` in a list (``notes=``), not as
warnings recorded with ``warnings.catch_warnings``, which is not thread-safe:
it would take another thread's warnings for this metric's and hide them from
that thread.  A distribution metric that does not take ``notes``
(``spec.extra["takes_notes"]``) warns as usual.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from eyetest import __version__
from eyetest.core.metrics.registry import MetricSpec
from eyetest.errors import EyetestError, ImageReadError
from eyetest.io.dataset import Item, Problem
from eyetest.io.images import read_image
from eyetest.run.cache import ScoreCache, read_with_sha256, score_key
from eyetest.run.compute import compare_features, set_features, split_settings

#: ``image`` value of the rows that hold one value for a whole method
SET_IMAGE = "*"
MIN_IMAGES = 2


@dataclass
class SetResults:
    """Values per (method, metric) and what happened while computing them."""

    values: dict[tuple[str, str], float] = field(default_factory=dict)
    images: dict[tuple[str, str], int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    computed: int = 0


def set_hash(hashes: Sequence[str]) -> str:
    """SHA256 of an ordered list of file SHA256s (the cache's stand-in for one file)."""
    return hashlib.sha256(json.dumps(list(hashes)).encode("ascii")).hexdigest()


def _read(path, *, expected_sha256, alpha, max_pixels, image, method, problems):
    """Decode the bytes whose SHA256 is in the cache key, or record a problem and return None."""
    try:
        data, digest = read_with_sha256(path)
    except OSError as exc:
        problems.append(Problem(str(path), f"cannot read file: {exc.strerror or exc}", image,
                                method))
        return None
    if digest != expected_sha256:
        problems.append(Problem(str(path), "file changed while the run was reading it (its "
                                "SHA256 differs from the one hashed at the start); left out, "
                                "score again once it is complete", image, method))
        return None
    try:  # an alpha conversion is not reported from the set path (as before): no warning
        return read_image(path, alpha=alpha, max_pixels=max_pixels, data=data, warn=False)
    except ImageReadError as exc:
        problems.append(Problem(exc.path, exc.reason, image, method))
        return None


def _load_sets(items: Sequence[Item], *, hashes, alpha, max_pixels, problems):
    """Arrays of the readable pairs (same data range) and whether any pair was dropped.

    Only one method's sets are held in memory at a time.
    """
    refs, dists, dropped, data_range, kept = [], [], False, None, []
    for item in items:
        ref = _read(item.reference, expected_sha256=hashes[str(item.reference)], alpha=alpha,
                    max_pixels=max_pixels, image=item.image, method=None, problems=problems)
        dist = _read(item.distorted, expected_sha256=hashes[str(item.distorted)], alpha=alpha,
                     max_pixels=max_pixels, image=item.image, method=item.method,
                     problems=problems)
        if ref is None or dist is None:
            dropped = True
            continue
        if data_range is None:
            data_range = ref.data_range
        if ref.data_range != data_range or dist.data_range != data_range:
            problems.append(Problem(
                str(item.distorted), f"data range {dist.data_range:g} (reference "
                f"{ref.data_range:g}) differs from the set's {data_range:g}; left out of the "
                "distribution metrics (eyetest never rescales)", item.image, item.method))
            dropped = True
            continue
        refs.append(ref.array)
        dists.append(dist.array)
        kept.append(item)
    return refs, dists, dropped, data_range, kept


def _features(spec, items, refs, dists, *, hashes, settings, resources, data_range, preset,
              device, store):
    """Feature arrays of the reference and output sets, each image's computed once per run.

    Features are kept per (extractor and its settings, file SHA256), so FID and
    KID share them and a reference shared by several methods is run once.
    """
    conv, _ = split_settings(dict(settings))
    feat_keys = {k: settings[k] for k in spec.extra.get("feature_settings", ()) if k in settings}
    kind = json.dumps([spec.extra.get("features", spec.name), conv, feat_keys, resources],
                      sort_keys=True, default=repr)
    sides = []
    for arrays, paths in ((refs, [it.reference for it in items]),
                          (dists, [it.distorted for it in items])):
        keys = [(kind, hashes[str(p)]) for p in paths]
        todo = {}
        for key, arr in zip(keys, arrays):
            if key not in store and key not in todo:
                todo[key] = arr
        if todo:
            feats = set_features(spec, list(todo.values()), data_range=data_range,
                                 preset=preset, device=device)
            store.update(zip(todo, feats))
        sides.append(np.stack([store[k] for k in keys]))
    return sides


def score_distribution_metrics(
    items: Sequence[Item], specs: Sequence[MetricSpec], *, hashes: Mapping[str, str],
    presets: Mapping[str, str], settings: Mapping[str, Any],
    resources: Mapping[str, Mapping[str, str]], reader: Mapping[str, Any],
    cache: ScoreCache | None, alpha: str, max_pixels: int | None,
    device: str | None = "auto",
) -> SetResults:
    """One value per (method, distribution metric); see the module docstring."""
    out = SetResults()
    if not specs:
        return out
    by_method: dict[str, list[Item]] = {}
    for item in items:
        if item.reference is not None:
            by_method.setdefault(item.method, []).append(item)
    feature_store: dict[tuple[str, str], np.ndarray] = {}
    for method in sorted(by_method):
        group = sorted(by_method[method], key=lambda it: it.image)
        dist_key = set_hash([hashes[str(it.distorted)] for it in group])
        ref_key = set_hash([hashes[str(it.reference)] for it in group])
        keys, todo = {}, []
        for spec in specs:
            if cache is not None:
                keys[spec.name] = score_key(
                    metric=spec.name, metric_version=spec.version, settings=settings[spec.name],
                    eyetest_version=__version__, reader=reader, resources=resources[spec.name],
                    distorted=dist_key, reference=ref_key)
                value = cache.get(keys[spec.name])
                if value is not None:
                    meta = cache.meta(keys[spec.name]) or {}
                    out.values[(method, spec.name)] = value
                    out.images[(method, spec.name)] = int(meta.get("images", len(group)))
                    out.warnings.extend({"metric": spec.name, "method": method, "message": w}
                                        for w in meta.get("warnings", []))
                    continue
            todo.append(spec)
        if not todo:
            continue
        folder = str(Path(group[0].distorted).parent)
        refs, dists, dropped, data_range, group = _load_sets(
            group, hashes=hashes, alpha=alpha, max_pixels=max_pixels, problems=out.problems)
        if len(dists) < MIN_IMAGES:
            for spec in todo:
                out.problems.append(Problem(
                    folder, f"{spec.name}: needs at least {MIN_IMAGES} images with references, "
                    f"method {method!r} has {len(dists)} readable", None, method))
            continue
        for spec in todo:
            t = time.perf_counter()
            messages: list[str] = []
            try:
                feats = _features(spec, group, refs, dists, hashes=hashes,
                                  settings=settings[spec.name], resources=resources[spec.name],
                                  data_range=data_range, preset=presets[spec.name],
                                  device=device, store=feature_store)
                value = compare_features(spec, *feats, preset=presets[spec.name], notes=messages)
            except EyetestError as exc:
                out.problems.append(Problem(folder, f"{spec.name}: {exc}", None, method))
                continue
            except Exception as exc:  # a metric bug must not lose the rest of the run
                out.problems.append(Problem(folder, f"{spec.name} failed: "
                                            f"{type(exc).__name__}: {exc}", None, method))
                continue
            finally:
                out.seconds[spec.name] = out.seconds.get(spec.name, 0.0) + time.perf_counter() - t
            out.computed += 1
            out.values[(method, spec.name)] = value
            out.images[(method, spec.name)] = len(dists)
            out.warnings.extend({"metric": spec.name, "method": method, "message": m}
                                for m in messages)
            if cache is not None and not dropped:
                cache.put(keys[spec.name], value, metric=spec.name, image=SET_IMAGE,
                          method=method, images=len(dists), warnings=messages)
    return out


__all__ = ["MIN_IMAGES", "SET_IMAGE", "SetResults", "score_distribution_metrics", "set_hash"]
