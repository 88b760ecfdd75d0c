"""Metric names for ``eyetest score``: ``pyiqa:NAME`` and a weights check before scoring."""

from __future__ import annotations

from typing import Sequence

from eyetest.core.metrics.registry import MetricSpec, get_metric
from eyetest.errors import ResourceMissingError
from eyetest.io.dataset import Problem

PYIQA_PREFIX = "pyiqa:"


def metric_spec(name: str) -> MetricSpec:
    """The spec of a registered metric, or of ``pyiqa:NAME`` through the pyiqa adapter.

    ``pyiqa:NAME`` is registered on first use by
    :func:`eyetest.backends.pyiqa.resolve` (in every process that scores it,
    so process-pool and Ray workers resolve it too).  Without pyiqa installed
    this raises :class:`~eyetest.errors.ResourceMissingError` naming the extra.
    """
    if not name.strip().lower().startswith(PYIQA_PREFIX):
        return get_metric(name)
    from eyetest.backends import pyiqa

    if not pyiqa.available():
        raise ResourceMissingError(
            f"metric {name!r} needs the optional extra 'pyiqa', which is not installed: "
            f"install it with `pip install 'eyetest[pyiqa]'` (or `pip install pyiqa`) where its "
            f"licence fits ({pyiqa.LICENSE_NOTE}); it pulls torchvision, so use an environment "
            "of its own")
    return pyiqa.resolve(name.strip().lower())


def check_weights(specs: Sequence[MetricSpec]) -> tuple[list[MetricSpec], list[Problem]]:
    """Drop the metrics whose weight files are missing or damaged, one problem per file.

    Checked once in this process before any work is sent out, so a missing
    file is reported once (naming the file, its SHA256 and the
    ``eyetest weights fetch|import`` commands) instead of once per image, and
    the other metrics are still scored.
    """
    from eyetest.backends.weights import require, weight_path

    kept, problems = [], []
    for spec in specs:
        names = dict(spec.extra.get("weights", {})).values()
        missing = []
        for name in dict.fromkeys(names):
            try:
                require(name)
            except ResourceMissingError as exc:
                missing.append(Problem(str(weight_path(name)),
                                       f"{spec.name} not scored: {exc}"))
        if missing:
            problems.extend(missing)
        else:
            kept.append(spec)
    return kept, problems


__all__ = ["PYIQA_PREFIX", "check_weights", "metric_spec"]
