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
a miss.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

from eyetest.io.tables import atomic_write_bytes

CACHE_ENV = "EYETEST_CACHE_DIR"
_CHUNK = 1 << 20


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
    """Score cache in ``directory`` (default :func:`default_cache_dir`)."""

    def __init__(self, directory=None):
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0
        self.writes = 0

    def _path(self, key: str) -> Path:
        return self.directory / "scores" / key[:2] / f"{key[2:]}.json"

    def get(self, key: str) -> float | None:
        """The cached score, or None (a missing or unreadable entry is a miss)."""
        try:
            with open(self._path(key), "rb") as fh:
                doc = json.loads(fh.read())
            value = _decode(doc["value"])
        except (OSError, ValueError, KeyError, TypeError):
            self.misses += 1
            return None
        self.hits += 1
        return value

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
        """Store a score atomically (``meta`` is kept for people reading the cache)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"value": _encode(float(value)), **meta}, default=repr).encode()
        atomic_write_bytes(path, data, fsync=False)  # a lost entry is just recomputed
        self.writes += 1

    def stats(self) -> dict:
        return {"dir": str(self.directory), "hits": self.hits, "misses": self.misses,
                "writes": self.writes}
