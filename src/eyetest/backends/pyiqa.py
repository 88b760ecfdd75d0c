"""Optional adapter: any pyiqa metric as an eyetest metric (``pyiqa:NAME``).

pyiqa (Chen & Mo, "IQA-PyTorch", https://github.com/chaofengc/IQA-PyTorch)
implements the learned metrics the field reports (MUSIQ, MANIQA, CLIP-IQA,
TOPIQ, Q-Align, ...).  Its licence is non-commercial, so it is never a
dependency of eyetest: install it yourself where that licence fits, and this
module registers its metrics.

* :func:`resolve` (``"pyiqa:musiq"``) registers one metric on demand with the
  direction pyiqa declares (``lower_better``) and the range its config
  gives (``score_range``; ``(-inf, inf)`` when pyiqa states none).
* Every call runs under ``torch.random.fork_rng`` with a fixed seed
  (setting ``seed``, default 0), so metrics that sample random crops
  (MUSIQ, MANIQA, ...) give the same number every run, without touching the
  caller's random state.
* pyiqa's download cache is pointed at ``<eyetest weights dir>/pyiqa`` and
  torch.hub's at ``<eyetest weights dir>/torch-hub``; with ``offline=True``
  (the default at scoring time) a missing file raises
  :class:`~eyetest.errors.ResourceMissingError` instead of downloading.
  :func:`prefetch` (``eyetest weights fetch pyiqa:NAME``) downloads on a
  connected machine; copy the ``pyiqa`` folder for air-gapped use.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import re
import threading
from typing import Any

import numpy as np

from eyetest.core.metrics.registry import MetricSpec, register
from eyetest.errors import MetricInputError, ResourceMissingError, UnknownNameError

PREFIX = "pyiqa:"
LICENSE_NOTE = "pyiqa's licence allows non-commercial use only; read its LICENSE"
#: the learned metrics papers report most; registered by :func:`register_common`
COMMON = ("musiq", "maniqa", "clipiqa", "topiq_nr", "qalign", "liqe", "dbcnn", "nima")

_LOCK = threading.Lock()
_MODELS: dict[tuple[str, str], Any] = {}


def available() -> bool:
    """Whether pyiqa can be imported here."""
    return importlib.util.find_spec("pyiqa") is not None


def _import():
    if not available():
        raise ResourceMissingError(
            f"pyiqa is not installed, so pyiqa metrics cannot run; install it with "
            f"`pip install pyiqa` where its licence fits ({LICENSE_NOTE})")
    import pyiqa

    return pyiqa


def configure_cache() -> None:
    """Point pyiqa's and torch.hub's download caches into eyetest's weights dir."""
    import torch

    from eyetest.backends.weights import weights_dir

    root = weights_dir()
    torch.hub.set_dir(str(root / "torch-hub"))
    mod = importlib.import_module("pyiqa.utils.download_util")
    if hasattr(mod, "DEFAULT_CACHE_DIR"):
        mod.DEFAULT_CACHE_DIR = str(root / "pyiqa")


@contextlib.contextmanager
def _no_downloads(name: str):
    """Make pyiqa's downloader raise a named error instead of using the network."""
    mod = importlib.import_module("pyiqa.utils.download_util")
    original = getattr(mod, "download_url_to_file", None)

    def refuse(url, dst, *a, **k):
        raise ResourceMissingError(
            f"pyiqa metric {name!r} needs {url} (expected at {dst}), which is not in the "
            f"weights cache; on a connected machine run `eyetest weights fetch {PREFIX}{name}` "
            f"and copy the folder {mod.DEFAULT_CACHE_DIR} to this machine")

    if original is not None:
        mod.download_url_to_file = refuse
    try:
        yield
    finally:
        if original is not None:
            mod.download_url_to_file = original


def parse_score_range(text) -> tuple[float, float]:
    """pyiqa's ``score_range`` (e.g. ``"~0, ~100"``, ``"0, 1"``) -> (low, high).

    Unknown or unparsable ranges give ``(-inf, inf)``.
    """
    if isinstance(text, (tuple, list)) and len(text) == 2:
        return float(text[0]), float(text[1])
    if not isinstance(text, str):
        return (-math.inf, math.inf)
    nums = re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf", text)
    if len(nums) != 2:
        return (-math.inf, math.inf)
    return float(nums[0]), float(nums[1])


