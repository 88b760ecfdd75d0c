"""Convenience API: score arrays with any registered metric by name.

>>> from eyetest.metrics import score
>>> score("psnr", distorted, reference, data_range=255)            # doctest: +SKIP
>>> score("niqe", image, data_range=255, preset="sr-y-crop4")      # doctest: +SKIP

Parameter files are loaded for you; the pure functions live in
:mod:`eyetest.core.metrics`.
"""

from eyetest.core.metrics.registry import MetricSpec, get_metric, list_metrics
from eyetest.run.compute import score_arrays as score

__all__ = ["MetricSpec", "get_metric", "list_metrics", "score"]
