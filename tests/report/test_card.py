"""The evaluation card carries the manifest's versions, settings and input hashes."""

from __future__ import annotations

import hashlib
import json

import pytest

from eyetest.report.card import CARD_VERSION, evaluation_card, write_card


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_card_from_demo_contains_manifest_hashes(demo_results):
    out = demo_results.out
    card = json.loads((out / "card.json").read_text())
    manifest = json.loads((out / "results.csv.manifest.json").read_text())
    assert card["card_version"] == CARD_VERSION
    # every scored image file with its SHA256, exactly as the score manifest has it ...
    assert card["inputs_sha256"] == manifest["inputs"] and len(card["inputs_sha256"]) > 0
    # ... and those hashes are the files' real SHA256 (independent recomputation)
    for rel, digest in list(manifest["inputs"].items())[:5]:
        assert _sha(out / "dataset" / rel) == digest
    assert card["software"] == manifest["versions"]
    assert card["metrics"] == manifest["metrics"] and card["preset"] == manifest["preset"]
    # the tables the report read are hashed too
    for role in ("scores", "judgments", "audit", "scores.manifest"):
        entry = card["files_sha256"][role]
        assert entry["sha256"] == _sha(type(out)(entry["path"]))
    hs = card["human_study"]
    assert hs["simulated"] is True and hs["scaling_model"] == "bradley-terry"
    judg = (out / "judgments.csv").read_text().splitlines()
    assert hs["judgments"] == len(judg) - 1
    assert card["regime"]["declared"] == "perception-first"
    assert set(card["audit"]["plan"]) and card["audit"]["threshold"] == 0.5


def test_write_card_turns_nonfinite_into_null(tmp_path):
    card = evaluation_card(created_utc="2026-01-01T00:00:00Z",
                           score_manifest={"inputs": {"a.png": "ab" * 32}, "versions": {"eyetest": "x"}},
                           human_study={"x": float("nan"), "y": [float("inf"), 1.5]})
    path = write_card(card, tmp_path / "card.json")
    back = json.loads(path.read_text())
    assert back["human_study"] == {"x": None, "y": [None, 1.5]}
    assert back["inputs_sha256"] == {"a.png": "ab" * 32}
    assert back["software"] == {"eyetest": "x"}


def test_card_without_manifest_uses_this_process_versions():
    import numpy

    card = evaluation_card(created_utc="t")
    assert card["software"]["numpy"] == numpy.__version__
    assert card["inputs_sha256"] == {} and card["audit"] is None and card["human_study"] is None


@pytest.mark.parametrize("regime", ["fidelity-first", "perception-first"])
def test_card_records_regime(regime):
    assert evaluation_card(created_utc="t", regime=regime, regime_note="n")["regime"] == {
        "declared": regime, "note": "n"}
