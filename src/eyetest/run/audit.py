"""Run a metric audit: every metric on every image under every manipulation and strength.

The work unit is one source image.  A worker reads it once (or receives the
array), scores the untouched image (the *baseline*), then applies each
manipulation at each strength (:mod:`eyetest.core.manipulate`) and scores the
result through :func:`eyetest.run.compute.score_arrays`, the single numerical
path.  Full-reference metrics use the untouched image as the reference.

Randomness: the manipulation ``rng`` of (image, manipulation, strength) is
``default_rng(SeedSequence([seed, crc32(image), crc32(manipulation),
crc32(repr(strength))]))``, so results do not depend on the number of workers
or on the order in which units finish.

Context blur: a source whose ``context`` is ``"intended-blur"`` (a photograph
whose blur is meant: depth of field, motion) is audited with the sharpening
manipulations only; its rows say whether a metric *prefers the sharpened
version* of an image whose blur is intended.  :func:`context_sources` builds
them: a synthetic depth of field of every image plus scikit-image's
``clock`` photograph (motion-blurred by the photographer on purpose).

Cache: scores are stored in the content-addressed
:class:`~eyetest.run.cache.ScoreCache` under a key whose ``distorted`` (and
``reference``) part is the SHA256 of the *array* (dtype, shape, bytes), so a
manipulated image is recognised by its pixels whatever produced it.  The
``identity`` control is the exception: it is always scored afresh, so that
its delta tests that the metric gives the same pixels the same score.

Table columns (tidy, one row per image x metric x manipulation x strength)::

    image, context, metric, manipulation, kind, strength, value, baseline, delta, improved
"""

from __future__ import annotations

import hashlib
import math
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from eyetest import __version__
from eyetest.core import audit as core_audit
from eyetest.core.manipulate import depth_of_field, get_manipulation, list_manipulations
from eyetest.core.metrics.registry import MetricSpec, get_metric
from eyetest.errors import EyetestError, ImageReadError, ManipulationError, MetricInputError
from eyetest.io.dataset import Problem
from eyetest.io.resources import load_resource, resource_sha256
from eyetest.run.cache import ScoreCache, score_key
from eyetest.run.compute import score_arrays
from eyetest.run.executor import resolve_workers, run_tasks

COLUMNS = ["image", "context", "metric", "manipulation", "kind", "strength", "value",
           "baseline", "delta", "improved"]
STANDARD = "standard"
INTENDED_BLUR = "intended-blur"
#: Blur (Gaussian sigma, px) of the synthetic depth of field made for the context-blur audit.
CONTEXT_DOF_SIGMA = 4.0


@dataclass(frozen=True)
class AuditSource:
    """One image to audit: a file ``path`` or an ``array`` with its ``data_range``.

    ``dof_sigma > 0`` turns the image into an intended-blur photograph first
    (synthetic depth of field, :func:`eyetest.core.manipulate.depth_of_field`).
    """

    name: str
    path: str | None = None
    array: np.ndarray | None = None
    data_range: float | None = None
    context: str = STANDARD
    dof_sigma: float = 0.0

    def __post_init__(self):
        if (self.path is None) == (self.array is None):
            raise MetricInputError(f"audit source {self.name!r}: give exactly one of path, array")
        if self.array is not None and self.data_range is None:
            raise MetricInputError(f"audit source {self.name!r}: an array needs its data_range")
        if self.context not in (STANDARD, INTENDED_BLUR):
            raise MetricInputError(f"audit source {self.name!r}: unknown context {self.context!r}")


@dataclass(frozen=True)
class _Unit:
    source: AuditSource
    metrics: tuple[str, ...]
    preset: str
    plan: tuple[tuple[str, tuple[float, ...]], ...]
    seed: int
    cache_dir: str | None


@dataclass
class _UnitResult:
    rows: list[tuple] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    hits: int = 0
    misses: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def array_sha256(array: np.ndarray) -> str:
    """SHA256 of an array's dtype, shape and bytes (C order)."""
    a = np.ascontiguousarray(array)
    h = hashlib.sha256(f"{a.dtype.str}|{a.shape}|".encode())
    h.update(a.tobytes())
    return "array:" + h.hexdigest()


def manipulation_rng(seed: int, image: str, manipulation: str, strength: float) -> np.random.Generator:
    """The generator for one (image, manipulation, strength); see the module docstring."""
    words = [int(seed) & 0xFFFFFFFF] + [zlib.crc32(s.encode("utf-8"))
                                        for s in (image, manipulation, repr(float(strength)))]
    return np.random.default_rng(np.random.SeedSequence(words))


