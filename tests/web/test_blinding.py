"""Blinding: what a rater's browser receives never names the method.

Method outputs often carry text naming the method that made them (a PNG
``tEXt`` chunk written by the pipeline, EXIF/XMP in a JPEG or WebP, a JPEG
comment, bytes after the JPEG end marker).  A study is imported from such
files and every image a rater is sent (``/img/<token>`` of every trial,
training included) is checked: no method name anywhere in the bytes, the
pixels exactly those of the original file (decoded by Pillow, independently
of the stripping code), the colour profile kept.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import sys
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from eyetest.study.metadata import strip_metadata
from eyetest.web.app import create_app

_spec = importlib.util.spec_from_file_location("pages_support", Path(__file__).with_name("pages_support.py"))
support = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("pages_support", support)
_spec.loader.exec_module(support)

#: what each method's files say about it (a rater must never see any of these)
SECRET = {m: f"made-by-{m}-v2.1" for m in support.METHODS}
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif(text: str) -> bytes:
    exif = Image.Exif()
    exif[0x0131] = text              # Software
    exif[0x010E] = text              # ImageDescription
    return exif.tobytes()


def _tag_outputs(root: Path) -> None:
    """Rewrite each method's outputs with metadata naming the method (PNG, JPEG, WebP by method)."""
    formats = dict(zip(support.METHODS, ("png", "jpeg", "webp")))
    for method, fmt in formats.items():
        for path in sorted((root / "methods" / method).glob("*.png")):
            im = Image.open(path).convert("RGB")
            secret = SECRET[method]
            xmp = f"<x:xmpmeta><rdf:Description creator='{secret}'/></x:xmpmeta>".encode()
            if fmt == "png":
                info = PngImagePlugin.PngInfo()
                info.add_text("Software", secret)
                info.add_itxt("parameters", f"model: {secret}")
                info.add_text("Comment", secret, zip=True)
                im.save(path, pnginfo=info, icc_profile=SRGB)
                target = path
            else:
                target = path.with_suffix(".jpg" if fmt == "jpeg" else ".webp")
                path.unlink()
                buf = io.BytesIO()
                if fmt == "jpeg":
                    im.save(buf, "JPEG", quality=90, exif=_exif(secret), comment=secret.encode(), xmp=xmp,
                            icc_profile=SRGB, progressive=path.stem == "chelsea")
                    buf.write(f"trailer {secret}".encode())          # bytes after EOI
                else:
                    im.save(buf, "WEBP", quality=90, exif=_exif(secret), xmp=xmp, icc_profile=SRGB)
                target.write_bytes(buf.getvalue())
            assert secret.encode() in target.read_bytes()          # the leak is there to begin with


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Every image a rater of the study is sent, with the original files' pixels by method."""
    root = tmp_path_factory.mktemp("blinding")
    dataset = support.make_dataset(root / "ds")
    _tag_outputs(dataset)
    originals = {}
    for method in support.METHODS:
        for path in (dataset / "methods" / method).iterdir():
            originals[(path.stem, method)] = np.asarray(Image.open(path).convert("RGB"))
    db = str(root / "study.sqlite")
    study = support.make_study(db, dataset, judgments=6, context="gt", dimensions=("overall",))
    app = create_app(db, admin_token="blind-admin", rate_per_address=(0, 0), rate_per_session=(0, 0))

    async def collect():
        out = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            for rater in range(3):
                r = await http.post(f"/api/v1/studies/{study}/sessions", json={"participant": f"blind-{rater}"})
                token = r.json()["session"]
                while (r := await http.get(f"/api/v1/sessions/{token}/next")).status_code == 200:
                    trial = r.json()
                    for stim in trial["stimuli"] + ([trial["context"]] if "context" in trial else []):
                        img = await http.get(stim["url"])
                        assert img.status_code == 200
                        out.append((trial["trial"], stim["slot"], img.headers["content-type"], img.content))
                    r = await http.post(f"/api/v1/sessions/{token}/judgments", json={
                        "trial": trial["trial"], "answers": {"overall": "A"}, "client_id": str(uuid.uuid4())})
                    assert r.status_code == 201, r.text
        return out

    loop = asyncio.new_event_loop()
    try:
        images = loop.run_until_complete(collect())
    finally:
        loop.close()
        app.state.engine.dispose()
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select id, condition_a, condition_b from trials")).all()
    engine.dispose()
    shown = {(r.id, slot): cond for r in rows for slot, cond in (("A", r.condition_a), ("B", r.condition_b))}
    return images, originals, shown


def test_no_image_a_rater_gets_names_the_method(served):
    images, _, _ = served
    assert len(images) > 20
    for _trial, _slot, _media, content in images:
        for secret in SECRET.values():
            assert secret.encode() not in content
        for method in support.METHODS:
            assert f"made-by-{method}".encode() not in content


def test_served_images_have_the_original_pixels_and_colour_profile(served):
    images, originals, shown = served
    checked = set()
    for trial, slot, media, content in images:
        condition = shown.get((trial, slot))
        if condition is None or "::__" in condition:              # context and quality-control images
            continue
        image, method = condition.split("::", 1)
        im = Image.open(io.BytesIO(content))
        assert media == {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}[im.format]
        assert np.array_equal(np.asarray(im.convert("RGB")), originals[(image, method)]), condition
        assert im.info.get("icc_profile") == SRGB, condition
        assert not {"Software", "parameters", "Comment", "exif", "xmp", "comment"} & set(im.info), (condition, im.info)
        checked.add(media)
    assert checked == {"image/png", "image/jpeg", "image/webp"}


@pytest.mark.parametrize("media, raw", [
    ("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"\x00" * 5),      # chunk cut short
    ("image/png", b"GIF89a"),
    ("image/jpeg", b"\xff\xd8\xff\xe1\x00\x40Exif"),                                   # segment cut short
    ("image/jpeg", b"\xff\xd8\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00\x12\x34"),       # scan without EOI
    ("image/webp", b"RIFF\x10\x00\x00\x00WEBPVP8 \xff\x00\x00\x00"),
])
def test_a_file_that_cannot_be_walked_is_refused(media, raw):
    with pytest.raises(ValueError):
        strip_metadata(raw, media)


def test_a_truncated_png_is_not_served_as_is(tmp_path):
    """A PNG whose chunks cannot be walked is re-encoded (or refused with the file's name), never kept."""
    from eyetest.errors import EyetestError
    from eyetest.study.importer import display_encoding

    arr = np.random.default_rng(1).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    buf = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "made-by-secret")
    Image.fromarray(arr).save(buf, "PNG", pnginfo=info)
    path = tmp_path / "cut.png"
    path.write_bytes(buf.getvalue()[:-12])                         # IEND missing
    try:
        content, media, *_ = display_encoding(path)
    except EyetestError as exc:
        assert "cut.png" in str(exc)
    else:
        assert media == "image/png" and b"made-by-secret" not in content
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(content)).convert("RGB")), arr)
