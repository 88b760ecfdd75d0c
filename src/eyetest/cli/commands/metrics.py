"""``eyetest metrics``: the metric registry as a table (or JSON)."""

from __future__ import annotations

import click


def _range(r) -> str:
    lo, hi = r
    return f"{lo:g}..{hi:g}"


def registry_rows() -> list[dict]:
    """One dict per registered metric (what ``--json`` prints)."""
    from eyetest.core.metrics.registry import list_metrics

    rows = []
    for s in list_metrics():
        presets = [p for p in s.presets if p != "sr-y"] + ["sr-y-crop<N>"]
        rows.append({
            "name": s.name, "kind": s.kind, "higher_is_better": s.higher_is_better,
            "direction": s.direction, "value_range": [float(v) for v in s.value_range],
            "presets": presets, "requires": list(s.requires), "resources": list(s.resources),
            "version": s.version, "description": s.description, "reference": s.reference,
        })
    return rows


@click.command("metrics")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def command(as_json):
    """List the registered metrics: kind, direction of better, range, presets, needs."""
    rows = registry_rows()
    if as_json:
        import json

        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no metrics registered")
        return
    header = ["name", "kind", "better", "range", "presets", "requires", "reference"]
    table = [header] + [[
        r["name"], r["kind"], r["direction"], _range(r["value_range"]), ",".join(r["presets"]),
        ",".join(r["requires"]) or "-", r["reference"] or "-",
    ] for r in rows]
    widths = [max(len(t[i]) for t in table) for i in range(len(header) - 1)]
    for i, t in enumerate(table):
        cells = [c.ljust(w) for c, w in zip(t[:-1], widths)] + [t[-1]]
        click.echo("  ".join(cells).rstrip())
        if i == 0:
            click.echo("  ".join("-" * w for w in widths) + "  " + "-" * 9)
