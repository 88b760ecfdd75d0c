"""Where a report goes: the HTML page and its companions, checked before anything is written.

:func:`report_paths` names the four files of a report (``<stem>.html``,
``<stem>.md``, ``<stem>.tex`` and the evaluation card) and
:func:`check_outputs` refuses names that would replace a file the report
reads, or that cannot be written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from eyetest.errors import DatasetError
from eyetest.io.outputs import check_writable

HTML_SUFFIXES = (".html", ".htm")


@dataclass(frozen=True)
class ReportPaths:
    """Where a report goes: the HTML page and its three companions."""

    html: Path
    markdown: Path
    latex: Path
    card: Path

    def all(self) -> tuple:
        return (self.html, self.markdown, self.latex, self.card)


def report_paths(out) -> ReportPaths:
    """The HTML file ``out`` and its companions ``<stem>.md``, ``<stem>.tex`` and the card.

    ``out`` must end in ``.html`` or ``.htm`` (``.html`` is appended to a name
    without a suffix), so the page can never take the name of a table or of
    its own Markdown.  The card is ``card.json`` beside ``report.html`` (the
    name ``eyetest demo`` and earlier versions use), else ``<stem>.card.json``,
    so two reports in one folder keep their own cards.
    """
    out = Path(out)
    if not out.suffix:
        out = out.with_name(out.name + ".html")
    elif out.suffix.lower() not in HTML_SUFFIXES:
        raise DatasetError(f"report file {str(out)!r}: the report is an HTML page, give a name ending in .html "
                           "(its .md, .tex and card are written beside it)")
    card = out.parent / ("card.json" if out.name == "report.html" else f"{out.stem}.card.json")
    return ReportPaths(out, out.with_suffix(".md"), out.with_suffix(".tex"), card)


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(paths: ReportPaths, read: dict | None = None) -> None:
    """Refuse, before anything is computed or written, report files that would replace
    a file the report reads (``read``: role -> path, :attr:`eyetest.report.build.ReportInputs.files`), that
    coincide, that are folders, or whose folder cannot be created or written."""
    outs = paths.all()
    if len({p.resolve() for p in outs}) != len(outs):
        raise DatasetError(f"report files {', '.join(map(str, outs))} are not distinct")
    for p in outs:
        for role, q in (read or {}).items():
            if _same_file(p, Path(q)):
                raise DatasetError(f"report file {str(p)!r} would overwrite the {role} file the report reads "
                                   f"({q}); choose another --out")
        check_writable(p, "report file")
