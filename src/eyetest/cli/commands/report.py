"""``eyetest report``: one self-contained HTML report (+ Markdown, LaTeX, evaluation card)."""

from __future__ import annotations

import contextlib

import click

def _check_names(inputs, pair, directions) -> None:
    """A --compare method or a --higher/--lower-is-better metric that no input has is a typo: say so."""
    from eyetest.report.names import input_metrics, unknown_method_message

    message = unknown_method_message(inputs, pair) if pair else None
    if message:
        raise click.BadParameter(message, param_hint="--compare")
    if directions:
        known = input_metrics(inputs)
        unknown = sorted(m for m in directions if m not in known)
        if unknown:
            flag = "--higher-is-better" if directions[unknown[0]] else "--lower-is-better"
            raise click.BadParameter(f"metric {unknown[0]!r} is in neither the score nor the audit table; "
                                     f"metrics there: {', '.join(sorted(known)) or 'none'}", param_hint=flag)


def _progress_enabled() -> bool:
    """Show a progress bar (on standard error) only when it goes to a terminal, as score, audit and plan do."""
    import sys

    return sys.stderr.isatty()


@contextlib.contextmanager
def _progress():
    """The ``progress`` callback of :func:`~eyetest.report.build.build_report`: a tqdm bar over its
    stages on standard error, naming the stage under way; None when standard error is no terminal."""
    if not _progress_enabled():
        yield None
        return
    from tqdm import tqdm

    bar = None

    def step(stage: str, done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="stage", desc="building report", leave=False, dynamic_ncols=True)
        bar.update(done - bar.n)
        bar.set_postfix_str(stage)

    try:
        yield step
    finally:
        if bar is not None:
            bar.close()


@click.command("report")
@click.argument("results_dir", required=False, type=click.Path(file_okay=False))
@click.option("--scores", type=click.Path(dir_okay=False), help="Result table of eyetest score "
              "(its <table>.manifest.json is read when present).")
@click.option("--audit", type=click.Path(dir_okay=False), help="Audit table of eyetest audit "
              "(<stem>.gameability.csv etc. beside it are read).")
@click.option("--judgments", type=click.Path(dir_okay=False), help="Pairwise judgments (csv/jsonl/parquet).")
@click.option("--scale", type=click.Path(dir_okay=False), help="A human scale, when there are no judgments.")
@click.option("--study", default=None, help="Read the judgments of this study id from --study-db instead.")
@click.option("--study-db", default=None, help="Database of --study (SQLite path or postgresql:// URL).")
@click.option("--adoption", type=click.Path(dir_okay=False), help="Adoption table of eyetest adoption.")
@click.option("--methods", type=click.Path(dir_okay=False), help="methods.csv (method,family).")
@click.option("--scenarios", type=click.Path(dir_okay=False), help="scenarios.csv (image,scenario).")
@click.option("--dataset", type=click.Path(file_okay=False), help="Dataset folder, for gallery thumbnails.")
@click.option("--about", type=click.Path(dir_okay=False), help="about.json: title, regime, method descriptions.")
@click.option("--regime", type=click.Choice(["fidelity-first", "perception-first"]), default=None,
              help="Which regime the evaluation is in (overrides about.json).")
@click.option("--compare", default=None, help="Two methods for the head-to-head view, 'A,B'.")
@click.option("--exclude-raters", type=click.Choice(["auto", "none"]), default="auto", show_default=True,
              help="Apply the rater screening's exclusions before scaling.")
@click.option("--n-boot", default=200, show_default=True, type=click.IntRange(min=20),
              help="Bootstrap resamples of the alignment intervals.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of every bootstrap.")
@click.option("--title", default=None, help="Report title.")
@click.option("--higher-is-better", "higher", multiple=True,
              help="Scored or audited metric (not registered here) for which higher is better (repeatable).")
@click.option("--lower-is-better", "lower", multiple=True,
              help="Scored or audited metric (not registered here) for which lower is better (repeatable).")
@click.option("--out", default="report.html", show_default=True, type=click.Path(dir_okay=False),
              help="HTML file (.html; added when there is no suffix); <stem>.md, <stem>.tex and the "
                   "evaluation card (card.json for report.html, else <stem>.card.json) are written beside it.")
def command(results_dir, scores, audit, judgments, scale, study, study_db, adoption, methods, scenarios, dataset, about, regime,
            compare, exclude_raters, n_boot, seed, title, higher, lower, out):
    """Build the report from RESULTS_DIR (and/or explicit files).

    Combines whatever exists: metric tables with direction arrows and CIs, the
    metric audit, human scales per dimension and scenario, metric-human
    alignment, scenario head-to-head, family trends, a disagreement gallery,
    rater quality and provenance. Sections without inputs are omitted with a
    one-line note.
    """
    from eyetest.cli.outputs import write_errors
    from eyetest.report.build import build_report, check_outputs, collect, report_paths, write_report

    pair = None
    if compare:
        pair = tuple(p.strip() for p in compare.split(",") if p.strip())
        if len(pair) != 2:
            raise click.BadParameter("give two method names, 'A,B'", param_hint="--compare")
    if (study is None) != (study_db is None):
        raise click.UsageError("--study and --study-db go together")
    if results_dir is None and not any((scores, audit, judgments, scale, study, adoption)):
        raise click.UsageError("give a RESULTS_DIR or at least one of --scores, --audit, --judgments, --scale, "
                               "--study, --adoption")
    clash = set(higher) & set(lower)
    if clash:
        raise click.UsageError(f"metric(s) {', '.join(sorted(clash))} given as both --higher-is-better and "
                               "--lower-is-better")
    directions = {**{n: True for n in higher}, **{n: False for n in lower}}
    paths = report_paths(out)
    check_outputs(paths)          # before reading anything: a bad --out fails at once
    inputs = collect(results_dir, scores=scores, audit=audit, judgments=judgments, scale=scale,
                     methods=methods, scenarios=scenarios, dataset=dataset, about=about,
                     study=(study_db, study) if study else None, adoption=adoption)
    check_outputs(paths, inputs.files)   # ... and never over a file the report reads
    _check_names(inputs, pair, directions)
    with _progress() as progress:
        report = build_report(inputs, seed=seed, compare=pair, regime=regime, n_boot=n_boot,
                              exclude_raters=exclude_raters, title=title, directions=directions,
                              progress=progress)
    with write_errors():
        paths = write_report(report, paths.html)
    for s in report.sections:
        if not s.present:
            click.echo(f"omitted {s.title}: {s.note}", err=True)
    for path in paths.all():
        click.echo(f"wrote {path}")
