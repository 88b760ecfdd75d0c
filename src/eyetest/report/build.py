"""Collect whatever a results folder holds and turn it into the report.

:func:`collect` finds the inputs (a results folder, or explicit files),
:func:`build_report` computes the analyses with :mod:`eyetest.core` and
renders every section (:mod:`eyetest.report.sections`), and
:func:`write_report` writes ``report.html`` plus ``report.md``,
``report.tex`` and ``card.json`` beside it.

Results-folder conventions (all optional; see ``docs/report.md``)::

    results.csv|.parquet|.json  + results.csv.manifest.json     (eyetest score)
    audit.csv + audit.summary.csv, audit.gameability.csv,
              audit.context-flags.csv, audit.manifest.json      (eyetest audit)
    judgments.csv|.jsonl|.parquet   pairwise judgments (a ``source`` column
                                    with "simulated" marks simulator output)
    scale.csv                       a human scale, when there are no judgments
    adoption.csv                    ``eyetest adoption`` output (metric adoption in papers)
    about.json                      title, regime, method descriptions, compare pair
    dataset/ (or the manifest's dataset folder)  images for thumbnails,
                                    scenarios.csv, methods.csv
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from eyetest.errors import DatasetError, EyetestError

SCORE_NAMES = ("results", "scores")
TABLE_EXTS = (".csv", ".parquet", ".json")
JUDGMENT_EXTS = (".csv", ".jsonl", ".parquet")


@dataclass
class ReportInputs:
    """Everything the report can use; any part may be missing."""

    scores: pd.DataFrame | None = None
    score_manifest: dict | None = None
    audit: pd.DataFrame | None = None
    audit_summary: pd.DataFrame | None = None
    audit_gameability: pd.DataFrame | None = None
    audit_context_flags: pd.DataFrame | None = None
    audit_manifest: dict | None = None
    judgments: pd.DataFrame | None = None
    scale: pd.DataFrame | None = None
    adoption: pd.DataFrame | None = None
    families: dict = field(default_factory=dict)
    scenarios: dict = field(default_factory=dict)
    dataset: Path | None = None
    about: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)   # role -> Path (hashed into the card)


def _first(folder: Path, stems, exts) -> Path | None:
    for stem in stems:
        for ext in exts:
            p = folder / f"{stem}{ext}"
            if p.is_file():
                return p
    return None


def _need_file(path, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"{what} file {str(p)!r} does not exist")
    return p


def _side_table(explicit, dataset: Path | None, name: str, what: str) -> Path | None:
    """A side table given explicitly (must exist), else the dataset's ``name`` (may be missing)."""
    if explicit is not None:
        return _need_file(explicit, what)
    return dataset / name if dataset is not None else None


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read JSON: {exc}") from exc


def _audit_siblings(path: Path) -> dict:
    stem = path.with_suffix("")
    return {k: Path(f"{stem}.{k}{suffix}") for k, suffix in
            (("summary", ".csv"), ("gameability", ".csv"), ("context-flags", ".csv"), ("manifest", ".json"))}


def _load_audit(inputs: ReportInputs, path: Path) -> None:
    from eyetest.io.tables import read_table

    inputs.audit = read_table(path)
    inputs.files["audit"] = path
    sib = _audit_siblings(path)
    if sib["manifest"].is_file():
        inputs.audit_manifest = _json(sib["manifest"])
    for key, attr in (("summary", "audit_summary"), ("gameability", "audit_gameability"),
                      ("context-flags", "audit_context_flags")):
        if sib[key].is_file():
            setattr(inputs, attr, read_table(sib[key]))
            inputs.files[f"audit.{key}"] = sib[key]
    if inputs.audit_gameability is None and len(inputs.audit):
        _summarise_audit(inputs)


def _summarise_audit(inputs: ReportInputs) -> None:
    """An audit table without its summary files: summarise it here (seeded)."""
    import numpy as np

    from eyetest.core import audit as core_audit
    from eyetest.core.manipulate import list_manipulations
    from eyetest.core.metrics.registry import get_metric

    t = inputs.audit
    std = t[t["context"] == "standard"] if "context" in t.columns else t
    hib = {m: get_metric(m).higher_is_better for m in std["metric"].unique()}
    kinds = {m.name: m.kind for m in list_manipulations()}
    summ = core_audit.summarize(std, higher_is_better=hib, rng=np.random.default_rng(0), n_boot=500)
    inputs.audit_summary = summ
    inputs.audit_gameability = core_audit.gameability(summ, kinds=kinds, higher_is_better=hib)


