"""`eyetest metrics` lists the registry as a table and as JSON."""

from __future__ import annotations

import json

from click.testing import CliRunner

from eyetest.cli.main import cli
from eyetest.core.metrics.registry import list_metrics


def test_json_matches_registry():
    r = CliRunner().invoke(cli, ["metrics", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    specs = list_metrics()
    assert [row["name"] for row in rows] == [s.name for s in specs]
    for row, s in zip(rows, specs):
        assert row["kind"] == s.kind and row["higher_is_better"] == s.higher_is_better
        assert row["direction"] == ("↑" if s.higher_is_better else "↓")
        assert row["requires"] == list(s.requires)
        assert "matlab" in row["presets"] and "sr-y-crop<N>" in row["presets"]
        assert "sr-y" not in row["presets"]


def test_table_lists_every_metric_with_arrow():
    r = CliRunner().invoke(cli, ["metrics"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split()[:4] == ["name", "kind", "better", "range"]
    for s in list_metrics():
        line = next(line for line in lines if line.split()[0] == s.name)
        assert line.split()[1] == s.kind and line.split()[2] == s.direction
