"""One work unit of a scoring run: read an (image, method)'s files once, compute its metrics.

A :class:`Unit` holds paths only, so it pickles in microseconds for a process
pool or Ray.  :func:`score_unit` reads each file's bytes once, checks them
against the SHA256 the driver hashed (the cache key) and decodes those same
bytes, so a file rewritten in between is reported instead of being cached
under the hash of its other version.  Every requested metric is computed
through :func:`eyetest.run.compute.score_arrays` (the single numerical path);
a failure becomes a :class:`~eyetest.io.dataset.Problem` naming the file and
the rest of the unit completes.  The driver is :mod:`eyetest.run.score`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from eyetest.errors import EyetestError, ImageReadError
from eyetest.io.dataset import Problem
from eyetest.io.images import read_image
from eyetest.run.cache import read_with_sha256
from eyetest.run.compute import score_arrays
from eyetest.run.resolve import metric_spec


@dataclass(frozen=True)
class Unit:
    """One (image, method) to score; paths only, so it pickles in microseconds."""

    image: str
    method: str
    distorted: str
    reference: str | None
    metrics: tuple[str, ...]
    presets: tuple[str, ...]  # effective preset of each metric
    alpha: str
    max_pixels: int | None
    # SHA256 of each file as hashed by the driver (its cache key); None: not checked
    distorted_sha256: str | None = None
    reference_sha256: str | None = None


@dataclass
class UnitResult:
    image: str
    method: str
    values: dict[str, float] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _read(path: str, expected_sha256: str | None, unit: Unit, out: UnitResult):
    """Decode the bytes whose hash is the cache key, or record a problem and return None."""
    t = time.perf_counter()
    try:
        try:
            data, digest = read_with_sha256(path)
        except OSError as exc:
            out.problems.append(Problem(path, f"cannot read file: {exc.strerror or exc}",
                                        unit.image, unit.method))
            return None
        if expected_sha256 is not None and digest != expected_sha256:
            out.problems.append(Problem(path, "file changed while the run was reading it "
                                        "(its SHA256 differs from the one hashed at the start); "
                                        "not scored, score again once it is complete",
                                        unit.image, unit.method))
            return None
        # the alpha conversion is reported from img.notes, not as an AlphaWarning
        img = read_image(path, alpha=unit.alpha, max_pixels=unit.max_pixels, data=data,
                         warn=False)
    except ImageReadError as exc:
        out.problems.append(Problem(exc.path, exc.reason, unit.image, unit.method))
        return None
    finally:
        out.seconds["read"] = out.seconds.get("read", 0.0) + time.perf_counter() - t
    if img.notes:
        out.notes[path] = img.notes
    return img


def score_unit(unit: Unit) -> UnitResult:
    """Read the images of one unit once and compute every requested metric."""
    out = UnitResult(unit.image, unit.method)
    dist = _read(unit.distorted, unit.distorted_sha256, unit, out)
    if dist is None:
        return out
    specs = [metric_spec(m) for m in unit.metrics]
    ref = None
    if any(s.kind == "FR" for s in specs) and unit.reference is not None:
        ref = _read(unit.reference, unit.reference_sha256, unit, out)
        if ref is not None and ref.shape[:2] == dist.shape[:2] and ref.shape != dist.shape:
            out.problems.append(Problem(
                unit.distorted, f"channels differ: {_channels(dist.shape)} here, "
                f"{_channels(ref.shape)} in reference {unit.reference} (same size "
                f"{_shape(dist.shape[:2])}); full-reference metrics skipped",
                unit.image, unit.method))
            ref = None
        elif ref is not None and ref.shape != dist.shape:
            out.problems.append(Problem(
                unit.distorted, f"size {_shape(dist.shape)} differs from reference "
                f"{unit.reference} ({_shape(ref.shape)}); full-reference metrics skipped",
                unit.image, unit.method))
            ref = None
        elif ref is not None and ref.data_range != dist.data_range:
            out.problems.append(Problem(
                unit.distorted, f"data range {dist.data_range:g} ({dist.bit_depth}-bit) differs "
                f"from reference {unit.reference} ({ref.data_range:g}); full-reference metrics "
                "skipped (eyetest never rescales)", unit.image, unit.method))
            ref = None
    for spec, preset in zip(specs, unit.presets):
        if spec.kind == "FR" and ref is None:
            continue
        t = time.perf_counter()
        try:
            value = score_arrays(spec, dist.array, ref.array if spec.kind == "FR" else None,
                                 data_range=dist.data_range, preset=preset)
        except EyetestError as exc:
            out.problems.append(Problem(unit.distorted, f"{spec.name}: {exc}", unit.image,
                                        unit.method))
        except Exception as exc:  # a metric bug must not lose the rest of the run
            out.problems.append(Problem(unit.distorted, f"{spec.name} failed: "
                                        f"{type(exc).__name__}: {exc}", unit.image, unit.method))
        else:
            out.values[spec.name] = value
        out.seconds[spec.name] = time.perf_counter() - t
    return out


def _shape(shape) -> str:
    return "x".join(str(s) for s in shape)


def _channels(shape) -> int:
    return 1 if len(shape) == 2 else int(shape[2])


__all__ = ["Unit", "UnitResult", "score_unit"]
