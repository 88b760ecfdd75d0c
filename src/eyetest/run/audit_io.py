"""The audit round trip for metrics computed elsewhere: export the images, import the scores.

A metric eyetest cannot run here (MUSIQ or MANIQA through pyiqa on a GPU
machine, a vendor tool) still enters the audit:

1. :func:`export_images` writes every image the audit would score (the
   untouched baseline and every manipulation at every strength, made by the
   very generator the scoring path uses, :func:`eyetest.run.audit.variants`)
   as lossless PNG, 8- or 16-bit like the input, plus ``index.csv``;
2. the outside tool scores those files and writes the tidy table
   ``image, metric, value`` (optionally with ``method``), ``image`` being the
   file stem;
3. :func:`import_scores` turns that table, with the index, into audit rows
   (``value, baseline, delta, improved``) identical in form to native ones,
   so :func:`eyetest.run.audit.summaries` treats them alike.

File stem (collision free, one per (context, image, manipulation, strength))::

    <image>~<context>~<manipulation>~<repr(strength)>     e.g. 0801~standard~usm~1.5
    <image>~<context>~baseline                            the untouched image

``<image>`` is the source name with ``%`` written ``%25`` and ``~`` written
``%7E``, so the four fields split back unambiguously; ``<context>`` is
``standard`` or ``intended-blur`` (``--context-blur``); ``repr`` of the float
strength is exact.  Stems that differ only by letter case are refused (they
would collide on case-insensitive file systems).

``index.csv`` columns: ``file, image, context, manipulation, kind, strength``;
the baseline row has ``manipulation = kind = "baseline"`` and strength 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from eyetest.core import audit as core_audit
from eyetest.core.metrics.registry import get_metric
from eyetest.errors import EyetestError, MetricInputError
from eyetest.io.dataset import Problem
from eyetest.io.images import encode_png
from eyetest.io.tables import atomic_write_bytes, atomic_write_text
from eyetest.run.audit import (COLUMNS, STANDARD, AuditSource, _Unit, _UnitResult, load_or_problem,
                               sort_table, variants)
from eyetest.run.executor import resolve_workers, run_tasks

INDEX_COLUMNS = ["file", "image", "context", "manipulation", "kind", "strength"]
BASELINE = "baseline"


class AuditImportError(MetricInputError):
    """Imported audit scores or their index are malformed; the message names file, line, value."""


def file_stem(image: str, context: str, manipulation: str = BASELINE,
              strength: float | None = None) -> str:
    """The exported file stem of one audit image (see the module docstring)."""
    name = image.replace("%", "%25").replace("~", "%7E")
    if manipulation == BASELINE:
        return f"{name}~{context}~{BASELINE}"
    return f"{name}~{context}~{manipulation}~{float(strength)!r}"


@dataclass(frozen=True)
class _ExportUnit:
    unit: _Unit
    directory: str


def export_unit(task: _ExportUnit) -> _UnitResult:
    """Write one source's baseline and manipulated images; rows are index rows."""
    unit, out = task.unit, _UnitResult()
    src = unit.source
    label = src.path or src.name
    loaded = load_or_problem(src, out)
    if loaded is None:
        return out
    x, dr = loaded
    directory = Path(task.directory)
    steps = [(BASELINE, BASELINE, 0.0, x)]
    steps += [(m, manip.kind, float(s), y) for m, manip, s, y in variants(unit, x, dr, out)]
    for mname, kind, s, y in steps:
        stem = file_stem(src.name, src.context, mname, s)
        try:
            atomic_write_bytes(directory / f"{stem}.png", encode_png(y), fsync=False)
        except EyetestError as exc:
            out.problems.append(Problem(label, f"export of {mname}: {exc}", src.name))
            continue
        out.rows.append((f"{stem}.png", src.name, src.context, mname, kind, s))
    return out


@dataclass
class ExportRun:
    """Outcome of :func:`export_images`: the ``index`` table, its path and ``problems``."""

    index: pd.DataFrame
    path: Path
    problems: list[Problem] = field(default_factory=list)


