"""``eyetest audit``: how much simple manipulations move each metric."""

from __future__ import annotations

import sys

import click


#: fewer audited images than this and the audit warns that its shares are coarse
FEW_IMAGES = 5


def _names(value: str | None):
    if not value:
        return None
    out = [v.strip() for v in value.split(",") if v.strip()]
    return out or None


def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{what}: expected comma-separated numbers, got {text!r}",
                                 param_hint="--strengths") from None


def parse_strengths(values) -> tuple[list[float] | None, dict[str, list[float]]]:
    """``--strengths`` values: ``"0.5,1,2"`` (every manipulation) or ``"usm=0.5,1"``."""
    default, per = None, {}
    for v in values:
        if "=" in v:
            name, grid = v.split("=", 1)
            per[name.strip().lower()] = _floats(grid, name.strip())
        else:
            default = _floats(v, "strengths")
    return default, per


def _sources(paths, problems):
    from pathlib import Path

    from eyetest.errors import DatasetError
    from eyetest.io.dataset import Problem, list_images
    from eyetest.io.images import IMAGE_EXTENSIONS
    from eyetest.run.audit import AuditSource

    found: dict[str, str] = {}
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            items = list_images(p, problems)
        elif p.is_file():
            if p.suffix.lower() not in IMAGE_EXTENSIONS:
                problems.append(Problem(str(p), f"not an image file (extension {p.suffix or 'none'})"))
                continue
            items = {p.stem: p}
        else:
            raise DatasetError(f"{raw}: no such file or folder")
        for stem, path in items.items():
            if stem in found and found[stem] != str(path):
                raise DatasetError(f"two images are named {stem!r} ({found[stem]} and {path}); "
                                   "audit rows are keyed by file stem, so rename one")
            found[stem] = str(path)
    return [AuditSource(stem, path=path) for stem, path in found.items()]


def _default_metrics():
    from eyetest.core.metrics.registry import list_metrics

    return [s.name for s in list_metrics() if s.kind in ("FR", "NR") and not s.requires]


def _fmt(flags, flag: str) -> str:
    cols = ["metric", "manipulation", "kind", "max_share_improved", "at_strength",
            "mean_delta_at", "ci_low_at", "ci_high_at", "significant", flag]
    view = flags[cols].copy()
    # NaN: no image of that metric could be compared under the manipulation
    view["max_share_improved"] = (100 * view["max_share_improved"]).map(
        lambda v: f"{v:.0f}%" if v == v else "n/a")
    view[flag] = view[flag].map({True: "YES", False: ""})
    view["significant"] = view["significant"].map({True: "*", False: ""})
    view = view.rename(columns={"max_share_improved": "improved", "at_strength": "at",
                                "mean_delta_at": "mean_delta", "ci_low_at": "ci_low",
                                "ci_high_at": "ci_high", "significant": "sig"})
    return view.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _export(sources, directory, plan, cplan, seed, workers, problems, quiet):
    from eyetest.run.audit_io import export_images

    res = export_images(sources, directory, plan=plan, context_plan=cplan, seed=seed,
                        workers=workers)
    for p in problems + res.problems:
        click.secho(f"problem: {p.file}: {p.reason}", fg="yellow", err=True)
    if res.index.empty:
        click.secho("error: nothing could be exported", fg="red", err=True)
        sys.exit(1)
    if not quiet:
        click.echo(f"{len(res.index)} images of {len(sources)} sources written to {directory}")
    click.echo(f"wrote {res.path}")


def _import(import_file, index_file, higher, lower):
    from pathlib import Path

    from eyetest.run.audit_io import import_scores

    clash = set(higher) & set(lower)
    if clash:
        raise click.UsageError(f"metric(s) {', '.join(sorted(clash))} given as both "
                               "--higher-is-better and --lower-is-better")
    directions = {**{n: True for n in higher}, **{n: False for n in lower}}
    index = Path(index_file) if index_file else Path(import_file).parent / "index.csv"
    return import_scores(import_file, index, directions=directions)


