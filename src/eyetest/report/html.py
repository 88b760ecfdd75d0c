"""One self-contained HTML file: inline CSS, figures as base64 PNG, thumbnails as base64 JPEG.

Nothing in the page refers to anything outside it: no scripts, no fonts, no
style sheets, no images by URL (a test opens it in headless Chromium and
asserts that no request leaves the page).  The page is rendered from the
Jinja2 template ``report/templates/report.html`` with autoescaping on;
fragments built here (tables, figures) are escaped as they are built and
passed as :class:`markupsafe.Markup`.
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass, field

from markupsafe import Markup

from eyetest.report.tables import Table, to_html, to_latex, to_markdown


@dataclass
class Section:
    """One report section: ``html`` when it has content, else a one-line ``note`` why not."""

    id: str
    title: str
    html: str = ""
    note: str = ""
    simulated: bool = False
    markdown: list[str] = field(default_factory=list)
    latex: list[str] = field(default_factory=list)

    @property
    def present(self) -> bool:
        return bool(self.html)


def omitted_section(id_, title, note, simulated=False) -> Section:
    """A section left out of the report: no content, ``note`` says why."""
    return Section(id_, title, note=note, simulated=simulated)


def section_tables(section: Section, *tables) -> str:
    """The HTML of ``tables``; their Markdown and LaTeX renderings are added to ``section``."""
    out = []
    for t in tables:
        section.markdown.append(to_markdown(t))
        section.latex.append(to_latex(t))
        out.append(table_html(t))
    return "".join(out)

def figure_html(fig, *, alt: str, caption: str = "", dpi: int = 110) -> str:
    """A matplotlib figure as an inline ``<img>`` (PNG, base64) in a ``<figure>``; the figure is closed."""
    from eyetest.report.figures import png_bytes

    data = base64.b64encode(png_bytes(fig, dpi=dpi)).decode("ascii")
    fig.clear()
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
            f"{cap}</figure>")


def thumbnail_uri(path, *, size: int = 112, quality: int = 80) -> str | None:
    """A small JPEG thumbnail of an image file as a ``data:`` URI (None if unreadable)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size), Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=quality)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def crop_uri(path, *, box: tuple[int, int, int, int] | None = None, size: int = 112,
             quality: int = 85) -> str | None:
    """A ``size`` px JPEG of a centre crop (or ``box``), enlarged with nearest neighbours.

    Used by the gallery so that restoration detail is visible at thumbnail size.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if box is None:
                s = min(im.width, im.height, size)
                x0, y0 = (im.width - s) // 2, (im.height - s) // 2
                box = (x0, y0, x0 + s, y0 + s)
            im = im.crop(box).resize((size, size), Image.Resampling.NEAREST)
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=quality)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def table_html(t: Table) -> str:
    return f'<div class="tablewrap">{to_html(t)}</div>'


def para(text: str, *, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f"<p{c}>{html.escape(text)}</p>"


def badge(text: str, *, kind: str = "sim") -> str:
    return f'<span class="badge {kind}">{html.escape(text)}</span>'


def _environment():
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(loader=PackageLoader("eyetest.report", "templates"),
                       autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def render_html(*, title: str, subtitle: str, sections: list[Section], generated: str, facts: list) -> str:
    """The whole page from the template (``facts``: (label, value) pairs for the header)."""
    template = _environment().get_template("report.html")
    counters = {"figure": 0, "table": 0}

    def number(kind: str, tag: str):
        def repl(match):
            counters[kind] += 1
            return f'{match.group(0)}<span class="num-label">{kind.capitalize()} {counters[kind]}.</span> '
        return repl

    secs = []
    for k, s in enumerate(sections, start=1):
        body = re.sub(r"<figcaption>", number("figure", "figcaption"), s.html)
        body = re.sub(r"<caption>", number("table", "caption"), body)
        secs.append({"id": s.id, "title": f"{k}. {s.title}", "html": Markup(body), "note": s.note,
                     "present": s.present, "simulated": s.simulated})
    return template.render(title=title, subtitle=subtitle, sections=secs, generated=generated, facts=facts)


__all__ = ["Section", "badge", "crop_uri", "figure_html", "omitted_section", "para", "render_html", "section_tables",
           "table_html", "thumbnail_uri"]
