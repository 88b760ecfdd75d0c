"""``eyetest demo``: build a small SR dataset from scikit-image's images and score it."""

from __future__ import annotations

import sys

import click


@click.command("demo")
@click.option("--out", "out", default="eyetest-demo", show_default=True,
              type=click.Path(file_okay=False),
              help="Folder for the dataset, results.csv and its manifest.")
@click.option("--workers", default=0, show_default=True, type=click.IntRange(min=0),
              help="Processes (0 = all cores, 1 = in this process).")
@click.option("--no-cache", is_flag=True, help="Do not use the score cache.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary table.")
def command(out, workers, no_cache, quiet):
    """Degrade sample images x4, restore them with bicubic, Lanczos and a gamed
    bicubic+unsharp-mask method, and score them with the default metrics (offline)."""
    from eyetest.run.cache import ScoreCache
    from eyetest.run.demo import run_demo
    from eyetest.run.summary import format_summary, summarize

    run, table, manifest = run_demo(out, workers=workers,
                                    cache=None if no_cache else ScoreCache(),
                                    progress=not quiet and sys.stderr.isatty())
    for p in run.problems:
        click.secho(f"problem: {p.file}: {p.reason}", fg="yellow", err=True)
    if not quiet:
        click.echo(format_summary(summarize(run.table, run.specs), run.specs))
        click.echo("bicubic-usm is bicubic plus an unsharp mask: it restores nothing, so a "
                   "metric that ranks it above bicubic rewards sharpening, not fidelity.")
    click.echo(f"dataset: {run.manifest['dataset']}")
    click.echo(f"results: {table}")
    click.echo(f"manifest: {manifest}")
    if run.table.empty:
        sys.exit(1)
