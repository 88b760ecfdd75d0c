"""The disagreement gallery: pairs where a metric and the raters disagree most, with image crops."""

from __future__ import annotations

import html as _html
from pathlib import Path

import numpy as np

from eyetest.report.context import Context
from eyetest.report.html import Section, crop_uri, omitted_section, para
from eyetest.report.tables import fmt


def _find_image(root: Path | None, sub: str, image: str) -> Path | None:
    if root is None:
        return None
    folder = root / sub
    if not folder.is_dir():
        return None
    hits = sorted(p for p in folder.glob(f"{image}.*") if p.is_file())
    return hits[0] if hits else None


def _detail_box(path: Path | None, *, size: int = 64) -> tuple | None:
    """The ``size`` x ``size`` window of the reference with the most gradient energy (stride 8)."""
    from PIL import Image

    if path is None:
        return None
    try:
        with Image.open(path) as im:
            g = np.asarray(im.convert("L"), dtype=np.float64)
    except OSError:
        return None
    if min(g.shape) <= size:
        return None
    e = np.zeros_like(g)
    e[:, 1:] += np.abs(np.diff(g, axis=1))
    e[1:, :] += np.abs(np.diff(g, axis=0))
    c = np.pad(e.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    best, box = -1.0, None
    for y in range(0, g.shape[0] - size + 1, 8):
        for x in range(0, g.shape[1] - size + 1, 8):
            v = c[y + size, x + size] - c[y, x + size] - c[y + size, x] + c[y, x]
            if v > best:
                best, box = v, (x, y, x + size, y + size)
    return box


def gallery_section(ctx: Context, *, k: int = 2) -> Section:
    pairs = ctx.pairs()
    if pairs is None or ctx.inputs.scores is None or not ctx.metrics:
        return omitted_section("gallery", "Disagreement gallery", "needs metric scores and pairwise judgments",
                               simulated=ctx.simulated)
    from eyetest.core.alignment import disagreement_gallery

    prim = pairs[pairs["dimension"] == ctx.primary] if "dimension" in pairs.columns else pairs
    gal = disagreement_gallery(prim, ctx.inputs.scores, metrics={m: ctx.directions[m] for m in ctx.metrics}, k=k)
    s = Section("gallery", "Disagreement gallery", simulated=ctx.simulated)
    if gal.empty:
        s.html = para("No pair where a metric and the raters disagree.")
        return s
    root = ctx.inputs.dataset
    cards = []
    for r in gal.itertuples(index=False):
        d = r._asdict()
        img = str(d.get("image", ""))
        ma, mb = str(d.get("method_a", "")), str(d.get("method_b", ""))
        human_pref = ma if d["wins_a"] > d["wins_b"] else mb
        thumbs = []
        box = _detail_box(_find_image(root, "gt", img))
        for label, sub in (("reference", "gt"), (ma, f"methods/{ma}"), (mb, f"methods/{mb}")):
            p = _find_image(root, sub, img)
            uri = crop_uri(p, box=box) if p is not None else None
            if uri is None:
                continue
            cls = ' class="win"' if label == human_pref else ""
            thumbs.append(f'<div><img{cls} alt="{_html.escape(label)}" src="{uri}">{_html.escape(label)}</div>')
        metric = d["metric"]
        arrow = "↑" if ctx.directions[metric] else "↓"
        e = _html.escape
        text = (f"<b>{e(metric)} {arrow}</b> on <b>{e(img)}</b>: raters preferred "
                f"<b>{e(human_pref)}</b> ({int(d['wins_a'])}:{int(d['wins_b'])}, {int(d['ties'])} ties"
                f"{', simulated' if ctx.simulated else ''}); {e(metric)} gives {e(ma)} {fmt(d['metric_a'])}, "
                f"{e(mb)} {fmt(d['metric_b'])}.")
        cards.append(f'<div class="case"><div class="imgs">{"".join(thumbs)}</div><p>{text}</p></div>')
    if root is not None:
        note = ""
    elif ctx.inputs.dataset_recorded:
        note = (f" (no dataset folder found: the score manifest's {ctx.inputs.dataset_recorded!r} does not exist "
                "from here; pass --dataset; thumbnails left out)")
    else:
        note = " (no dataset folder found: thumbnails left out)"
    s.html = (para(f"The {k} strongest disagreements per metric ({ctx.primary}); 64 px crops where the reference has the most "
                   "detail, enlarged; outlined = preferred by the raters" + note + ".")
              + f'<div class="gallery">{"".join(cards)}</div>')
    return s
