"""Imported scores in ``eyetest score``: ``--import FILE`` and ``--on-conflict``.

The merge itself is :func:`eyetest.backends.imported.merge_imported`; this
module applies it to a finished :class:`~eyetest.run.score.ScoreRun` (every
file in turn), records each file's SHA256 and row count in the manifest and
gives the summary a descriptor for every imported metric, so imported scores
appear in the table, the summary and every later analysis like native ones.
Given the dataset's (image, method) pairs, rows naming an image or method the
dataset does not have are kept out of the table and reported as problems
(:func:`eyetest.backends.imported.match_dataset`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from eyetest.backends.imported import CONFLICT_MODES, match_dataset, merge_imported, read_scores
from eyetest.core.metrics.registry import get_metric
from eyetest.errors import SpecError, UnknownNameError
from eyetest.run.cache import sha256_file


@dataclass(frozen=True)
class ImportedMetric:
    """Summary descriptor of an imported metric that eyetest does not know.

    Only ``name``, ``kind``, ``higher_is_better`` and ``direction`` are used
    by :mod:`eyetest.run.summary`.  The direction of an unregistered metric
    is unknown (``higher_is_better=None``, shown as ``?``): eyetest does not
    guess it.
    """

    name: str
    kind: str = "imported"
    higher_is_better: bool | None = None

    @property
    def direction(self) -> str:
        if self.higher_is_better is None:
            return "?"
        return "↑" if self.higher_is_better else "↓"


def check_imports(paths: Sequence, on_conflict: str, *, pairs=None) -> list[Path]:
    """Validate the files and the conflict policy before any scoring starts.

    A malformed file fails here (naming file, line and value), so a long run
    is not wasted on it; with ``pairs`` (the dataset's (image, method) pairs)
    so does a file name that repeats a stem
    (:func:`eyetest.backends.imported.match_dataset`).
    """
    if on_conflict not in CONFLICT_MODES:
        raise SpecError("on_conflict", f"must be one of {', '.join(CONFLICT_MODES)}, "
                        f"got {on_conflict!r}")
    out = []
    for p in paths:
        rows = read_scores(p)  # raises ImportedScoresError naming the file and row
        if pairs is not None:
            match_dataset(rows, p, pairs)
        out.append(Path(p))
    return out


def metric_descriptor(name: str):
    """The registered spec of ``name`` if eyetest knows it, else an :class:`ImportedMetric`."""
    if ":" in name:  # backend names (pyiqa:...) are not resolved just to summarise them
        return ImportedMetric(name)
    try:
        return get_metric(name)
    except UnknownNameError:
        return ImportedMetric(name)


def merge_files(table, paths: Sequence, *, on_conflict: str = "error", pairs=None):
    """Merge every file in ``paths`` into ``table``.

    ``pairs``: the dataset's (image, method) pairs; rows matching none of
    them are left out and reported (None: every row is merged).

    Returns
    -------
    (table, records, problems): the merged table; per file, ``{"file",
    "sha256", "rows", "metrics"}`` for the manifest (``rows`` = data rows in
    the file); and a :class:`~eyetest.io.dataset.Problem` per unknown
    (image, method).
    """
    records, problems = [], []
    for p in paths:
        p = Path(p)
        digest = sha256_file(p)
        rows = read_scores(p)
        kept = rows
        if pairs is not None:
            kept, unknown = match_dataset(rows, p, pairs)
            problems.extend(unknown)
        table = merge_imported(table, p, on_conflict=on_conflict, scores=kept)
        records.append({"file": str(p), "sha256": digest, "rows": int(len(rows)),
                        "metrics": sorted(rows["metric"].unique().tolist())})
    return table, records, problems


__all__ = ["ImportedMetric", "check_imports", "merge_files", "metric_descriptor"]
