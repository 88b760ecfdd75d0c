"""``eyetest demo``: the whole system on scikit-image's bundled images, offline.

Builds a small x4 super-resolution benchmark (honest classical methods and
deliberately gamed ones), scores it with the metric battery, audits the
metrics, simulates a rater panel (labelled "simulated" everywhere), scales the
judgments, measures metric-human alignment and writes a self-contained HTML
report. With ``--serve`` it then opens the demo as a study on this machine so
you can judge it yourself.
"""

from __future__ import annotations

import sys

import click


@click.command("demo")
@click.option("--out", "out", default="eyetest-demo", show_default=True,
              type=click.Path(file_okay=False),
              help="Folder for the dataset, results, audit, simulated judgments and the report.")
@click.option("--workers", default=0, show_default=True, type=click.IntRange(min=0),
              help="Processes (0 = all cores, 1 = in this process).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of everything random.")
@click.option("--no-cache", is_flag=True, help="Do not use the score cache.")
@click.option("--serve", is_flag=True,
              help="Afterwards, create a study from the demo dataset and serve it on 127.0.0.1 "
                   "so you can judge it yourself (Ctrl-C stops the server).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535),
              help="Port for --serve.")
@click.option("-q", "--quiet", is_flag=True, help="Only print the report path.")
@click.pass_context
def command(ctx, out, workers, seed, no_cache, serve, port, quiet):
    """Benchmark -> metrics -> audit -> simulated raters -> alignment -> report (offline)."""
    import time
    from pathlib import Path

    from eyetest.cli.outputs import write_errors
    from eyetest.io.outputs import check_writable_folder
    from eyetest.run.cache import ScoreCache
    from eyetest.run.pipeline import run_pipeline

    check_writable_folder(out, "demo folder")
    if serve:   # a port in use is found now, not after the whole demo has run
        from eyetest.cli.commands.serve import check_listen

        check_listen("127.0.0.1", port)
    t0 = time.perf_counter()
    log = None if quiet else (lambda msg: click.echo(msg, err=True))
    with write_errors():
        result = run_pipeline(out, seed=seed, workers=workers or None,
                              cache=None if no_cache else ScoreCache(), log=log)
    if not quiet:
        click.echo(f"results: {Path(out) / 'results.csv'}")
        click.echo("The human judgments in this demo are SIMULATED (eyetest's rater simulator); "
                   "bicubic-usm and ibp-overgen are gamed on purpose.")
        click.echo(f"done in {time.perf_counter() - t0:.1f} s")
    click.echo(f"report: {result.report}")
    if serve:
        from eyetest.cli.commands.serve import command as serve_command
        from eyetest.run.pipeline import create_demo_study

        db = str(Path(out) / "study.sqlite")
        study = create_demo_study(out, db, seed=seed)
        click.echo(f"study {study} created in {db}")
        click.echo(f"judge it yourself: http://127.0.0.1:{port}/study/{study}")
        click.echo(f"then: eyetest report {out} --study-db {db} --study {study} --out {Path(out) / 'mine.html'}")
        sys.stdout.flush()
        ctx.invoke(serve_command, db=db, host="127.0.0.1", port=port, workers=1, insecure_local=True,
                   rate_limits="100,200,10,30", frame_ancestors=())