def study_judgments(db, study: str) -> pd.DataFrame:
    """The pairwise judgments of ``study`` in database ``db``, one row per judgment and dimension.

    Read with the study export (:func:`eyetest.study.export.iter_records` and
    :func:`~eyetest.study.export.pairwise_table`); the export's placeholder
    scenario column is dropped (the report tags images from scenarios.csv).
    """
    from eyetest.store.engine import make_engine
    from eyetest.study.export import iter_records, pairwise_table

    engine = make_engine(str(db))
    try:
        with engine.connect() as conn:
            records = list(iter_records(conn, study))
    finally:
        engine.dispose()
    if not records:
        raise DatasetError(f"study {study!r} in {db} has no judgments yet")
    table = pairwise_table(records, scenarios={})
    return table.drop(columns=[c for c in ("scenario",) if c in table.columns])


def collect(results_dir=None, *, scores=None, audit=None, judgments=None, scale=None, methods=None,
            scenarios=None, dataset=None, about=None, study=None, adoption=None) -> ReportInputs:
    """Gather the report inputs from ``results_dir`` and/or explicit files.

    Explicit files win over the folder's; an explicit file that does not
    exist is a :class:`~eyetest.errors.DatasetError` naming it.  ``study``
    = ``(db, study_id)`` reads the judgments of a study from its database
    instead of a judgments file (about.json's ``simulated`` is then ignored).
    """
    from eyetest.io.dataset import read_families, read_scenarios
    from eyetest.io.judgments import read_judgments
    from eyetest.io.tables import read_table
    from eyetest.run.score import manifest_path

    inputs = ReportInputs()
    folder = Path(results_dir) if results_dir is not None else None
    if folder is not None and not folder.is_dir():
        raise DatasetError(f"results folder {str(folder)!r} does not exist")

    def pick(explicit, what, stems, exts):
        if explicit is not None:
            return _need_file(explicit, what)
        return _first(folder, stems, exts) if folder is not None else None

    p = pick(scores, "scores", SCORE_NAMES, TABLE_EXTS)
    if p is not None:
        inputs.scores = read_table(p)
        inputs.files["scores"] = p
        m = manifest_path(p)
        if m.is_file():
            inputs.score_manifest = _json(m)
            inputs.files["scores.manifest"] = m
    p = pick(audit, "audit", ("audit",), TABLE_EXTS)
    if p is not None:
        _load_audit(inputs, p)
    if study is not None:
        db, study_id = study
        inputs.judgments = study_judgments(db, study_id)
        if Path(str(db)).is_file():
            inputs.files["study database"] = Path(str(db))
    else:
        p = pick(judgments, "judgments", ("judgments",), JUDGMENT_EXTS)
        if p is not None:
            inputs.judgments = read_judgments(p)
            inputs.files["judgments"] = p
    p = pick(scale, "scale", ("scale",), (".csv", ".parquet"))
    if p is not None:
        inputs.scale = read_table(p)
        inputs.files["scale"] = p
    p = pick(adoption, "adoption", ("adoption",), TABLE_EXTS)
    if p is not None:
        inputs.adoption = read_table(p)
        inputs.files["adoption"] = p
    p = pick(about, "about", ("about",), (".json",))
    if p is not None:
        inputs.about = _json(p)
        inputs.files["about"] = p

    if dataset is not None:
        inputs.dataset = Path(dataset)
        if not inputs.dataset.is_dir():
            raise DatasetError(f"dataset folder {str(dataset)!r} does not exist")
    else:
        cands = []
        if inputs.score_manifest and inputs.score_manifest.get("dataset"):
            cands.append(Path(inputs.score_manifest["dataset"]))
        if folder is not None:
            cands.append(folder / "dataset")
        inputs.dataset = next((c for c in cands if c.is_dir()), None)

    m = _side_table(methods, inputs.dataset, "methods.csv", "methods")
    if m is not None and m.is_file():
        inputs.families = read_families(m)
        inputs.files["methods"] = m
    elif inputs.scores is not None and "family" in inputs.scores.columns:
        fam = inputs.scores.dropna(subset=["family"])
        fam = fam[fam["family"].astype(str) != ""]
        inputs.families = dict(zip(fam["method"].astype(str), fam["family"].astype(str)))
    s = _side_table(scenarios, inputs.dataset, "scenarios.csv", "scenarios")
    if s is not None and s.is_file():
        inputs.scenarios = read_scenarios(s)
        inputs.files["scenarios"] = s
    elif inputs.scores is not None and "scenario" in inputs.scores.columns:
        sc = inputs.scores.drop_duplicates("image")
        inputs.scenarios = {str(i): tuple(t for t in str(v).split(";") if t and t != "nan")
                            for i, v in zip(sc["image"], sc["scenario"])}
    if study is not None:
        inputs.about = {k: v for k, v in inputs.about.items() if k not in ("simulated", "compare")}
    if all(getattr(inputs, a) is None for a in ("scores", "audit", "judgments", "scale", "adoption")):
        where = str(folder) if folder is not None else "the given files"
        raise DatasetError(f"nothing to report in {where}: no scores, audit, judgments, scale or adoption table")
    return inputs


