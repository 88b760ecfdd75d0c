"""Torch network definitions for learned metrics, written without torchvision.

Each module builds a network whose ``state_dict`` keys follow the standard
published checkpoints (torchvision's ``features.N.weight`` layout for AlexNet,
VGG16 and SqueezeNet 1.1; LPIPS's ``linK.model.1.weight`` heads; pytorch-fid's
``Conv2d_1a_3x3.conv.weight`` Inception), so those files load with
``strict`` key checking.  Weights are passed in as mappings (core reads no
files); :mod:`eyetest.backends.weights` loads them from the offline cache.

torch is optional for eyetest: importing this package does not import it;
the submodules do.
"""

from __future__ import annotations

import importlib.util

from eyetest.errors import ResourceMissingError


def torch_available(*, required: bool = False) -> bool:
    """Whether torch can be imported; with ``required`` raise a clear error if not."""
    ok = importlib.util.find_spec("torch") is not None
    if not ok and required:
        raise ResourceMissingError(
            "this metric needs PyTorch, which is not installed; "
            "install it with `pip install torch` (CPU or CUDA build) or `pip install 'eyetest[torch]'`"
        )
    return ok


def resolve_device(device: str | None):
    """A ``torch.device``: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``None``/``"auto"``
    (CUDA when available, else CPU).  Asking for CUDA without it is an error."""
    import torch

    from eyetest.errors import MetricInputError

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise MetricInputError(f"unknown device {device!r}: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MetricInputError(f"device {device!r} asked for, but CUDA is not available")
    return dev


def load_strict(module, state_dict, *, what: str, ignore_prefixes: tuple[str, ...] = ()) -> None:
    """Load ``state_dict`` into ``module`` requiring every module key to be present
    with the right shape; keys under ``ignore_prefixes`` (e.g. a classifier the
    metric does not use) may be present in the file and are skipped."""
    from eyetest.errors import MetricInputError

    own = module.state_dict()
    sd = {k: v for k, v in state_dict.items() if not k.startswith(ignore_prefixes)}
    for k in own:
        # checkpoints saved before PyTorch 0.4.1 have no BatchNorm counters;
        # they do not affect inference
        if k.endswith("num_batches_tracked") and k not in sd:
            sd[k] = own[k]
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    if missing or unexpected:
        raise MetricInputError(
            f"{what} checkpoint does not have the expected key layout: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    for k, v in own.items():
        if tuple(sd[k].shape) != tuple(v.shape):
            raise MetricInputError(
                f"{what} checkpoint key {k!r} has shape {tuple(sd[k].shape)}, expected {tuple(v.shape)}"
            )
    module.load_state_dict(sd, strict=True)
