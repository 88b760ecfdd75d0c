"""Content-addressed cache of per-image metric scores.

A score is stored under a key that hashes everything it depends on::

    sha256(json({"metric", "metric_version", "settings", "eyetest",
                 "reader", "resources", "distorted", "reference"}))

``settings`` are the effective settings of the preset
(:meth:`MetricSpec.settings`), ``reader`` the image-reading options that
fix the array and its ``data_range`` (alpha handling, reader version),
``resources`` the SHA256 of each parameter file, ``distorted`` /
``reference`` the SHA256 of the input *files*.  Renaming or moving files
keeps their scores; changing a pixel, a setting, the metric version or the
eyetest version does not.

The cache lives in ``$EYETEST_CACHE_DIR`` (default
``platformdirs.user_cache_dir("eyetest")``), one small JSON file per score
under ``scores/<2 hex>/<62 hex>.json``.  Writes go to a temporary file in the
same folder and are renamed into place (:func:`os.replace` is atomic), so
several processes may fill the cache at once; an unreadable entry counts as
a miss.  The cache is best-effort: when an entry cannot be written (a
read-only or full disk, a path that is not a folder) :meth:`ScoreCache.put`
warns once (:class:`CacheWriteWarning`), records the error in
:meth:`ScoreCache.stats` and writes nothing more, and the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any, Mapping

from eyetest.io.tables import atomic_write_bytes

CACHE_ENV = "EYETEST_CACHE_DIR"
_CHUNK = 1 << 20


class CacheWriteWarning(UserWarning):
    """The score cache could not be written; scores are computed but not cached."""


def read_with_sha256(path) -> tuple[bytes, str]:
    """A file's bytes and their SHA256 (hex), from one read.

    Hashing and decoding the same bytes means a file rewritten while a run
    reads it can never be cached under the hash of its other version.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    return data, hashlib.sha256(data).hexdigest()


def sha256_file(path) -> str:
    """SHA256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def default_cache_dir() -> Path:
    """``$EYETEST_CACHE_DIR`` or the platform's user cache folder for eyetest."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("eyetest"))


def canonical_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces); tuples become lists, others ``repr``."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=repr,
                      allow_nan=True)


def score_key(*, metric: str, metric_version: str, settings: Mapping[str, Any],
              eyetest_version: str, reader: Mapping[str, Any],
              resources: Mapping[str, str], distorted: str, reference: str | None) -> str:
    """The cache key (hex SHA256) of one score; see the module docstring."""
    doc = {
        "metric": metric, "metric_version": str(metric_version), "settings": dict(settings),
        "eyetest": eyetest_version, "reader": dict(reader), "resources": dict(resources),
        "distorted": distorted, "reference": reference,
    }
    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


def _encode(value: float):
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _decode(value) -> float:
    if isinstance(value, str):
        return float(value)  # "inf", "-inf", "nan"
    return float(value)


class ScoreCache:
    """Score cache in ``directory`` (default :func:`default_cache_dir`).

    ``write_error`` is None, or the first error met while writing an entry
    (after which nothing more is written by this instance).  ``warn=False``:
    that error is only recorded, for a caller that reports ``write_error``
    itself (no process-wide warning filter needed to keep it quiet).
    """

    def __init__(self, directory=None, *, warn: bool = True):
        self.warn = bool(warn)
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0
        self.writes = 0
        self.write_error: str | None = None

    def _path(self, key: str) -> Path:
        return self.directory / "scores" / key[:2] / f"{key[2:]}.json"

    def entry(self, key: str) -> dict | None:
        """The cached entry (``value`` as a float, plus its ``meta``), or None on a miss.

        A missing or unreadable entry is a miss.
        """
        try:
            with open(self._path(key), "rb") as fh:
                doc = json.loads(fh.read())
            doc["value"] = _decode(doc["value"])
        except (OSError, ValueError, KeyError, TypeError):
            self.misses += 1
            return None
        self.hits += 1
        return doc

    def get(self, key: str) -> float | None:
        """The cached score, or None (a missing or unreadable entry is a miss)."""
        doc = self.entry(key)
        return None if doc is None else doc["value"]

    def meta(self, key: str) -> dict | None:
        """The ``meta`` stored with a score (without ``value``), or None; no hit/miss counted."""
        try:
            with open(self._path(key), "rb") as fh:
                doc = json.loads(fh.read())
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict):
            return None
        doc.pop("value", None)
        return doc

    def put(self, key: str, value: float, **meta: Any) -> None:
        """Store a score atomically (``meta`` is kept with it and returned by :meth:`entry`).

        Best-effort: the first write that fails with an :class:`OSError`
        warns (:class:`CacheWriteWarning`, naming the folder and the error),
        is recorded in ``write_error`` and turns writing off for this instance.
        """
        if self.write_error is not None:
            return
        path = self._path(key)
        data = json.dumps({"value": _encode(float(value)), **meta}, default=repr).encode()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data, fsync=False)  # a lost entry is just recomputed
        except OSError as exc:
            self.write_error = f"{exc.strerror or exc}: {exc.filename or path}"
            if self.warn:
                warnings.warn(f"score cache {str(self.directory)!r} (${CACHE_ENV}) cannot be "
                              f"written ({self.write_error}); scores are computed but no longer "
                              "cached in this run", CacheWriteWarning, stacklevel=2)
            return
        self.writes += 1

    def stats(self) -> dict:
        return {"dir": str(self.directory), "hits": self.hits, "misses": self.misses,
                "writes": self.writes, "write_error": self.write_error}