@dataclass
class Report:
    """A built report: the page and its companions."""

    html: str
    markdown: str
    latex: str
    card: dict
    sections: list


def build_report(inputs: ReportInputs, *, seed: int = 0, compare=None, regime: str | None = None,
                 n_boot: int = 200, exclude_raters: str = "auto", timings: dict | None = None,
                 title: str | None = None) -> Report:
    """Compute every analysis the inputs allow and render the report.

    Parameters
    ----------
    seed : seeds every bootstrap (one ``numpy.random.Generator`` per analysis).
    compare : two method names for the head-to-head view (default
        ``about.json``'s ``compare``, else the two best methods of the human scale).
    regime : ``fidelity-first`` or ``perception-first`` (default ``about.json``'s).
    n_boot : bootstrap resamples of the alignment intervals.
    exclude_raters : ``auto`` applies :func:`screen_raters`' recommendation
        before scaling (recorded in the report), ``none`` keeps everyone.
    """
    from eyetest.report import sections as S
    from eyetest.report.card import evaluation_card
    from eyetest.report.html import render_html

    ctx = S.Context.from_inputs(inputs, seed=seed, compare=compare, regime=regime, n_boot=n_boot,
                                exclude_raters=exclude_raters)
    builders = [("summary", "Summary and regime", S.summary_section), ("methods", "Methods", S.methods_section),
                ("metrics", "Metric results", S.metrics_section), ("audit", "Metric audit", S.audit_section),
                ("human", "Human study: scales", S.human_section),
                ("alignment", "Metric-human alignment", S.alignment_section),
                ("scenarios", "Scenario view: head to head", S.scenario_section),
                ("families", "Family trends", S.family_section), ("gallery", "Disagreement gallery", S.gallery_section),
                ("raters", "Rater quality", S.rater_section), ("adoption", "Metric adoption", S.adoption_section),
                ("provenance", "Provenance", lambda c: S.provenance_section(c, timings or {}))]
    sections = []
    for sid, stitle, fn in builders[1:] + builders[:1]:   # the summary last: it lists the others' results
        try:
            sections.append(fn(ctx))
        except EyetestError as exc:  # a named input problem: say so, never fake the section
            sections.append(S.Section(sid, stitle, note=f"could not be computed: {exc}"))
    sections = sections[-1:] + sections[:-1]
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    title = title or inputs.about.get("title") or "eyetest evaluation report"
    md = [f"# {title}", "", ctx.regime_text(), ""]
    if ctx.simulated:
        md += ["**The human judgments in this report are SIMULATED (eyetest's rater simulator), not from people.**", ""]
    tex = ["% eyetest report tables; needs \\usepackage{booktabs}", ""]
    for s in sections:
        if not s.present:
            md += [f"## {s.title}", "", f"*Omitted: {s.note}*", ""]
            continue
        if s.markdown:
            md += [f"## {s.title}" + (" (simulated)" if s.simulated else ""), ""]
            for t in s.markdown:
                md += [t, ""]
        tex += s.latex
    card = evaluation_card(created_utc=created, score_manifest=inputs.score_manifest,
                           audit_manifest=inputs.audit_manifest, files_sha256=ctx.file_hashes(),
                           human_study=ctx.human_study_info(), regime=ctx.regime,
                           regime_note=inputs.about.get("regime_note", ""),
                           methods={m: {"family": inputs.families.get(m),
                                        "description": ctx.descriptions.get(m)} for m in ctx.methods},
                           scenarios={k: list(v) for k, v in inputs.scenarios.items()},
                           timings_s=timings, title=title)
    html = render_html(title=title, subtitle=ctx.subtitle(), sections=sections, generated=created,
                       facts=ctx.facts())
    return Report(html, "\n".join(md).rstrip() + "\n", "\n".join(tex), card, sections)


def write_report(report: Report, out) -> Path:
    """Write ``out`` (HTML) and ``report.md``, ``report.tex``, ``card.json`` beside it."""
    from eyetest.io.tables import atomic_write_text
    from eyetest.report.card import write_card

    out = Path(out)
    atomic_write_text(out, report.html)
    atomic_write_text(out.with_suffix(".md"), report.markdown)
    atomic_write_text(out.with_suffix(".tex"), report.latex)
    write_card(report.card, out.parent / "card.json")
    return out
