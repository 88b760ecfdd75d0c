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
