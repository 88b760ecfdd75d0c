"""Compute one registered metric on arrays, with a preset applied.

This is the single numerical path every caller uses (``eyetest score``, the
audit, the demo, the public wrappers in :mod:`eyetest.metrics`): resolve the
preset, convert colour and crop with :func:`eyetest.core.metrics.prepare.prepare`,
load the metric's parameter files, call the metric.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eyetest.core.metrics.prepare import prepare
from eyetest.core.metrics.registry import MetricSpec, get_metric
from eyetest.errors import MetricInputError
from eyetest.io.resources import load_resource

_INPUT_KEYS = ("color", "crop")


def split_settings(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split effective settings into (input convention, metric kwargs)."""
    conv = {k: settings[k] for k in _INPUT_KEYS if k in settings}
    kwargs = {k: v for k, v in settings.items() if k not in _INPUT_KEYS}
    return conv, kwargs


def load_weight_kwargs(spec: MetricSpec) -> dict[str, Any]:
    """Network weights a metric takes as arguments, from the offline cache.

    ``spec.extra["weights"]`` maps a keyword argument of ``spec.func`` to a
    weights-manager name (:mod:`eyetest.backends.weights`); a missing file
    raises ResourceMissingError naming the file, its SHA256 and the
    ``eyetest weights fetch|import`` commands.
    """
    names = dict(spec.extra.get("weights", {}))
    if not names:
        return {}
    from eyetest.backends.weights import load_state_dict

    return {kw: load_state_dict(name) for kw, name in names.items()}


def score_arrays(
    metric: str | MetricSpec,
    distorted: np.ndarray,
    reference: np.ndarray | None = None,
    *,
    data_range: float,
    preset: str = "matlab",
    **overrides: Any,
) -> float:
    """Score ``distorted`` (against ``reference`` for FR metrics) under a preset.

    ``overrides`` replace individual settings of the preset (e.g.
    ``crop=8`` or ``downsample=True``).
    """
    spec = metric if isinstance(metric, MetricSpec) else get_metric(metric)
    if spec.kind == "distribution":
        raise MetricInputError(
            f"metric {spec.name!r} compares sets of images; it has no per-image score"
        )
    settings = spec.settings(preset)
    settings.update(overrides)
    conv, kwargs = split_settings(settings)
    for name in spec.resources:
        kwargs[name] = load_resource(name)
    kwargs.update(load_weight_kwargs(spec))
    dist, rng = prepare(distorted, data_range=data_range, **conv)
    if spec.kind == "FR":
        if reference is None:
            raise MetricInputError(f"metric {spec.name!r} is full-reference: give a reference")
        ref, _ = prepare(reference, data_range=data_range, **conv)
        if ref.shape != dist.shape:
            raise MetricInputError(
                f"{spec.name}: reference shape {ref.shape} != distorted shape {dist.shape}"
            )
        return float(spec.func(ref, dist, data_range=rng, **kwargs))
    return float(spec.func(dist, data_range=rng, **kwargs))


def _set_settings(spec: MetricSpec, preset: str, overrides: dict[str, Any]):
    if spec.kind != "distribution":
        raise MetricInputError(f"metric {spec.name!r} is {spec.kind}, not a distribution metric")
    settings = spec.settings(preset)
    settings.update(overrides)
    conv, kwargs = split_settings(settings)
    feat_kw = {k: kwargs.pop(k) for k in spec.extra.get("feature_settings", ()) if k in kwargs}
    return conv, feat_kw, kwargs


def set_features(
    metric: str | MetricSpec,
    images,
    *,
    data_range: float,
    preset: str = "matlab",
    device: str | None = "auto",
    batch_size: int = 32,
    **overrides: Any,
) -> np.ndarray:
    """Features (one row per image) that a distribution metric compares.

    The preset's colour/crop convention is applied to every image and the
    metric's feature extractor (``spec.extra["feature_func"]``) runs with the
    preset's feature settings (e.g. ``resize``) and the cached weights.
    Metrics with the same ``spec.extra["features"]`` and settings (FID and
    KID) share these features.
    """
    spec = metric if isinstance(metric, MetricSpec) else get_metric(metric)
    conv, feat_kw, _ = _set_settings(spec, preset, overrides)
    feat_kw.update(load_weight_kwargs(spec))
    prepared = [prepare(im, data_range=data_range, **conv) for im in images]
    rng = prepared[0][1] if prepared else float(data_range)
    return spec.extra["feature_func"]([p[0] for p in prepared], data_range=rng, device=device,
                                      batch_size=batch_size, **feat_kw)


def compare_features(metric: str | MetricSpec, reference_features, distorted_features, *,
                     preset: str = "matlab", notes: list[str] | None = None,
                     **overrides: Any) -> float:
    """A distribution metric's value from two feature arrays (see :func:`set_features`).

    ``notes``: a list that a metric whose ``spec.extra["takes_notes"]`` is true
    (FID, KID) appends its caveats to (:class:`~eyetest.core.metrics.fid.SmallSampleWarning`
    messages) instead of warning; other metrics warn as usual.  This replaces
    recording warnings with ``warnings.catch_warnings``, which is not
    thread-safe (it would take other threads' warnings as this metric's).
    """
    spec = metric if isinstance(metric, MetricSpec) else get_metric(metric)
    _, _, kwargs = _set_settings(spec, preset, overrides)
    if notes is not None and spec.extra.get("takes_notes"):
        kwargs["notes"] = notes
    return float(spec.func(reference_features, distorted_features, **kwargs))


def score_sets(
    metric: str | MetricSpec,
    reference_images,
    distorted_images,
    *,
    data_range: float,
    preset: str = "matlab",
    device: str | None = "auto",
    batch_size: int = 32,
    **overrides: Any,
) -> float:
    """Score a distribution metric (FID, KID) between two sets of images.

    The preset's colour/crop convention is applied to every image, the
    metric's feature extractor (``spec.extra["feature_func"]``) runs with the
    preset's feature settings (e.g. ``resize``) and the cached weights, and
    ``spec.func`` compares the two feature arrays; i.e.
    :func:`compare_features` of the two :func:`set_features`.
    """
    spec = metric if isinstance(metric, MetricSpec) else get_metric(metric)
    kw = dict(data_range=data_range, preset=preset, device=device, batch_size=batch_size,
              **overrides)
    return compare_features(spec, set_features(spec, reference_images, **kw),
                            set_features(spec, distorted_images, **kw), preset=preset,
                            **overrides)
