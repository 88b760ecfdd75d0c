"""Evaluation card: what was evaluated, how, with which software, on which exact inputs.

The card is a JSON document written beside the report (``card.json`` beside
``report.html``, else ``<stem>.card.json``).  It
is assembled from the manifests the runs wrote (``eyetest score``'s
``<table>.manifest.json``, the audit manifest) plus facts about the human
study, so every number in the report can be traced to versions, settings
and input hashes:

``card_version``      format version of this document (1)
``created_utc``       when the card was written (given by the caller)
``regime``            ``fidelity-first`` | ``perception-first`` | ``undeclared`` (+ note)
``software``          eyetest and library versions (from the score manifest, else this process)
``metrics``           per metric: kind, direction, preset, version, settings, resource SHA256
``preset``            the preset requested for scoring
``dataset``           the dataset folder the report used (``path``; ``recorded_path`` is the
                      score manifest's), methods (with family), scenarios
``inputs_sha256``     SHA256 of every scored image file (score manifest ``inputs``)
``files_sha256``      SHA256 of every table the report read (scores, judgments, audit, ...)
``human_study``       judgments: count read and used, raters read and used, dimensions,
                      protocol, scaling model (``bradley-terry``, ``mos`` or ``given``),
                      exclusions, ``simulated`` (true when the judgments come from the simulator)
``audit``             manipulation plan, threshold, bootstrap size
``timings_s``         run timings (score manifest, pipeline)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

CARD_VERSION = 1
_MANIFEST = object()   # dataset_path not given: the score manifest's


def _software() -> dict:
    import platform

    import numpy
    import pandas
    import scipy

    from eyetest import __version__

    return {"eyetest": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
            "scipy": scipy.__version__, "pandas": pandas.__version__}


def evaluation_card(*, created_utc: str, score_manifest: Mapping | None = None,
                    audit_manifest: Mapping | None = None, files_sha256: Mapping[str, str] | None = None,
                    human_study: Mapping | None = None, regime: str = "undeclared", regime_note: str = "",
                    methods: Mapping[str, Mapping] | None = None, scenarios: Mapping[str, Any] | None = None,
                    timings_s: Mapping | None = None, title: str = "", dataset_path=_MANIFEST) -> dict:
    """Assemble the card (a JSON-serialisable dict); see the module docstring.

    ``dataset_path``: the dataset folder actually used (None: none was found);
    by default the score manifest's.
    """
    sm = dict(score_manifest or {})
    card: dict[str, Any] = {
        "card_version": CARD_VERSION,
        "title": title,
        "created_utc": created_utc,
        "regime": {"declared": regime, "note": regime_note},
        "software": dict(sm.get("versions") or _software()),
        "preset": sm.get("preset"),
        "metrics": sm.get("metrics", {}),
        "read": sm.get("read"),
        "dataset": {"path": sm.get("dataset") if dataset_path is _MANIFEST else dataset_path,
                    "recorded_path": sm.get("dataset"), "methods": dict(methods or sm.get("methods") or {}),
                    "scenarios": dict(scenarios or {})},
        "inputs_sha256": dict(sm.get("inputs") or {}),
        "files_sha256": dict(files_sha256 or {}),
        "human_study": dict(human_study) if human_study else None,
        "audit": None,
        "timings_s": {"score": sm.get("timings_s"), **dict(timings_s or {})},
        "problems": sm.get("problems", []),
    }
    if audit_manifest:
        am = audit_manifest
        card["audit"] = {k: am.get(k) for k in ("metrics", "plan", "context_plan", "kinds", "threshold",
                                                 "n_boot", "images") if k in am}
        card["audit"]["seed"] = (am.get("run") or {}).get("seed")
    return card


def _clean(obj):
    """NaN and infinities become ``None`` (JSON has no such numbers)."""
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _clean(obj.item())
    return obj


def write_card(card: Mapping, path) -> Path:
    """Write the card as indented JSON, atomically (non-finite numbers written as ``null``)."""
    from eyetest.io.tables import atomic_write_text

    path = Path(path)
    atomic_write_text(path, json.dumps(_clean(card), indent=2, ensure_ascii=False, allow_nan=False,
                                       default=str) + "\n")
    return path