def export_images(sources: Sequence[AuditSource], directory, *,
                  plan: Sequence[tuple[str, Sequence[float]]],
                  context_plan: Sequence[tuple[str, Sequence[float]]] | None = None,
                  seed: int = 0, workers: int | None = 1,
                  on_done: Callable[[int], None] | None = None) -> ExportRun:
    """Write every image the audit of ``sources`` would score to ``directory``, plus ``index.csv``.

    Same ``plan`` / ``context_plan`` / ``seed`` as :func:`eyetest.run.audit.run_audit`
    give the same arrays (the random manipulations use the same per-step
    generator).  Every PNG and the index are written atomically; the index is
    written last and sorted, so it does not depend on ``workers``.
    """
    directory = Path(directory)
    stems: dict[str, str] = {}
    for s in sources:
        key = file_stem(s.name, s.context).lower()
        if key in stems:
            raise MetricInputError(f"audit sources {stems[key]!r} and {s.name!r} give the same "
                                   "exported file name (names must differ beyond letter case)")
        stems[key] = s.name
    directory.mkdir(parents=True, exist_ok=True)
    plan = tuple((m, tuple(s)) for m, s in plan)
    cplan = tuple((m, tuple(s)) for m, s in (context_plan or ()))
    tasks = [_ExportUnit(_Unit(s, (), "matlab", plan if s.context == STANDARD else cplan,
                               int(seed), None), str(directory)) for s in sources]
    rows, problems = [], []
    for res in run_tasks(export_unit, tasks, workers=resolve_workers(workers), on_done=on_done):
        rows.extend(res.rows)
        problems.extend(res.problems)
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    index = sort_table(index.assign(metric=""), metrics=[""],
                       manipulations=[BASELINE] + [m for m, _ in plan + cplan]).drop(columns="metric")
    path = directory / "index.csv"
    text = index.assign(strength=index["strength"].map(lambda v: repr(float(v))))
    atomic_write_text(path, text.to_csv(index=False))
    return ExportRun(index, path, problems)


@dataclass(frozen=True)
class ImportedAuditMetric:
    """A metric whose audit scores were imported: what summaries and the manifest need."""

    name: str
    higher_is_better: bool
    source: str
    kind: str = "imported"
    version: str = "imported"

    def settings(self, preset: str = "matlab") -> dict:
        return {"imported_from": self.source}


def read_index(path) -> pd.DataFrame:
    """Read and check an ``index.csv`` written by :func:`export_images`."""
    p = Path(path)
    if not p.is_file():
        raise AuditImportError(f"audit index {str(p)!r} does not exist (written by "
                               "`eyetest audit ... --export-images DIR` as DIR/index.csv)")
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise AuditImportError(f"cannot read audit index {str(p)!r}: {exc}") from exc
    missing = [c for c in INDEX_COLUMNS if c not in df.columns]
    if missing:
        raise AuditImportError(f"audit index {p.name!r} lacks column(s) {', '.join(missing)}; "
                               f"found: {', '.join(df.columns) or '(none)'}")
    strength = pd.to_numeric(df["strength"], errors="coerce")
    if strength.isna().any():
        i = int(np.flatnonzero(strength.isna().to_numpy())[0])
        raise AuditImportError(f"{p.name} line {i + 2}: strength {df['strength'].iloc[i]!r} "
                               "is not a number")
    df["strength"] = strength.astype(np.float64)
    df["stem"] = df["file"].map(lambda f: Path(f).stem)
    return df


def resolve_direction(name: str, directions: Mapping[str, bool]) -> bool:
    """Higher-is-better of ``name``: the registry's when registered, else ``directions[name]``."""
    known = None
    try:
        known = get_metric(name).higher_is_better
    except EyetestError:
        pass
    given = directions.get(name)
    if known is not None and given is not None and known != given:
        raise AuditImportError(f"metric {name!r} is registered as "
                               f"{'higher' if known else 'lower'}-is-better; the option says "
                               "the opposite")
    if known is None and given is None:
        raise AuditImportError(f"imported metric {name!r} is not registered, so its direction "
                               f"is unknown: pass --higher-is-better {name} or "
                               f"--lower-is-better {name}")
    return known if known is not None else given


