"""``eyetest rank``: scale pairwise judgments or ratings into a table with CIs."""

from __future__ import annotations

from pathlib import Path

import click

MODELS = ("bradley-terry", "davidson", "rao-kupper", "thurstone", "elo", "mos", "zmos")
#: eyetest.io.judgments.FORMATS and "auto" (not imported: pandas would load with every command)
FORMATS = ("auto", "generic", "pwcmp", "arena", "ratings", "study")


def _read_exclusion_file(path: Path) -> list[str]:
    """Rater ids, read as text (``007`` stays ``007``): one per line, or a CSV with a ``rater`` column."""
    import pandas as pd

    from eyetest.errors import JudgmentDataError

    text = path.read_text(encoding="utf-8-sig")
    first = text.splitlines()[0].strip() if text.strip() else ""
    if "," in first or first == "rater":
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        if "rater" not in table.columns:
            raise JudgmentDataError("rater", str(path), "exclusion CSV needs a 'rater' column")
        if "excluded" in table.columns:
            table = table[table["excluded"].str.strip().str.lower().isin(["true", "1"])]
        return [r.strip() for r in table["rater"] if r.strip()]
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))


def format_table(scale, by: str | None) -> str:
    """Readable fixed-width rendering of a scale table, one block per group."""
    import pandas as pd

    lines = []
    groups = [(None, scale)] if by is None else list(scale.groupby(by, sort=True, dropna=False))
    for key, g in groups:
        key = "(empty)" if by is not None and not isinstance(key, str) and pd.isna(key) else key
        unit = g["unit"].iloc[0]
        lines.append(f"{by} = {key}" if by else f"model {g['model'].iloc[0]} ({unit})")
        rows = [("rank", "condition", "score", "95% CI", "rank range")]
        for _, r in g.iterrows():
            rank_range = f"{r['rank_low']}" if r["rank_low"] == r["rank_high"] else f"{r['rank_low']}-{r['rank_high']}"
            ci = "-" if r["ci_low"] != r["ci_low"] else f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
            rows.append((str(len(rows)), str(r["condition"]), f"{r['score']:.3f}", ci, rank_range))
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        for i, row in enumerate(rows):
            lines.append("  " + "  ".join(c.rjust(w) if k in (0, 2) else c.ljust(w)
                                          for k, (c, w) in enumerate(zip(row, widths))).rstrip())
            if i == 0:
                lines.append("  " + "  ".join("-" * w for w in widths))
        if "tie_parameter" in g.columns:
            t = g.iloc[0]
            lines.append(f"  tie parameter {t['tie_parameter']} = {t['tie_value']:.3f} "
                         f"[{t['tie_ci_low']:.3f}, {t['tie_ci_high']:.3f}]")
        lines.append("")
    return "\n".join(lines)


@click.command("rank")
@click.argument("judgments", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", type=click.Choice(MODELS), default=None,
              help="Scaling model [default: bradley-terry; mos for ratings].")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True,
              help="Input format (auto: guessed from the header).")
@click.option("--by", default=None, help="Scale each value of this column separately (scenario, dimension, image, ...).")
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=0), default=0, show_default=True,
              help="Bootstrap replicates for CIs and rank intervals (0: analytic CIs).")
@click.option("--bootstrap-unit", type=click.Choice(["judgment", "rater"]), default="judgment", show_default=True,
              help="Resample judgments or raters (pairwise models; MOS always resamples raters, Elo judgments).")
@click.option("--exclude-raters", default="none", show_default=True,
              help="auto (screening recommendations), none, or a FILE of rater ids.")
@click.option("--per-method", is_flag=True, help="Pool images: one score per method.")
@click.option("--anchor", default=None, help="Condition fixed at score 0 (default: centred scale).")
@click.option("--disconnected", type=click.Choice(["prior", "component"]), default="prior", show_default=True,
              help="When the scale is not finite (disconnected design, a condition that never loses): a weak "
                   "N(0, 3^2) prior, or scale each connected component on its own (e.g. within-image designs).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Scale table (.csv, .jsonl or .parquet).")
@click.option("--report", is_flag=True, help="Also write the rater-quality table next to --out (<stem>.raters.csv).")
@click.option("--min-ms", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Screening's speed rule: trials faster than this many ms count as too fast "
                   "[default: a study export's min_ms_per_trial, else 1200].")
def command(judgments, model, fmt, by, n_boot, bootstrap_unit, exclude_raters, per_method, anchor, disconnected,
            seed, out, report, min_ms):
    """Scale JUDGMENTS (pairwise or ratings) into one row per condition (and group) with CIs and rank intervals."""
    import numpy as np

    from eyetest.cli.outputs import write_errors
    from eyetest.core.judgments.ranking import is_rating_table, rank
    from eyetest.core.judgments.screening import ScreeningRules, screen_raters
    from eyetest.errors import JudgmentDataError
    from eyetest.io.judgments import check_table_path, eyetest_column, read_judgments, write_table
    from eyetest.io.outputs import check_writable

    check_table_path(out)
    check_writable(out, "scale table (--out)")
    sidecar = out.with_name(out.stem + ".raters.csv")
    for target, what in ((out, "--out"), (sidecar, "the rater-quality table (--report)")):
        if (what == "--out" or report) and _same_file(target, judgments):
            raise JudgmentDataError(what, str(target), f"is the input file {judgments}; choose another --out")
    table, fmt_used = read_judgments(judgments, format=fmt, return_format=True)
    if by not in table.columns and eyetest_column(by, format=fmt_used) in table.columns:
        by = eyetest_column(by, format=fmt_used)  # e.g. pwcmp's "scene" is read as "image"
    rating = is_rating_table(table)
    model = model or ("mos" if rating else "bradley-terry")
    screen = None
    min_ms = min_ms or table.attrs.get("min_ms_per_trial")      # the flag, else the study's own rule
    rules = ScreeningRules(min_ms=min_ms) if min_ms else ScreeningRules()
    if report or exclude_raters == "auto":
        screen = (screen_raters(ratings=table, rules=rules) if rating
                  else screen_raters(judgments=table, rules=rules))
    if exclude_raters == "auto":
        excluded = screen.excluded
    elif exclude_raters == "none":
        excluded = []
    else:
        path = Path(exclude_raters)
        if not path.is_file():
            raise JudgmentDataError("--exclude-raters", exclude_raters, "is not auto, none or an existing file")
        excluded = _read_exclusion_file(path)
    rng = np.random.default_rng(seed) if n_boot else None
    scale, notes = rank(table, model=model, by=by, n_boot=n_boot, rng=rng, unit=bootstrap_unit,
                        exclude=excluded, anchor=anchor, per_method=per_method, disconnected=disconnected)
    with write_errors(out):
        write_table(scale, out)
    click.echo(format_table(scale, by))
    for note in notes:
        click.echo(f"note: {note}", err=True)
    applied = [r for r in excluded if r in set(table["rater"])]
    if applied:
        click.echo(f"excluded {len(applied)} rater(s): {', '.join(map(str, applied))}")
        if exclude_raters == "auto":
            click.echo("  (recommended by the screening heuristics; check the reasons before reporting):")
            for rater, reason in screen.reasons().items():
                click.echo(f"  {rater}: {reason}")
    if screen is not None and report:
        t = screen.table.copy()
        t["applied"] = t["rater"].isin(set(applied))
        with write_errors(sidecar):
            path = write_table(t, sidecar)
        click.echo(f"rater-quality table: {path}")
    click.echo(f"wrote {out}")
