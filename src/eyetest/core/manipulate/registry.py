"""The manipulation registry: name -> :class:`Manipulation`.

Every registered function has the signature
``f(image, *, data_range, strength, rng=None, **params)``; ``strength == 0``
is the exact identity.

Kinds
-----
``trick``        adds energy that is not in the scene (sharpening, aliasing,
                 invented texture): a metric that rewards it can be gamed.
``degradation``  removes or corrupts information (blur, noise, JPEG, DoF,
                 anti-aliased down/up sampling): a metric should penalise it.
``enhancement``  global tone changes a viewer may legitimately prefer
                 (contrast, saturation): reported, never flagged.
``identity``     the control: every metric's delta must be exactly 0.

``fidelity_reducing`` is true for ``trick`` and ``degradation``: these make
the image less faithful to the untouched one, so a metric whose score
*improves* under them on most images is flagged as gameable by the audit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

from eyetest.core.manipulate.blur import depth_of_field, gaussian_blur, motion_blur
from eyetest.core.manipulate.degrade import jpeg, noise
from eyetest.core.manipulate.resample import down_up_aliased, down_up_antialiased
from eyetest.core.manipulate.sharpen import deblur, identity, oversharpen, unsharp_mask
from eyetest.core.manipulate.texture import overgenerate
from eyetest.core.manipulate.tone import contrast_boost, saturation_boost
from eyetest.errors import UnknownNameError

ManipulationKind = Literal["trick", "degradation", "enhancement", "identity"]


@dataclass(frozen=True)
class Manipulation:
    """A registered manipulation.

    Attributes
    ----------
    name : registry key (``"usm"``, ``"downup-alias"``).
    func : ``f(image, *, data_range, strength, rng=None, **params)``.
    kind : see module docstring.
    strengths : default strength grid, increasing, all > 0.
    unit : what one unit of strength means (axis label of plots).
    random : needs an ``rng``.
    sharpening : used by the context-blur audit to "remove" intended blur.
    description : one line.
    params : default keyword parameters passed to ``func``.
    max_strength : strengths must be below it (exclusive), ``None`` = no bound
        (``jpeg``: quality ``100 - s`` must stay above 0).
    """

    name: str
    func: Callable[..., Any]
    kind: ManipulationKind
    strengths: tuple[float, ...]
    unit: str
    random: bool = False
    sharpening: bool = False
    description: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    max_strength: float | None = None

    @property
    def fidelity_reducing(self) -> bool:
        """True for tricks and degradations (see module docstring)."""
        return self.kind in ("trick", "degradation")

    def __call__(self, image, *, data_range: float, strength: float, rng=None, **params):
        kw = dict(self.params)
        kw.update(params)
        return self.func(image, data_range=data_range, strength=strength, rng=rng, **kw)


_REGISTRY: dict[str, Manipulation] = {}


def register(m: Manipulation, *, replace: bool = False) -> Manipulation:
    """Add a manipulation (``replace=True`` to overwrite a name)."""
    if m.name in _REGISTRY and not replace and _REGISTRY[m.name] is not m:
        raise ValueError(f"manipulation {m.name!r} is already registered")
    if not m.strengths or any(s <= 0 for s in m.strengths) or list(m.strengths) != sorted(m.strengths):
        raise ValueError(f"manipulation {m.name!r}: strengths must be increasing and > 0")
    if m.max_strength is not None and m.strengths[-1] >= m.max_strength:
        raise ValueError(f"manipulation {m.name!r}: strengths must be < {m.max_strength}")
    _REGISTRY[m.name] = m
    return m


def get_manipulation(name: str) -> Manipulation:
    """The manipulation registered under ``name`` (case-insensitive)."""
    key = name.strip().lower()
    try:
        return _REGISTRY[key]
    except KeyError:
        raise UnknownNameError("manipulation", name, _REGISTRY) from None


def list_manipulations() -> list[Manipulation]:
    """All registered manipulations, in registration order."""
    return list(_REGISTRY.values())


for _m in (
    Manipulation("identity", identity, "identity", (1.0,), "none",
                 description="exact copy (control)"),
    Manipulation("usm", unsharp_mask, "trick", (0.25, 0.5, 1.0, 1.5, 2.0), "amount",
                 sharpening=True, description="unsharp mask, radius 1 px, amount = strength"),
    Manipulation("oversharpen", oversharpen, "trick", (0.25, 0.5, 0.75, 1.0, 1.5), "amount x3",
                 sharpening=True, description="USM (radius 1) iterated 3 times"),
    Manipulation("deblur", deblur, "trick", (0.5, 1.0, 1.5, 2.0, 3.0), "PSF sigma (px)",
                 sharpening=True, description="Richardson-Lucy, Gaussian PSF, 10 iterations"),
    Manipulation("downup-alias", down_up_aliased, "trick", (0.5, 1.0, 1.5, 2.0, 3.0),
                 "factor - 1", description="bicubic down by 1+s WITHOUT anti-aliasing, up again"),
    Manipulation("overgen", overgenerate, "trick", (2.0, 4.0, 8.0, 12.0, 16.0), "8-bit levels RMS",
                 random=True, description="band-limited texture + grain where already textured"),
    Manipulation("downup-aa", down_up_antialiased, "degradation", (0.5, 1.0, 1.5, 2.0, 3.0),
                 "factor - 1", description="bicubic down by 1+s with anti-aliasing, up again"),
    Manipulation("gaussian-blur", gaussian_blur, "degradation", (0.5, 1.0, 1.5, 2.0, 3.0),
                 "sigma (px)", description="Gaussian blur"),
    Manipulation("motion-blur", motion_blur, "degradation", (2.0, 4.0, 8.0, 12.0, 16.0),
                 "length (px)", description="horizontal line kernel"),
    Manipulation("dof", depth_of_field, "degradation", (1.0, 2.0, 4.0, 6.0, 8.0), "sigma (px)",
                 description="Gaussian blur outside a centre-weighted focus mask"),
    Manipulation("jpeg", jpeg, "degradation", (10.0, 30.0, 50.0, 70.0, 90.0), "100 - quality",
                 description="JPEG (Pillow/libjpeg, 4:2:0) at quality 100 - s", max_strength=100.0),
    Manipulation("noise", noise, "degradation", (2.0, 5.0, 10.0, 15.0, 25.0), "sigma (8-bit levels)",
                 random=True, description="additive white Gaussian noise"),
    Manipulation("contrast", contrast_boost, "enhancement", (0.1, 0.2, 0.3, 0.5, 0.8), "gain - 1",
                 description="contrast stretch about the mean luma"),
    Manipulation("saturation", saturation_boost, "enhancement", (0.2, 0.4, 0.6, 1.0, 1.5),
                 "gain - 1", description="chroma scaled about each pixel's luma"),
):
    register(_m)
