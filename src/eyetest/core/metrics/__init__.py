"""Image-quality metrics (pure numpy/scipy; torch only where guarded).

One module per metric family; each registers a
:class:`~eyetest.core.metrics.registry.MetricSpec` on import.  Use
:func:`get_metric` / :func:`list_metrics`, or call the functions directly.
"""

from eyetest.core.metrics.registry import MetricSpec, get_metric, list_metrics, register
from eyetest.core.metrics.fid import frechet_distance

__all__ = ["MetricSpec", "frechet_distance", "get_metric", "list_metrics", "register"]
