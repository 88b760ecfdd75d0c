"""``eyetest adoption``: the literature metric-adoption table."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(name="adoption")
@click.argument("papers", type=click.Path(dir_okay=False, path_type=str))
@click.option("--metric-years", "metric_years", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="METRICS.csv (metric,year): blank cells are 'no' for papers published after that year, "
                   "'n-a' for papers from that year or earlier.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="write the table (CSV, Parquet or JSON by extension: metric, reporting, eligible, adoption_rate, first_year, "
                   "available_after).")
@click.option("--plot", "plot", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="also draw the adoption rates (PNG, SVG or PDF by extension).")
def command(papers: str, metric_years: str | None, out: str | None, plot: str | None) -> None:
    """Adoption rate of each metric in PAPERS.csv (paper,year,<metric>...).

    Cells: yes/no/n-a (also y, n, n/a, ✓, ✗, '/'); blank cells are derived
    from --metric-years.  Adoption rate = papers reporting the metric /
    papers for which it was available.
    """
    import pandas as pd

    if plot and Path(plot).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise click.BadParameter(f"{plot!r}: use a .png, .svg or .pdf file", param_hint="--plot")

    from eyetest.cli.outputs import check_table_output, write_errors
    from eyetest.io.adoption import compute_adoption
    from eyetest.io.outputs import check_writable
    from eyetest.io.tables import write_table

    # the output names are checked before the table is read: a bad one fails at once
    if out:
        check_table_output(out, "adoption table (--out)")
    if plot:
        check_writable(plot, "adoption plot (--plot)")
    table = compute_adoption(papers, metric_years)
    shown = table.copy()
    shown["adoption_rate"] = shown["adoption_rate"].map(lambda r: "n/a" if r != r else f"{r:.1%}")
    for column in ("first_year", "available_after"):
        shown[column] = shown[column].map(lambda v: "-" if pd.isna(v) else str(v))
    click.echo(shown.to_string(index=False))
    if out:
        with write_errors(out):
            write_table(table, out)
        click.echo(f"wrote {out}")
    if plot:
        from eyetest.report.figures import adoption_figure, save_figure

        with write_errors(plot):
            save_figure(adoption_figure(table), plot)
        click.echo(f"wrote {plot}")