def _load(source: AuditSource) -> tuple[np.ndarray, float]:
    if source.array is not None:
        arr, dr = np.asarray(source.array), float(source.data_range)
    else:
        from eyetest.io.images import read_image

        img = read_image(source.path, warn=False)  # audited as composited, without a warning
        arr, dr = img.array, float(img.data_range)
    if source.dof_sigma > 0:
        arr = depth_of_field(arr, data_range=dr, strength=source.dof_sigma)
    return arr, dr


class _Scorer:
    """score_arrays with the cache in front (keys from array hashes)."""

    def __init__(self, unit: _Unit, out: _UnitResult, data_range: float):
        self.unit, self.out, self.data_range = unit, out, data_range
        self.cache = ScoreCache(unit.cache_dir) if unit.cache_dir is not None else None
        self.specs = {m: get_metric(m) for m in unit.metrics}

    def __call__(self, spec: MetricSpec, distorted: np.ndarray, reference: np.ndarray,
                 dist_hash: str | None, ref_hash: str | None) -> float:
        key = None
        if self.cache is not None and dist_hash is not None:  # None: score afresh, uncached
            key = score_key(
                metric=spec.name, metric_version=spec.version,
                settings=spec.settings(self.unit.preset), eyetest_version=__version__,
                reader={"source": "audit-array", "data_range": self.data_range},
                resources={r: resource_sha256(r) for r in spec.resources},
                distorted=dist_hash, reference=ref_hash if spec.kind == "FR" else None)
            got = self.cache.get(key)
            if got is not None:
                self.out.hits += 1
                return got
            self.out.misses += 1
        t = time.perf_counter()
        value = score_arrays(spec, distorted, reference if spec.kind == "FR" else None,
                             data_range=self.data_range, preset=self.unit.preset)
        self.out.seconds[spec.name] = self.out.seconds.get(spec.name, 0.0) + time.perf_counter() - t
        if key is not None:
            self.cache.put(key, value, metric=spec.name, audit=True)
        return value


def variants(unit: _Unit, x: np.ndarray, dr: float, out: _UnitResult):
    """Yield ``(name, manipulation, strength, image)`` for every step of ``unit.plan``.

    The one place where audit images are made, shared by the scoring path and
    by :func:`eyetest.run.audit_io.export_images`, so exported files are the
    very arrays the audit scores.  A failing manipulation becomes a problem.
    """
    src = unit.source
    label = src.path or src.name
    for mname, strengths in unit.plan:
        manip = get_manipulation(mname)
        for s in strengths:
            t = time.perf_counter()
            try:
                y = manip(x, data_range=dr, strength=s,
                          rng=manipulation_rng(unit.seed, src.name, mname, s))
            except EyetestError as exc:
                out.problems.append(Problem(label, f"{mname} at strength {s:g}: {exc}", src.name))
                continue
            finally:
                key = f"manipulate:{mname}"
                out.seconds[key] = out.seconds.get(key, 0.0) + time.perf_counter() - t
            yield mname, manip, s, y


def load_or_problem(src, out: _UnitResult):
    """``(pixels, data_range)`` of a source, or None with the failure recorded as a problem."""
    try:
        return _load(src)
    except (ImageReadError, ManipulationError) as exc:
        out.problems.append(Problem(getattr(exc, "path", src.path or src.name),
                                    str(getattr(exc, "reason", exc)), src.name))
        return None


def audit_unit(unit: _Unit) -> _UnitResult:
    """Audit one source image (runs in a worker); failures become problems."""
    out = _UnitResult()
    src = unit.source
    label = src.path or src.name
    loaded = load_or_problem(src, out)
    if loaded is None:
        return out
    x, dr = loaded
    score = _Scorer(unit, out, dr)
    hashed = score.cache is not None
    x_hash = array_sha256(x) if hashed else None
    baseline: dict[str, float] = {}
    for name, spec in score.specs.items():
        try:
            baseline[name] = score(spec, x, x, x_hash, x_hash)
        except EyetestError as exc:
            out.problems.append(Problem(label, f"{name}: {exc}", src.name))
    for mname, manip, s, y in variants(unit, x, dr, out):
        # the identity control returns the untouched pixels: served from the cache it
        # would repeat the baseline's score and could never show a non-deterministic metric
        y_hash = array_sha256(y) if hashed and manip.kind != "identity" else None
        for name, spec in score.specs.items():
            if name not in baseline:
                continue
            try:
                v = score(spec, y, x, y_hash, x_hash)
            except EyetestError as exc:
                out.problems.append(Problem(label, f"{name} on {mname} {s:g}: {exc}", src.name))
                continue
            b = baseline[name]
            d = float(core_audit.delta(v, b))
            imp = bool(core_audit.improved(v, b, higher_is_better=spec.higher_is_better))
            out.rows.append((src.name, src.context, name, mname, manip.kind, float(s),
                             float(v), float(b), d, imp))
    return out