def import_scores(path, index, *, directions: Mapping[str, bool] | None = None,
                  ) -> tuple[pd.DataFrame, list[ImportedAuditMetric], list[Problem]]:
    """Audit rows from scores computed elsewhere on the exported images.

    Parameters
    ----------
    path : CSV / Parquet with ``image, metric, value`` (``method`` optional and
        ignored), read by :func:`eyetest.backends.imported.read_scores`;
        ``image`` is the exported file stem.
    index : the export's ``index.csv`` (path) or its table (:func:`read_index`).
    directions : higher-is-better of metrics that are not registered.

    Returns
    -------
    (table, metrics, problems): the tidy audit table (columns
    :data:`eyetest.run.audit.COLUMNS`, ``delta`` and ``improved`` by
    :mod:`eyetest.core.audit`, exactly as for native metrics), one
    :class:`ImportedAuditMetric` per metric in file order, and a problem per
    exported image a metric has no score for.
    """
    from eyetest.backends.imported import read_scores

    p = Path(path)
    idx = index if isinstance(index, pd.DataFrame) else read_index(index)
    scores = read_scores(p, keys=("image", "metric"))  # (image, metric) must be unique
    known = set(idx["stem"])
    unknown = ~scores["image"].isin(known)
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        where = f"{p.name} line {i + 2}" if p.suffix.lower() == ".csv" else f"{p.name} row {i + 1}"
        raise AuditImportError(f"{where}: image {scores['image'].iloc[i]!r} is not an exported "
                               f"file stem of the index ({int(unknown.sum())} such row(s))")
    directions = dict(directions or {})
    metrics = [ImportedAuditMetric(m, resolve_direction(m, directions), p.name)
               for m in dict.fromkeys(scores["metric"])]
    value = scores.set_index(["image", "metric"])["value"]
    base = idx[idx["manipulation"] == BASELINE].set_index(["context", "image"])["stem"]
    steps = idx[idx["manipulation"] != BASELINE]
    orphan = ~pd.MultiIndex.from_frame(steps[["context", "image"]]).isin(base.index)
    if orphan.any():
        r = steps[orphan].iloc[0]
        raise AuditImportError(f"audit index: image {r['image']!r} ({r['context']}) has no "
                               "baseline row")
    rows, problems = [], []
    for spec in metrics:
        for r in steps.itertuples(index=False):
            b_stem = base.get((r.context, r.image))
            v, b = value.get((r.stem, spec.name)), value.get((b_stem, spec.name))
            if v is None or b is None:
                miss = r.stem if v is None else b_stem
                problems.append(Problem(p.name, f"{spec.name}: no score for {miss}", r.image))
                continue
            rows.append((r.image, r.context, spec.name, r.manipulation, r.kind, float(r.strength),
                         float(v), float(b), float(core_audit.delta(v, b)),
                         bool(core_audit.improved(v, b, higher_is_better=spec.higher_is_better))))
    table = sort_table(pd.DataFrame(rows, columns=COLUMNS), metrics=[m.name for m in metrics],
                       manipulations=list(dict.fromkeys(steps["manipulation"])))
    return table, metrics, problems



def combine(run, table: pd.DataFrame, metrics: Sequence[ImportedAuditMetric],
            problems: Sequence[Problem], *, plan=(), context_plan=()):
    """One :class:`~eyetest.run.audit.AuditRun` of native (``run``, may be None) and imported rows.

    Returns ``(run, plan, context_plan)``; the plans are extended by the
    (manipulation, strengths) of the imported rows, standard and
    intended-blur separately, so figures and the manifest cover both.
    """
    from eyetest.run.audit import INTENDED_BLUR, AuditRun

    names = [s.name for s in (run.specs if run is not None else [])]
    twice = sorted(set(names) & {m.name for m in metrics})
    if twice:
        raise AuditImportError(f"metric(s) {', '.join(twice)} are both computed here and "
                               "imported; drop one from --metrics or from the file")

    def extend(base, part):
        grids = {m: set(g) for m, g in base}
        for m, g in part.groupby("manipulation", sort=False)["strength"]:
            grids.setdefault(m, set()).update(float(v) for v in g)
        return tuple((m, tuple(sorted(g))) for m, g in grids.items())

    plan = extend(tuple(plan), table[table["context"] == STANDARD])
    context_plan = extend(tuple(context_plan), table[table["context"] == INTENDED_BLUR])
    parts = [t for t in ((run.table if run is not None else None), table)
             if t is not None and len(t)]
    merged = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    merged = sort_table(merged, metrics=names + [m.name for m in metrics],
                        manipulations=[m for m, _ in plan + context_plan])
    info = dict(run.info) if run is not None else {"rows": 0}
    info["rows"] = len(merged)
    info["imported"] = {"file": metrics[0].source if metrics else None,
                        "metrics": [m.name for m in metrics], "rows": len(table)}
    out = AuditRun(merged, list(run.problems if run is not None else []) + list(problems),
                   list(run.specs if run is not None else []) + list(metrics), info)
    return out, plan, context_plan