@click.command("audit")
@click.argument("images", nargs=-1, required=False, type=click.Path(exists=True))
@click.option("--metrics", default=None,
              help="Comma-separated metric names (default: every per-image metric that needs "
                   "nothing optional). See `eyetest metrics`.")
@click.option("--manipulations", default=None,
              help="Comma-separated manipulation names (default: all). Known: identity, usm, "
                   "oversharpen, deblur, downup-alias, overgen, downup-aa, gaussian-blur, "
                   "motion-blur, dof, jpeg, noise, contrast, saturation.")
@click.option("--strengths", multiple=True,
              help="Strength grid: '0.5,1,2' for every manipulation, or 'usm=0.5,1' for one "
                   "(repeatable). Default: each manipulation's own grid.")
@click.option("--out", default="audit.csv", show_default=True, type=click.Path(dir_okay=False),
              help="Tidy table (.csv, .parquet or .json). Beside it: <stem>.summary.csv, "
                   "<stem>.gameability.csv, <stem>.manifest.json (and <stem>.context*.csv).")
@click.option("--plots", "plots", default=None, type=click.Path(file_okay=False),
              help="Folder for PNG figures (score vs strength, gameability heat map).")
@click.option("--context-blur", is_flag=True,
              help="Also audit intended blur: a synthetic depth of field of each image and "
                   "scikit-image's motion-blurred clock photo, under sharpening "
                   "(usm, oversharpen, deblur). Reported separately.")