def resolve_plan(manipulations: Sequence[str] | None,
                 strengths: Mapping[str, Sequence[float]] | None = None,
                 *, default: Sequence[float] | None = None) -> tuple[tuple[str, tuple[float, ...]], ...]:
    """(name, strengths) pairs: registry grids unless overridden.

    ``strengths`` maps a manipulation to its grid; ``default`` replaces the
    grid of every manipulation not in ``strengths``.  Strength 0 (the
    baseline itself) is dropped from grids.  Every strength is checked here
    (finite, >= 0, below the manipulation's ``max_strength``), so a bad grid
    is one error naming the manipulation and value, not a problem per image.
    """
    names = list(manipulations) if manipulations else [m.name for m in list_manipulations()]
    plan, seen = [], set()
    strengths = {get_manipulation(n).name: v for n, v in (strengths or {}).items()}
    for n in names:
        m = get_manipulation(n)
        if m.name in seen:
            continue
        seen.add(m.name)
        grid = strengths.get(m.name, default if default is not None else m.strengths)
        grid = tuple(sorted({float(s) for s in grid if float(s) != 0.0}))
        bad = [s for s in grid if not math.isfinite(s) or s < 0
               or (m.max_strength is not None and s >= m.max_strength)]
        if bad:
            upper = f" and < {m.max_strength:g}" if m.max_strength is not None else ""
            raise ManipulationError(f"{m.name}: strengths must be finite, >= 0{upper}; "
                                    f"got {bad[0]:g}")
        if not grid:
            raise ManipulationError(f"{m.name}: no strength > 0 to audit")
        plan.append((m.name, grid))
    return tuple(plan)


def context_sources(sources: Sequence[AuditSource], *, dof_sigma: float = CONTEXT_DOF_SIGMA,
                    include_clock: bool = True) -> list[AuditSource]:
    """Intended-blur versions of ``sources`` (synthetic DoF) plus scikit-image's clock photograph.

    ``skimage.data.clock()`` (300 x 400, uint8) was taken "while moving the
    camera in an approximately horizontal direction" (its docstring): real,
    deliberate motion blur.
    """
    out = [AuditSource(f"{s.name}+dof", path=s.path, array=s.array, data_range=s.data_range,
                       context=INTENDED_BLUR, dof_sigma=dof_sigma) for s in sources]
    if include_clock:
        from skimage import data

        out.append(AuditSource("skimage-clock-motion", array=data.clock(), data_range=255.0,
                               context=INTENDED_BLUR))
    return out


def sort_table(table: pd.DataFrame, *, metrics: Sequence[str],
               manipulations: Sequence[str]) -> pd.DataFrame:
    """Rows by context, image, metric (``metrics`` order), manipulation, strength."""
    if not len(table):
        return table.reset_index(drop=True)
    order_m = {n: i for i, n in enumerate(dict.fromkeys(metrics))}
    order_p = {n: i for i, n in enumerate(dict.fromkeys(manipulations))}
    order_c = {STANDARD: 0, INTENDED_BLUR: 1}
    return (table.assign(_c=table["context"].map(order_c), _m=table["metric"].map(order_m),
                         _p=table["manipulation"].map(order_p))
            .sort_values(["_c", "image", "_m", "_p", "strength"], kind="stable")
            .drop(columns=["_c", "_m", "_p"]).reset_index(drop=True))


@dataclass
class AuditRun:
    """Outcome of :func:`run_audit`: tidy ``table``, ``problems`` and run facts."""

    table: pd.DataFrame
    problems: list[Problem]
    specs: list[MetricSpec]
    info: dict


def _check_metrics(names: Sequence[str], preset: str) -> list[MetricSpec]:
    specs, seen = [], set()
    for n in names:
        spec = get_metric(n)
        if spec.name in seen:
            continue
        seen.add(spec.name)
        if spec.kind == "distribution":
            raise MetricInputError(f"metric {spec.name!r} compares image sets; the audit needs "
                                   "per-image metrics")
        spec.settings(preset)
        for r in spec.resources:
            load_resource(r)  # verify once; forked workers inherit it
        specs.append(spec)
    if not specs:
        raise MetricInputError("no metric to audit")
    return specs