def _config(name: str) -> dict:
    pyiqa = _import()
    configs = getattr(pyiqa, "DEFAULT_CONFIGS", None)
    if configs is None:
        configs = importlib.import_module("pyiqa.default_model_configs").DEFAULT_CONFIGS
    if name not in configs:
        raise UnknownNameError("pyiqa metric", name, configs)
    return dict(configs[name])


def _model(name: str, device: str):
    key = (name, device)
    with _LOCK:
        if key in _MODELS:
            return _MODELS[key]
    pyiqa = _import()
    configure_cache()
    with _no_downloads(name):
        metric = pyiqa.create_metric(name, device=device, as_loss=False)
    metric.eval()
    with _LOCK:
        _MODELS[key] = metric
    return metric


def _tensor(image: np.ndarray, data_range: float, device: str):
    import torch

    a = np.asarray(image, dtype=np.float32) / np.float32(data_range)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3:
        raise MetricInputError(f"pyiqa metrics need HxWx3 (or HxW) images, got shape {np.shape(image)}")
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].to(device)


def _run(name: str, images, *, device: str | None, seed: int) -> float:
    import torch

    from eyetest.core.nets import resolve_device

    dev = str(resolve_device(device))
    metric = _model(name, dev)
    devices = [torch.device(dev)] if dev.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices), torch.inference_mode(), _no_downloads(name):
        torch.manual_seed(seed)
        out = metric(*images)
    return float(torch.as_tensor(out).reshape(-1)[0].item())


def _spec(name: str) -> MetricSpec:
    cfg = _config(name)
    mode = cfg.get("metric_mode", "NR")
    if mode not in ("FR", "NR"):
        raise MetricInputError(f"pyiqa metric {name!r} has mode {mode!r}; only FR and NR are adapted")

    if mode == "FR":
        def func(reference, distorted, *, data_range, device="auto", seed=0):
            dev = _dev(device)
            # pyiqa's call order is (distorted, reference)
            return _run(name, [_tensor(distorted, data_range, dev),
                               _tensor(reference, data_range, dev)], device=dev, seed=seed)
    else:
        def func(image, *, data_range, device="auto", seed=0):
            dev = _dev(device)
            return _run(name, [_tensor(image, data_range, dev)], device=dev, seed=seed)

    return MetricSpec(
        name=f"{PREFIX}{name}", kind=mode, higher_is_better=not bool(cfg.get("lower_better", False)),
        value_range=parse_score_range(cfg.get("score_range")), func=func,
        presets={"matlab": {}, "sr-y": {}}, requires=("torch", "pyiqa"),
        description=f"pyiqa metric {name!r} (RGB in [0, 1]; {LICENSE_NOTE})",
        reference="Chen & Mo, IQA-PyTorch (pyiqa); see the metric's own paper",
        extra={"backend": "pyiqa", "pyiqa_name": name},
    )


def _dev(device) -> str:
    from eyetest.core.nets import resolve_device

    return str(resolve_device(device))


def resolve(name: str) -> MetricSpec:
    """Register (once) and return the spec of ``pyiqa:NAME`` (or bare ``NAME``)."""
    from eyetest.core.metrics.registry import get_metric

    bare = name[len(PREFIX):] if name.startswith(PREFIX) else name
    try:
        return get_metric(f"{PREFIX}{bare}")
    except UnknownNameError:
        return register(_spec(bare), replace=True)


def register_common(names=COMMON) -> list[MetricSpec]:
    """Register the listed pyiqa metrics that this pyiqa version knows (none if absent)."""
    if not available():
        return []
    known = set(importlib.import_module("pyiqa").list_models())
    return [resolve(n) for n in names if n in known]


def prefetch(name: str, *, device: str = "cpu") -> str:
    """Download a pyiqa metric's files into the eyetest cache (uses the network)."""
    pyiqa = _import()
    bare = name[len(PREFIX):] if name.startswith(PREFIX) else name
    _config(bare)
    configure_cache()
    pyiqa.create_metric(bare, device=device, as_loss=False)
    return importlib.import_module("pyiqa.utils.download_util").DEFAULT_CACHE_DIR
