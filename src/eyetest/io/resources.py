"""Parameter files shipped as package data, loaded for core metrics.

Core metric functions never read files; the runner (or the convenience
wrappers in :mod:`eyetest.metrics`) loads each resource named in a
``MetricSpec.resources`` with :func:`load_resource` and passes the result as a
keyword argument.  Every file is checked against its pinned SHA256.

======================  ===================================================
name                    content
======================  ===================================================
``niqe_pristine``       LIVE NIQE pristine MVG: ``mu_pris_param`` (1x36),
                        ``cov_pris_param`` (36x36), ``gaussian_window`` (7x7).
                        Mittal et al., IEEE SPL 2012; redistributed by
                        BasicSR under Apache-2.0 (see LICENSE file beside it).
``brisque_live``        LIVE BRISQUE epsilon-SVR: ``support_vectors``,
                        ``dual_coef``, ``rho``, ``gamma``, ``feature_min``,
                        ``feature_max``, ``scale_lower``, ``scale_upper``.
                        Mittal et al., IEEE TIP 2012 (NOTICE beside it).
======================  ===================================================
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources as _res
from types import MappingProxyType
from typing import Mapping

import numpy as np

from eyetest.errors import ResourceMissingError, UnknownNameError

#: name -> (file under eyetest/data, SHA256 of the file)
RESOURCES: dict[str, tuple[str, str]] = {
    "niqe_pristine": (
        "niqe/niqe_pristine_params.npz",
        "2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296",
    ),
    "brisque_live": (
        "brisque/brisque_live_svr.npz",
        "55fe26655906beb3b2ca2127f1f7b29f82c6e5d5e45c5f447df8b2a263346724",
    ),
}


def resource_path(name: str):
    """A Traversable for the resource file (inside the installed package)."""
    if name not in RESOURCES:
        raise UnknownNameError("resource", name, RESOURCES)
    return _res.files("eyetest") / "data" / RESOURCES[name][0]


def resource_sha256(name: str) -> str:
    """The pinned SHA256 of a resource."""
    if name not in RESOURCES:
        raise UnknownNameError("resource", name, RESOURCES)
    return RESOURCES[name][1]


@lru_cache(maxsize=None)
def load_resource(name: str) -> Mapping[str, np.ndarray]:
    """Load a resource as a read-only mapping of arrays, verifying its SHA256."""
    path = resource_path(name)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ResourceMissingError(
            f"parameter file for {name!r} is missing at {path}: {exc}; reinstall eyetest"
        ) from exc
    digest = hashlib.sha256(raw).hexdigest()
    if digest != RESOURCES[name][1]:
        raise ResourceMissingError(
            f"parameter file {path} has SHA256 {digest}, expected {RESOURCES[name][1]}; "
            "the installation is damaged, reinstall eyetest"
        )
    import io as _io

    with np.load(_io.BytesIO(raw), allow_pickle=False) as npz:
        arrays = {}
        for key in npz.files:
            arr = np.array(npz[key])
            arr.setflags(write=False)
            arrays[key] = arr
    return MappingProxyType(arrays)
