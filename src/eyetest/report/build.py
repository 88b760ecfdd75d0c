"""Turn the collected inputs into the report, and write it.

:func:`~eyetest.report.inputs.collect` finds the inputs (a results folder,
or explicit files; the folder's conventions are in
:mod:`eyetest.report.inputs`), :func:`build_report` computes the analyses
with :mod:`eyetest.core` and renders every section
(:mod:`eyetest.report.sections`), and :func:`write_report` writes the HTML
file plus ``<stem>.md``, ``<stem>.tex`` and the evaluation card beside it
(:func:`report_paths`: ``card.json`` for ``report.html``, else
``<stem>.card.json``), after :func:`check_outputs` made sure that none of
them is a file the report read.

The input names (:func:`collect`, :class:`ReportInputs`, :func:`read_about`,
:func:`read_study`, :func:`study_judgments`, the table specs) are
re-exported here, so ``from eyetest.report.build import collect`` keeps working.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from eyetest.errors import EyetestError
from eyetest.report.inputs import (
    ABOUT_TEXT_KEYS,
    AUDIT_COLUMNS,
    CONTEXT_FLAG_COLUMNS,
    GAMEABILITY_COLUMNS,
    JUDGMENT_EXTS,
    SCORE_COLUMNS,
    SCORE_NAMES,
    TABLE_EXTS,
    ReportInputs,
    collect,
    read_about,
    read_study,
    study_judgments,
)
from eyetest.report.names import check_compare
from eyetest.report.paths import ReportPaths, check_outputs, report_paths


@dataclass
class Report:
    """A built report: the page and its companions."""

    html: str
    markdown: str
    latex: str
    card: dict
    sections: list
    read: dict = field(default_factory=dict)   # role -> path of every file the report read


def build_report(inputs: ReportInputs, *, seed: int = 0, compare=None, regime: str | None = None,
                 n_boot: int = 200, exclude_raters: str = "auto", timings: dict | None = None,
                 title: str | None = None, directions: dict | None = None, progress=None) -> Report:
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
    directions : metric -> higher is better, for scored or audited metrics that are
        neither registered nor in a manifest (otherwise they are left out with a note).
    progress : ``progress(stage, done, total)``, called as each of the ``total`` stages
        starts, ``done`` of them finished: ``"scales and audit summary"`` (the analyses
        the sections share), each section by title (the summary last), ``"rendering"``.
        It only reports: nothing here prints, and the report is the same with or without it.
    """
    from eyetest.report import sections as S
    from eyetest.report.card import evaluation_card
    from eyetest.report.html import render_html

    from eyetest.report.tables import md_text

    builders = [("summary", "Summary and regime", S.summary_section), ("methods", "Methods", S.methods_section),
                ("metrics", "Metric results", S.metrics_section), ("audit", "Metric audit", S.audit_section),
                ("human", "Human study: scales", S.human_section),
                ("alignment", "Metric-human alignment", S.alignment_section),
                ("scenarios", "Scenario view: head to head", S.scenario_section),
                ("families", "Family trends", S.family_section), ("gallery", "Disagreement gallery", S.gallery_section),
                ("raters", "Rater quality", S.rater_section), ("adoption", "Metric adoption", S.adoption_section),
                ("provenance", "Provenance", lambda c: S.provenance_section(c, timings or {}))]
    total = len(builders) + 2

    def stage(name: str, done: int) -> None:
        if progress is not None:
            progress(name, done, total)

    stage("scales and audit summary", 0)
    if compare:
        check_compare(inputs, tuple(compare), key="compare")
    elif (inputs.about or {}).get("compare"):
        check_compare(inputs, tuple(inputs.about["compare"]),
                      key=f"{inputs.files.get('about', 'about.json')}: key 'compare'")
    ctx = S.Context.from_inputs(inputs, seed=seed, compare=compare, regime=regime, n_boot=n_boot,
                                exclude_raters=exclude_raters, directions=directions)
    sections = []
    order = builders[1:] + builders[:1]   # the summary last: it lists the others' results
    for done, (sid, stitle, fn) in enumerate(order, start=1):
        stage(stitle, done)
        try:
            sections.append(fn(ctx))
        except EyetestError as exc:  # a named input problem: say so, never fake the section
            sections.append(S.Section(sid, stitle, note=f"could not be computed: {exc}"))
    sections = sections[-1:] + sections[:-1]
    stage("rendering", total - 1)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    title = title or inputs.about.get("title") or "eyetest evaluation report"
    md = [f"# {md_text(title)}", "", md_text(ctx.regime_text()), ""]
    if ctx.simulated:
        md += ["**The human judgments in this report are SIMULATED (eyetest's rater simulator), not from people.**", ""]
    tex = ["% eyetest report tables; needs \\usepackage{booktabs}", ""]
    for s in sections:
        if not s.present:
            md += [f"## {md_text(s.title)}", "", f"*Omitted: {md_text(s.note)}*", ""]
            continue
        if s.markdown:
            md += [f"## {md_text(s.title)}" + (" (simulated)" if s.simulated else ""), ""]
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
                           timings_s=timings, title=title,
                           dataset_path=None if inputs.dataset is None else str(inputs.dataset))
    html = render_html(title=title, subtitle=ctx.subtitle(), sections=sections, generated=created,
                       facts=ctx.facts())
    return Report(html, "\n".join(md).rstrip() + "\n", "\n".join(tex), card, sections, dict(inputs.files))


def write_report(report: Report, out) -> ReportPaths:
    """Write the HTML ``out`` and its Markdown, LaTeX and card beside it (:func:`report_paths`).

    :func:`check_outputs` runs first, so a name that would replace one of
    the report's inputs is refused before anything is written; each file is
    written atomically.
    """
    from eyetest.io.tables import atomic_write_text
    from eyetest.report.card import write_card

    paths = report_paths(out)
    check_outputs(paths, report.read)
    atomic_write_text(paths.html, report.html)
    atomic_write_text(paths.markdown, report.markdown)
    atomic_write_text(paths.latex, report.latex)
    write_card(report.card, paths.card)
    return paths


__all__ = ["ABOUT_TEXT_KEYS", "AUDIT_COLUMNS", "CONTEXT_FLAG_COLUMNS", "GAMEABILITY_COLUMNS", "JUDGMENT_EXTS",
           "SCORE_COLUMNS", "SCORE_NAMES", "TABLE_EXTS", "Report", "ReportInputs", "ReportPaths",
           "build_report", "check_outputs", "collect", "read_about", "read_study", "report_paths",
           "study_judgments", "write_report"]
