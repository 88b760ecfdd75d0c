"""``eyetest score``: metric table of a dataset (or a --ref/--dist folder pair)."""

from __future__ import annotations

import sys

import click


def _split_metrics(value: str | None):
    """Metric names of ``--metrics`` (None: not given, the default battery)."""
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise click.BadParameter(f"no metric name in {value!r}; give names such as "
                                 "psnr,ssim (see `eyetest metrics`), or leave the option out "
                                 "for the default metrics", param_hint="--metrics")
    return names


@click.command("score")
@click.argument("dataset", required=False, type=click.Path(file_okay=False))
@click.option("--ref", "ref", type=click.Path(file_okay=False),
              help="Reference folder (two-folder form).")
@click.option("--dist", "dist", multiple=True, type=click.Path(file_okay=False),
              help="Folder of outputs, method named after it (repeatable).")
@click.option("--metrics", "metrics", default=None,
              help="Comma-separated metric names (default: FR metrics when references exist "
                   "+ NR metrics that need nothing optional). See `eyetest metrics`.")
@click.option("--preset", default="matlab", show_default=True,
              help="matlab | sr-y-crop<N> | a preset a metric defines.")
@click.option("--out", "out", default="results.csv", show_default=True,
              type=click.Path(dir_okay=False),
              help="Result table; .csv, .parquet or .json. The manifest goes to "
                   "<out>.manifest.json.")
@click.option("--workers", default=0, show_default=True, type=click.IntRange(min=0),
              help="Processes (0 = all cores, 1 = in this process).")
@click.option("--no-cache", is_flag=True, help="Compute everything; do not read or fill the "
              "score cache ($EYETEST_CACHE_DIR).")
@click.option("--strict", is_flag=True, help="Exit 1 if any file had a problem.")
@click.option("--alpha", type=click.Choice(["composite", "drop"]), default="composite",
              show_default=True, help="Alpha channels: composite on white, or drop.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help="Refuse larger images (default $EYETEST_MAX_PIXELS or 178956970).")
@click.option("--import", "imports", multiple=True, type=click.Path(dir_okay=False),
              help="CSV/Parquet of scores computed elsewhere (image, method, metric, value), "
                   "merged into the table (repeatable).")
@click.option("--on-conflict", type=click.Choice(["error", "imported", "native"]),
              default="error", show_default=True,
              help="An imported score that eyetest also computed: fail, or which one wins.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="Run the work on a local process pool or on Ray.")
@click.option("--address", default=None,
              help="Ray cluster to join (auto, HOST:6379, ray://HOST:10001); default: a "
                   "private local cluster with --workers CPUs.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary table.")
def command(dataset, ref, dist, metrics, preset, out, workers, no_cache, strict, alpha,
            max_pixels, imports, on_conflict, executor, address, quiet):
    """Score DATASET (gt/, methods/<name>/, ...) or --ref DIR --dist DIR.

    Writes a tidy table (image, method, metric, value, scenario, family) and a
    manifest, prints problems by file name and a per-method summary (mean and
    95% t-interval). Distribution metrics (fid, kid) give one value per
    method in rows with image '*'. --import merges scores computed elsewhere.
    Exit status: 0 done; 1 nothing could be scored, or --strict and a problem
    occurred (the table and manifest are written in both cases); 2 bad
    arguments, dataset or import file, or Ray not installed.
    """
    from eyetest.cli.outputs import write_errors
    from eyetest.io.dataset import discover, discover_pair
    from eyetest.io.outputs import check_writable
    from eyetest.io.tables import table_format
    from eyetest.run.cache import ScoreCache
    from eyetest.run.score import score_dataset, write_outputs
    from eyetest.run.summary import format_summary, summarize

    table_format(out)  # an unknown extension fails now, not after scoring
    check_writable(out, "result table")   # ... and so does a place it cannot be written
    names = _split_metrics(metrics)
    if address and executor != "ray":
        raise click.UsageError("--address joins a Ray cluster; give it with --executor ray")
    if dataset and (ref or dist):
        raise click.UsageError("give either DATASET or --ref/--dist, not both")
    if dataset:
        ds = discover(dataset)
    elif dist:
        ds = _pairs(ref, dist, discover_pair)
    else:
        raise click.UsageError("give a DATASET folder, or --dist DIR (with --ref DIR for FR "
                               "metrics)")
    cache = None if no_cache else ScoreCache(warn=False)   # a write error is printed below, once
    progress = not quiet and sys.stderr.isatty()
    run = score_dataset(ds, metrics=names, preset=preset, workers=workers, cache=cache,
                        alpha=alpha, max_pixels=max_pixels, progress=progress,
                        executor=executor, address=address, imports=imports,
                        on_conflict=on_conflict)
    for p in run.problems:
        click.secho(f"problem: {p.file}: {p.reason}", fg="yellow", err=True)
    for w in run.warnings:
        click.secho(f"warning: {w['metric']} of {w['method']}: {w['message']}", fg="yellow",
                    err=True)
    if cache is not None and cache.write_error:
        click.secho(f"warning: score cache {cache.directory} ($EYETEST_CACHE_DIR) cannot be "
                    f"written ({cache.write_error}); scores were computed but not cached",
                    fg="yellow", err=True)
    counts = run.manifest["counts"]
    if counts["rows_scored"] == 0:
        click.secho("error: nothing could be scored"
                    + (f" ({len(run.problems)} problems above)" if run.problems else ""),
                    fg="red", err=True)
    with write_errors(out):
        table_path, manifest = write_outputs(run, out)  # even when empty: no stale results
    if not quiet and not run.table.empty:
        specs = run.summary_specs
        click.echo(format_summary(summarize(run.table, specs), specs))
        sets = sorted({s.name for s in specs if s.kind == "distribution"})
        if sets:
            click.echo(f"{', '.join(sets)}: one value per method over all its images "
                       f"(rows with image '{run.manifest['distribution']['image_marker']}')")
        if any(getattr(s, "higher_is_better", True) is None for s in specs):
            click.echo("? direction unknown (imported metric that eyetest does not know)")
        c = run.manifest["cache"]
        cached = f", {c['hits']} scores from cache" if c else ""
        imported = (f", {counts['rows_imported']} imported" if run.manifest["imported"]
                    else "")
        click.echo(f"{len(run.table)} scores in {run.manifest['timings_s']['total']:.2f} s"
                   f"{cached}{imported}; {len(run.problems)} problems")
    click.echo(f"results: {table_path}")
    click.echo(f"manifest: {manifest}")
    if counts["rows_scored"] == 0:
        sys.exit(1)
    if strict and run.problems:
        click.secho(f"--strict: {len(run.problems)} problems", fg="red", err=True)
        sys.exit(1)


def _pairs(ref, dists, discover_pair):
    from eyetest.io.dataset import Dataset

    parts = [discover_pair(ref, d) for d in dists]
    names = [p.methods[0] for p in parts]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        from eyetest.errors import DatasetError

        raise DatasetError(f"several --dist folders are named {dup[0]!r}; methods are named "
                           "after their folder, so give folders distinct names")
    ds = Dataset(None, [i for p in parts for i in p.items], names, parts[0].references)
    seen = set()
    for p in parts:
        for prob in p.problems:
            if (prob.file, prob.reason) not in seen:
                seen.add((prob.file, prob.reason))
                ds.problems.append(prob)
    return ds
