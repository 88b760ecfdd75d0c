"""Image manipulations used by audits and the demo (USM, resampling, blur, DoF, JPEG, noise, ...).

Every manipulation is a pure function
``f(image, *, data_range, strength, rng=None, **params)``: images on
``[0, data_range]``, dtype preserved (integers rounded half away from zero and
clipped), ``strength == 0`` the exact identity, randomness only through
``rng``.  :mod:`eyetest.core.manipulate.registry` lists them by name with their
kind and default strength grid.
"""

from eyetest.core.manipulate.blur import depth_of_field, focus_mask, gaussian_blur, motion_blur
from eyetest.core.manipulate.degrade import jpeg, noise
from eyetest.core.manipulate.registry import (
    Manipulation,
    get_manipulation,
    list_manipulations,
    register,
)
from eyetest.core.manipulate.resample import down_up
from eyetest.core.manipulate.sharpen import deblur, identity, oversharpen, unsharp_mask
from eyetest.core.manipulate.texture import overgenerate, texture_mask
from eyetest.core.manipulate.tone import contrast_boost, saturation_boost

__all__ = [
    "Manipulation",
    "contrast_boost",
    "deblur",
    "depth_of_field",
    "down_up",
    "focus_mask",
    "gaussian_blur",
    "get_manipulation",
    "identity",
    "jpeg",
    "list_manipulations",
    "motion_blur",
    "noise",
    "overgenerate",
    "oversharpen",
    "register",
    "saturation_boost",
    "texture_mask",
    "unsharp_mask",
]