@click.option("--context-dof", default=4.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Blur sigma (px) of the synthetic depth of field for --context-blur.")
@click.option("--preset", default="matlab", show_default=True,
              help="matlab | sr-y-crop<N> | a preset a metric defines.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the random manipulations (noise, overgen) and the bootstrap.")
@click.option("--workers", default=0, show_default=True, type=click.IntRange(min=0),
              help="Processes (0 = all cores, 1 = in this process).")
@click.option("--n-boot", default=2000, show_default=True, type=click.IntRange(min=100),
              help="Bootstrap resamples of the mean-delta intervals.")
@click.option("--threshold", default=0.5, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="Flag 'gameable' when a fidelity-reducing manipulation improves the metric "
                   "on MORE than this share of images.")
@click.option("--no-cache", is_flag=True, help="Do not read or fill the score cache.")
@click.option("--export-images", "export_dir", default=None, type=click.Path(file_okay=False),
              help="Write every image the audit would score (baseline and each manipulation x "
                   "strength) as lossless PNG plus index.csv to this folder, then stop: score "
                   "them with another tool and come back with --import-scores.")
@click.option("--import-scores", "import_file", default=None,
              type=click.Path(exists=True, dir_okay=False),
              help="Tidy 'image, metric, value' table (CSV/Parquet; 'method' optional) computed "
                   "elsewhere on the exported images ('image' = file stem); audited like native "
                   "metrics. IMAGES and --metrics may be given too (computed here).")
@click.option("--index", "index_file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="index.csv of the export (default: index.csv beside --import-scores FILE).")
@click.option("--higher-is-better", "higher", multiple=True,
              help="Imported metric (not registered here) for which higher is better (repeatable).")
@click.option("--lower-is-better", "lower", multiple=True,
              help="Imported metric (not registered here) for which lower is better (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no tables on stdout.")
def command(images, metrics, manipulations, strengths, out, plots, context_blur, context_dof,
            preset, seed, workers, n_boot, threshold, no_cache, export_dir, import_file,
            index_file, higher, lower, quiet):
    """Audit metrics on IMAGES (folders or files) under manipulations and strengths.

    Every metric is computed on every image untouched (the baseline) and under
    every manipulation at every strength; full-reference metrics use the
    untouched image as reference. A metric is flagged GAMEABLE by a
    fidelity-reducing manipulation (a trick or a degradation) that improves its
    score on more than half of the images at some strength.

    Metrics computed elsewhere: `--export-images DIR` writes the images to
    score, `--import-scores FILE` audits the scores another tool gave them.
    """
    from pathlib import Path

    import numpy as np

    from eyetest.cli.outputs import check_table_output, write_errors
    from eyetest.core.manipulate import list_manipulations
    from eyetest.io.outputs import check_writable_folder
    from eyetest.run.audit import context_sources, resolve_plan, run_audit, summaries
    from eyetest.run.audit_io import combine
    from eyetest.run.cache import ScoreCache

    problems: list = []
    if export_dir and (not images or import_file):
        raise click.UsageError("--export-images needs IMAGES and cannot be combined with "
                               "--import-scores")
    if not images and not import_file:
        raise click.UsageError("give IMAGES to audit, or --import-scores FILE")
    if import_file and not images and (metrics or context_blur):
        raise click.UsageError("--metrics / --context-blur are computed on IMAGES; with "
                               "--import-scores alone the index says what was exported")
    # every output is checked before anything is scored: a bad name must not cost the whole audit
    if export_dir:
        check_writable_folder(export_dir, "--export-images folder")
    else:
        check_table_output(out, "audit table")
        if plots:
            check_writable_folder(plots, "--plots folder")
    sources = _sources(images, problems) if images else []
    if images and not sources:
        for p in problems:
            click.secho(f"problem: {p.file}: {p.reason}", fg="yellow", err=True)
        click.secho("error: no image to audit", fg="red", err=True)
        sys.exit(1)
    default, per = parse_strengths(strengths)
    plan = resolve_plan(_names(manipulations), per, default=default) if sources else ()
    cplan = ()
    all_sources = list(sources)
    if context_blur:
        sharp = [m.name for m in list_manipulations() if m.sharpening]
        cplan = resolve_plan(sharp, {k: v for k, v in per.items() if k in sharp})
        all_sources += context_sources(sources, dof_sigma=context_dof)
    if export_dir:
        _export(all_sources, export_dir, plan, cplan, seed, workers, problems, quiet)
        return
    imported = None
    if import_file:
        imported = _import(import_file, index_file, higher, lower)
    bar = None
    if sources and not quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(all_sources), unit="img", desc="auditing", leave=False,
                   dynamic_ncols=True)
    try:
        if sources:
            run = run_audit(all_sources, metrics=_names(metrics) or _default_metrics(), plan=plan,
                            context_plan=cplan, preset=preset, seed=seed, workers=workers,
                            cache=None if no_cache else ScoreCache(),
                            on_done=bar.update if bar is not None else None)
        else:
            run = None
    finally:
        if bar is not None:
            bar.close()
    if imported is not None:
        run, plan, cplan = combine(run, *imported, plan=plan, context_plan=cplan)
        context_blur = context_blur or bool(cplan)
    problems += run.problems
    for p in problems:
        click.secho(f"problem: {p.file}: {p.reason}", fg="yellow", err=True)
    if run.table.empty:
        click.secho("error: nothing could be scored", fg="red", err=True)
        sys.exit(1)
    tables = summaries(run, rng=np.random.default_rng(seed), n_boot=n_boot, threshold=threshold)
    # per metric: a metric that failed on some images rests on fewer than the others
    per_metric = run.table[run.table["context"] == "standard"].groupby("metric")["image"].nunique()
    n_std = int(per_metric.min()) if len(per_metric) else 0
    which = "" if per_metric.eq(n_std).all() else \
        f" for {', '.join(per_metric.index[per_metric.eq(n_std)])}"
    if 0 < n_std < FEW_IMAGES:
        click.secho(f"warning: only {n_std} image(s) audited{which}: shares move in steps of "
                    f"{100 / n_std:.0f}% and "
                    + ("a single image has no interval; " if n_std == 1 else "")
                    + "read the flags as indicative only", fg="yellow", err=True)
    with write_errors():
        written = _write_outputs(run, tables, out=Path(out), plots=plots, plan=plan, cplan=cplan,
                                 context_blur=context_blur, sources=sources, preset=preset,
                                 import_file=import_file, index_file=index_file, threshold=threshold,
                                 n_boot=n_boot, problems=problems)
    if not quiet:
        click.echo("Gameability (share of images improved at the worst strength; "
                   f"flag when > {threshold:.0%} for a fidelity-reducing manipulation):")
        click.echo(_fmt(tables["gameability"], "gameable"))
        if context_blur:
            click.echo("\nIntended blur: does the metric prefer the sharpened version?")
            click.echo(_fmt(tables["context_flags"], "prefers_sharpened"))
        n_images = run.table[["context", "image"]].drop_duplicates().shape[0]
        click.echo(f"\n{len(run.table)} scores of {n_images} images in "
                   f"{run.info.get('timings_s', {}).get('total', 0.0):.2f} s; "
                   f"{len(problems)} problems")
    for path in written:
        click.echo(f"wrote {path}")


def _write_outputs(run, tables, *, out, plots, plan, cplan, context_blur, sources, preset, import_file,
                   index_file, threshold, n_boot, problems):
    """Write the audit table, its summaries, figures and manifest; return the paths written."""
    import json
    import time
    from pathlib import Path

    from eyetest import __version__
    from eyetest.core.manipulate import get_manipulation, list_manipulations
    from eyetest.io.tables import atomic_write_text, write_table
    from eyetest.run.cache import sha256_file

    out = Path(out)
    stem = out.with_suffix("")
    written = [write_table(run.table, out)]
    written.append(write_table(tables["summary"], Path(f"{stem}.summary.csv")))
    written.append(write_table(tables["gameability"], Path(f"{stem}.gameability.csv")))
    if context_blur:
        written.append(write_table(tables["context"], Path(f"{stem}.context.csv")))
        written.append(write_table(tables["context_flags"], Path(f"{stem}.context-flags.csv")))
    units = {m.name: m.unit for m in list_manipulations()}
    if plots:
        from eyetest.report.audit_plots import plot_gameability, plot_score_vs_strength

        pdir = Path(plots)
        pdir.mkdir(parents=True, exist_ok=True)
        hib = {s.name: s.higher_is_better for s in run.specs}
        figs = {"score_vs_strength.png": plot_score_vs_strength(
                    run.table, summary=tables["summary"], higher_is_better=hib, units=units),
                "gameability.png": plot_gameability(
                    tables["gameability"], metrics=[s.name for s in run.specs],
                    manipulations=[m for m, _ in plan])}
        if context_blur:
            figs["context_score_vs_strength.png"] = plot_score_vs_strength(
                run.table, summary=tables["context"], higher_is_better=hib, units=units,
                context="intended-blur")
            figs["context_prefers_sharpened.png"] = plot_gameability(
                tables["context_flags"], flag="prefers_sharpened",
                metrics=[s.name for s in run.specs], manipulations=[m for m, _ in cplan],
                title="Intended blur: share of images whose score prefers the sharpened\n"
                      "version (outlined = most images)")
        for name, fig in figs.items():
            tmp = pdir / f".{name}.tmp.png"
            fig.savefig(tmp, dpi=110)
            tmp.replace(pdir / name)
            written.append(pdir / name)
    manifest = {
        "eyetest": __version__,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "images": {s.name: s.path for s in sources},
        "metrics": {s.name: {"kind": s.kind, "higher_is_better": s.higher_is_better,
                             "version": s.version, "settings": repr(s.settings(preset))}
                    for s in run.specs},
        "plan": {m: list(g) for m, g in plan},
        "context_plan": {m: list(g) for m, g in cplan},
        "kinds": {m: get_manipulation(m).kind for m, _ in plan + cplan},
        "imported": None if not import_file else {
            "file": str(import_file), "sha256": sha256_file(import_file),
            "index": str(index_file or Path(import_file).parent / "index.csv")},
        "threshold": threshold, "n_boot": n_boot,
        "run": run.info,
        "problems": [p.to_dict() for p in problems],
    }
    mpath = Path(f"{stem}.manifest.json")
    atomic_write_text(mpath, json.dumps(manifest, indent=2, default=repr) + "\n")
    written.append(mpath)
    return written
