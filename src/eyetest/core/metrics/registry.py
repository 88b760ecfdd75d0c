"""The metric registry: one :class:`MetricSpec` per metric.

Calling conventions of ``MetricSpec.func`` (all pure functions on arrays):

* ``kind == "FR"``: ``func(reference, distorted, *, data_range, **settings)``
* ``kind == "NR"``: ``func(image, *, data_range, **settings)``
* ``kind == "distribution"``: ``func(reference_features, distorted_features,
  **settings)`` on per-set feature arrays (FID/KID style).

Each name in ``resources`` is a parameter file that :mod:`eyetest.io.resources`
loads and passes to ``func`` as a keyword argument of the same name (core
never reads files).  ``requires`` names optional extras or weight files
(``"torch"``, ``"weights:lpips-alex"``) for listing and clear errors.

Presets
-------
A preset fixes the input convention (``color`` and ``crop``, see
:mod:`eyetest.core.metrics.prepare`) and any metric settings:

``matlab``        what the metric authors' MATLAB code gives on the image as
                  given; every spec must define it.
``sr-y-crop<N>``  the super-resolution protocol: BT.601 Y on 16-235 as float64
                  on 0-255, ``N`` pixels cropped at every border.  A spec may
                  add metric settings for it under the key ``"sr-y"``.
others            any extra names a spec defines (e.g. ``skimage`` for SSIM).

Built-in metric modules in this package register themselves on import;
:func:`get_metric` and :func:`list_metrics` import them on first use.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

from eyetest.errors import UnknownNameError

Kind = Literal["FR", "NR", "distribution"]

_SR_PRESET = re.compile(r"sr-y-crop(\d+)")
_NOT_METRIC_MODULES = {"registry", "prepare"}


@dataclass(frozen=True)
class MetricSpec:
    """Everything eyetest needs to know to run, list and interpret a metric.

    Attributes
    ----------
    name : registry key, lower case (``"psnr"``, ``"ms-ssim"``).
    kind : ``"FR"`` (needs a reference), ``"NR"`` or ``"distribution"``.
    higher_is_better : direction of "better".
    value_range : typical range of values, for plots and sanity checks.
    func : the computation (see module docstring for its signature).
    presets : preset name -> settings dict (``color``, ``crop``, metric kwargs).
    resources : parameter files passed to ``func`` by name.
    requires : optional extras / weights needed (for listing and errors).
    description, reference : one line each; the reference is a citation.
    version : bump when the numbers change so cached scores are invalidated.
    """

    name: str
    kind: Kind
    higher_is_better: bool
    value_range: tuple[float, float]
    func: Callable[..., Any]
    presets: Mapping[str, Mapping[str, Any]]
    resources: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    description: str = ""
    reference: str = ""
    version: str = "1"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ("FR", "NR", "distribution"):
            raise ValueError(f"metric {self.name!r}: kind must be FR, NR or distribution")
        if "matlab" not in self.presets:
            raise ValueError(f"metric {self.name!r}: every spec must define the 'matlab' preset")

    @property
    def direction(self) -> str:
        """An arrow for tables: ``"↑"`` when higher is better, else ``"↓"``."""
        return "↑" if self.higher_is_better else "↓"

    def settings(self, preset: str) -> dict[str, Any]:
        """Effective settings (``color``, ``crop`` and metric kwargs) of a preset."""
        m = _SR_PRESET.fullmatch(preset)
        if m:
            out: dict[str, Any] = dict(self.presets.get("sr-y", {}))
            out.update(color="y", crop=int(m.group(1)))
            return out
        if preset not in self.presets or preset == "sr-y":
            known = [p for p in self.presets if p != "sr-y"] + ["sr-y-crop<N>"]
            raise UnknownNameError(f"preset of metric {self.name!r}", preset, known)
        out = {"color": "as-is", "crop": 0}
        out.update(self.presets[preset])
        return out


_REGISTRY: dict[str, MetricSpec] = {}
_BUILTIN_LOADED = False


def register(spec: MetricSpec, *, replace: bool = False) -> MetricSpec:
    """Add a metric to the registry (``replace=True`` to overwrite a name)."""
    if spec.name in _REGISTRY and not replace and _REGISTRY[spec.name] is not spec:
        raise ValueError(f"metric {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def _load_builtin() -> None:
    global _BUILTIN_LOADED
    if _BUILTIN_LOADED:
        return
    _BUILTIN_LOADED = True
    package = importlib.import_module("eyetest.core.metrics")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or info.name in _NOT_METRIC_MODULES:
            continue
        importlib.import_module(f"eyetest.core.metrics.{info.name}")


def get_metric(name: str) -> MetricSpec:
    """The spec registered under ``name`` (case-insensitive)."""
    _load_builtin()
    key = name.strip().lower()
    try:
        return _REGISTRY[key]
    except KeyError:
        raise UnknownNameError("metric", name, _REGISTRY) from None


def list_metrics() -> list[MetricSpec]:
    """All registered specs, sorted by kind then name."""
    _load_builtin()
    return sorted(_REGISTRY.values(), key=lambda s: (s.kind, s.name))
