"""``eyetest demo`` end to end: benchmark -> scores -> audit -> simulated panel -> report.

Everything is offline and seeded.  The results folder it writes is exactly
what ``eyetest report DIR`` reads (see ``docs/report.md``)::

    OUT/dataset/                    the benchmark (:mod:`eyetest.run.demo_bench`)
    OUT/results.csv (+ .manifest.json)   metric battery (``eyetest score``)
    OUT/audit.csv, audit.summary.csv, audit.gameability.csv,
        audit.context.csv, audit.context-flags.csv, audit.manifest.json
    OUT/features.csv                image features behind the simulated panel
    OUT/judgments.csv               SIMULATED pairwise judgments (source=simulated)
    OUT/about.json                  title, regime, method descriptions, simulation
    OUT/report.html, report.md, report.tex, card.json

A run first deletes these files when an earlier run left them (never the
study a ``--serve`` run made, ``study.toml`` / ``study.sqlite``), so a run
that is interrupted leaves only its own outputs behind, never a mix of two
runs that ``eyetest report OUT`` would combine.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from eyetest.io.tables import atomic_write_text, write_table
from eyetest.run.demo_bench import (
    BENCH_IMAGES,
    BENCH_METHODS,
    EDGE_SCENARIOS,
    GAMED,
    LQ_JPEG_QUALITY,
    LQ_NOISE_LEVELS,
    PANEL_DIMENSIONS,
    QUALITY_WEIGHTS,
    build_benchmark,
    image_features,
    latent_quality,
    simulate_panel,
)

#: Images audited (a subset keeps the demo fast) and the audit plan.
AUDIT_IMAGES = ("astronaut", "chelsea", "coffee", "brick", "grass", "page")
AUDIT_MANIPULATIONS = ("usm", "oversharpen", "overgen", "downup-alias", "downup-aa", "gaussian-blur",
                       "noise", "jpeg", "contrast")
DEMO_COMPARE = ("ibp", "lanczos")
#: what a run writes at the top of OUT (deleted first, see the module docstring)
OUTPUT_FILES = ("results.csv", "results.csv.manifest.json", "audit.csv", "audit.summary.csv",
                "audit.gameability.csv", "audit.context.csv", "audit.context-flags.csv", "audit.manifest.json",
                "features.csv", "judgments.csv", "about.json", "report.html", "report.md", "report.tex", "card.json")


@dataclass
class PipelineResult:
    out: Path
    report: Path
    timings_s: dict = field(default_factory=dict)


def _audit(out: Path, gt_dir: Path, *, seed: int, workers, cache) -> None:
    from eyetest.core.manipulate import get_manipulation, list_manipulations
    from eyetest.run.audit import AuditSource, context_sources, resolve_plan, run_audit, summaries
    from eyetest.run.score import default_metrics

    sources = [AuditSource(n, path=str(gt_dir / f"{n}.png")) for n in AUDIT_IMAGES
               if (gt_dir / f"{n}.png").is_file()]
    grids = {m: get_manipulation(m).strengths[1::2] for m in AUDIT_MANIPULATIONS}
    plan = resolve_plan(AUDIT_MANIPULATIONS, grids)
    sharp = [m.name for m in list_manipulations() if m.sharpening]
    cplan = resolve_plan(sharp, {m: get_manipulation(m).strengths[1::2] for m in sharp})
    metrics = [s.name for s in default_metrics(has_reference=True)]
    run = run_audit(sources + context_sources(sources[:2]), metrics=metrics, plan=plan,
                    context_plan=cplan, seed=seed, workers=workers, cache=cache)
    tables = summaries(run, rng=np.random.default_rng(seed), n_boot=500)
    write_table(run.table, out / "audit.csv")
    write_table(tables["summary"], out / "audit.summary.csv")
    write_table(tables["gameability"], out / "audit.gameability.csv")
    write_table(tables["context"], out / "audit.context.csv")
    write_table(tables["context_flags"], out / "audit.context-flags.csv")
    from eyetest import __version__

    manifest = {"eyetest": __version__, "images": {s.name: s.path for s in sources},
                "metrics": {s.name: {"kind": s.kind, "higher_is_better": s.higher_is_better,
                                     "version": s.version} for s in run.specs},
                "plan": {m: list(g) for m, g in plan}, "context_plan": {m: list(g) for m, g in cplan},
                "kinds": {m: get_manipulation(m).kind for m, _ in plan + cplan},
                "threshold": 0.5, "n_boot": 500, "run": run.info,
                "problems": [p.to_dict() for p in run.problems]}
    atomic_write_text(out / "audit.manifest.json", json.dumps(manifest, indent=2, default=repr) + "\n")


def _panel(out: Path, dataset: Path, *, images, seed: int):
    import pandas as pd
    from PIL import Image

    rows = []
    for spec in images:
        ref = np.asarray(Image.open(dataset / "gt" / f"{spec.name}.png"))
        for method in BENCH_METHODS:
            img = np.asarray(Image.open(dataset / "methods" / method / f"{spec.name}.png"))
            rows.append({"image": spec.name, "method": method, **image_features(img, ref)})
    features = pd.DataFrame(rows)
    write_table(features, out / "features.csv")
    truth = latent_quality(features, scenarios={s.name: s.scenarios for s in images})
    judgments = simulate_panel(truth, rng=np.random.default_rng(seed))
    write_table(judgments, out / "judgments.csv")
    return judgments


def _about(out: Path, *, seed: int) -> None:
    about = {
        "title": "eyetest demo: x4 super-resolution of scikit-image samples",
        "regime": "perception-first",
        "regime_note": ("Natural photographs judged for viewing. The astronomy and medical images "
                        "(hubble, retina) belong to fidelity-first domains: read their rows by the "
                        "full-reference metrics, not by preference."),
        "degradation": (f"x4 bicubic down-sampling (antialiased), Gaussian noise sigma "
                        f"{LQ_NOISE_LEVELS:g} (8-bit levels), JPEG quality {LQ_JPEG_QUALITY}"),
        "methods": {m: d for m, (_, d) in BENCH_METHODS.items()},
        "gamed_methods": list(GAMED),
        "compare": list(DEMO_COMPARE),
        "simulated": {
            "what": ("Judgments come from eyetest's rater simulator (Thurstone Case V with a tie band, "
                     "10% random clickers, gold and repeat trials), NOT from people."),
            "latent_quality": ("per image, z-scored measured features: fidelity (SSIM), recovered detail, "
                               "invented detail, high-frequency energy; weights per dimension below"),
            "weights (fidelity, detail, invented, energy)": {k: list(v) for k, v in QUALITY_WEIGHTS.items()},
            "edge_scenarios (extra energy weight, overall)": EDGE_SCENARIOS,
            "dimensions": list(PANEL_DIMENSIONS),
            "seed": seed,
        },
    }
    atomic_write_text(out / "about.json", json.dumps(about, indent=2) + "\n")


def run_pipeline(out, *, seed: int = 0, workers: int | None = None, cache=None, images=BENCH_IMAGES,
                 log: Callable[[str], None] | None = None, audit: bool = True, n_boot: int = 200) -> PipelineResult:
    """Run the whole demo into ``out`` and write the report; see the module docstring.

    ``n_boot``: bootstrap resamples of the report's alignment intervals.
    """
    from eyetest.io.dataset import discover
    from eyetest.report.build import build_report, collect, write_report
    from eyetest.run.score import score_dataset, write_outputs

    say = log or (lambda _msg: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_FILES:   # an earlier run's results must not mix with this one's
        (out / name).unlink(missing_ok=True)
    timings = {}
    t = time.perf_counter()
    dataset = build_benchmark(out / "dataset", images=images, seed=seed)
    timings["benchmark"] = time.perf_counter() - t
    say(f"benchmark: {len(images)} images x {len(BENCH_METHODS)} methods in {timings['benchmark']:.1f} s")

    t = time.perf_counter()
    run = score_dataset(discover(dataset), workers=workers, cache=cache)
    write_outputs(run, out / "results.csv")
    timings["score"] = time.perf_counter() - t
    say(f"scores: {len(run.table)} rows in {timings['score']:.1f} s")

    if audit:
        t = time.perf_counter()
        _audit(out, dataset / "gt", seed=seed, workers=workers, cache=cache)
        timings["audit"] = time.perf_counter() - t
        say(f"audit: {len(AUDIT_IMAGES)} images in {timings['audit']:.1f} s")

    t = time.perf_counter()
    judgments = _panel(out, dataset, images=images, seed=seed)
    _about(out, seed=seed)
    timings["simulated_panel"] = time.perf_counter() - t
    say(f"simulated panel: {judgments['rater'].nunique()} simulated raters, {len(judgments)} judgments")

    t = time.perf_counter()
    inputs = collect(out)
    report = build_report(inputs, seed=seed, timings=timings, n_boot=n_boot)
    path = write_report(report, out / "report.html").html
    timings["report"] = time.perf_counter() - t
    say(f"report: {timings['report']:.1f} s")
    return PipelineResult(out, path, timings)


def demo_study_spec(out, *, images=BENCH_IMAGES, seed: int = 0) -> Path:
    """Write ``OUT/study.toml``: a pairwise study of the demo's methods, 4 dimensions, gold/repeat trials."""
    from eyetest.study.spec import load_spec

    out = Path(out)
    taxonomy = sorted({t for spec in images for t in spec.scenarios})
    methods = ", ".join(f'"{m}"' for m in BENCH_METHODS)
    dims = "".join(f'[[dimensions]]\nname = "{d.replace(" ", "_")}"\n' for d in PANEL_DIMENSIONS)
    text = (f'[study]\nname = "eyetest-demo"\nprotocol = "pairwise"\ndesign = "active"\nties = true\n'
            f'blocks = "image"\nseed = {int(seed)}\njudgments_per_session = 40\n'
            f'[stimuli]\ndataset = "dataset"\nmethods = [{methods}]\ncontext = "lq"\n'
            f"{dims}"
            f'[scenarios]\ntaxonomy = [{", ".join(chr(34) + t + chr(34) for t in taxonomy)}]\n'
            f'[quality]\ngold_fraction = 0.05\nrepeat_fraction = 0.05\n'
            f'[crowd]\nplatform = "link"\n')
    path = out / "study.toml"
    atomic_write_text(path, text)
    load_spec(path)   # validate now: a bad spec is a named error before anything is served
    return path


def create_demo_study(out, db, *, images=BENCH_IMAGES, seed: int = 0) -> str:
    """Create the demo study in database ``db`` (SQLite path or URL) with the study service; return its id."""
    from eyetest.store.engine import make_engine
    from eyetest.store.migrate import upgrade
    from eyetest.study.importer import create_study
    from eyetest.study.spec import load_spec

    spec = demo_study_spec(out, images=images, seed=seed)
    engine = make_engine(str(db))
    try:
        upgrade(engine)
        return create_study(engine, load_spec(spec), base_dir=spec.parent)
    finally:
        engine.dispose()