def run_audit(sources: Sequence[AuditSource], *, metrics: Sequence[str],
              plan: Sequence[tuple[str, Sequence[float]]],
              context_plan: Sequence[tuple[str, Sequence[float]]] | None = None,
              preset: str = "matlab", seed: int = 0, workers: int | None = 1,
              cache: ScoreCache | None = None,
              on_done: Callable[[int], None] | None = None) -> AuditRun:
    """Audit ``sources`` (standard ones with ``plan``, intended-blur ones with ``context_plan``).

    Rows are sorted by context, image, metric (requested order), manipulation
    (plan order) and strength, so the table does not depend on ``workers``.
    """
    t0 = time.perf_counter()
    specs = _check_metrics(metrics, preset)
    names = tuple(s.name for s in specs)
    plan = tuple((m, tuple(s)) for m, s in plan)
    cplan = tuple((m, tuple(s)) for m, s in (context_plan or ()))
    seen = set()
    for s in sources:
        if (s.context, s.name) in seen:
            raise MetricInputError(f"two audit sources are named {s.name!r}; names must be unique")
        seen.add((s.context, s.name))
    cache_dir = str(cache.directory) if cache is not None else None
    units = [_Unit(s, names, preset, plan if s.context == STANDARD else cplan, int(seed), cache_dir)
             for s in sources]
    n_workers = resolve_workers(workers)
    rows, problems, seconds = [], [], {}
    hits = misses = 0
    for res in run_tasks(audit_unit, units, workers=n_workers, on_done=on_done):
        rows.extend(res.rows)
        problems.extend(res.problems)
        hits += res.hits
        misses += res.misses
        for k, v in res.seconds.items():
            seconds[k] = seconds.get(k, 0.0) + v
    table = sort_table(pd.DataFrame(rows, columns=COLUMNS), metrics=names,
                       manipulations=[m for m, _ in plan + cplan])
    if cache is not None:
        cache.hits += hits
        cache.misses += misses
    info = {"workers": n_workers, "units": len(units), "rows": len(table), "seed": int(seed),
            "preset": preset, "cache": None if cache is None else {"dir": cache_dir, "hits": hits,
                                                                   "misses": misses},
            "timings_s": {"total": time.perf_counter() - t0, "cpu": seconds}}
    return AuditRun(table, problems, specs, info)


def summaries(run: AuditRun, *, rng: np.random.Generator, n_boot: int = 2000,
              level: float = 0.95, threshold: float = 0.5) -> dict[str, pd.DataFrame]:
    """Summary and gameability tables, separately for the standard and context-blur rows.

    Keys: ``summary`` / ``gameability`` (standard rows) and ``context`` /
    ``context_flags`` (intended-blur rows; there ``gameable`` is renamed
    ``prefers_sharpened``: the metric rewards removing intended blur on most
    images).  Empty frames where a part has no rows.
    """
    return summarise_table(run.table, higher_is_better={s.name: s.higher_is_better for s in run.specs},
                           rng=rng, n_boot=n_boot, level=level, threshold=threshold)


def summarise_table(table: pd.DataFrame, *, higher_is_better: Mapping[str, bool], rng: np.random.Generator,
                    n_boot: int = 2000, level: float = 0.95, threshold: float = 0.5,
                    kinds: Mapping[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """:func:`summaries` of an audit table (e.g. one read back from ``audit.csv``).

    ``higher_is_better`` gives every metric's direction; ``kinds`` each
    manipulation's kind (default: the registry's).  A table without a
    ``context`` column is all standard rows.
    """
    kinds = dict(kinds) if kinds is not None else {m.name: m.kind for m in list_manipulations()}
    context = table["context"] if "context" in table.columns else pd.Series(STANDARD, index=table.index)
    out = {}
    for ctx, (a, b) in {STANDARD: ("summary", "gameability"),
                        INTENDED_BLUR: ("context", "context_flags")}.items():
        part = table[context == ctx]
        summ = core_audit.summarize(part, higher_is_better=higher_is_better, rng=rng, n_boot=n_boot,
                                    level=level)
        flags = core_audit.gameability(summ, kinds=kinds, higher_is_better=higher_is_better,
                                       threshold=threshold)
        if ctx == INTENDED_BLUR:
            flags = flags.rename(columns={"gameable": "prefers_sharpened"})
            flags["prefers_sharpened"] = flags["max_share_improved"] > threshold
        out[a], out[b] = summ, flags
    return out
