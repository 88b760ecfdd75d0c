"""``/img/<token>`` of images stored before imports stripped metadata (blinding of old studies).

Imports now strip text chunks, EXIF, XMP and comments (which may name the
method) before storing an image; studies imported earlier still hold the
original files.  Such rows are written here directly into the database, as
the earlier importer did (``images.sha256`` the SHA256 of the original
bytes), and fetched through the server: the method's name must be gone, the
pixels (decoded by Pillow) unchanged, and the ETag that of the bytes served.
"""

from __future__ import annotations

import asyncio
import hashlib
import io

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image, PngImagePlugin

from eyetest.store import schema
from eyetest.study import service as service_module
from eyetest.study.sample import create_sample_study
from eyetest.web.app import create_app

SECRET = b"made-by-SuperResolverX-v3"


def _old_files() -> dict[str, tuple[bytes, str]]:
    """Files as a restoration pipeline writes them, each naming the method in its metadata."""
    rng = np.random.default_rng(11)
    pixels = rng.integers(0, 256, size=(40, 56, 3), dtype=np.uint8)
    im = Image.fromarray(pixels)
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", SECRET.decode())                     # tEXt
    info.add_text("parameters", f"model: {SECRET.decode()}", zip=True)   # zTXt
    buf = io.BytesIO()
    im.save(buf, "PNG", pnginfo=info)
    png = buf.getvalue()
    exif = Image.Exif()
    exif[0x0131] = SECRET.decode()                                  # EXIF Software
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    jpeg = buf.getvalue()
    # bytes between two segments (which decoders skip): the segments cannot be walked, so the server
    # must fall back to re-encoding the decoded pixels
    k = jpeg.index(b"\xff\xdb")
    junk = jpeg[:k] + SECRET + jpeg[k:]
    files = {"png": (png, "image/png"), "jpeg": (jpeg, "image/jpeg"), "jpeg-junk": (junk, "image/jpeg")}
    for raw, _ in files.values():
        assert SECRET in raw                                        # the leak is there to begin with
    return files


def _pixels(content: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(content)) as im:
        return np.asarray(im.convert("RGB"))


class Client:
    def __init__(self, app):
        self.app, self.loop = app, asyncio.new_event_loop()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.1.2.3", 5555)),
                                      base_url="http://testserver")

    def get(self, url, **kw):
        return self.loop.run_until_complete(self.http.get(url, **kw))

    def close(self):
        self.loop.run_until_complete(self.http.aclose())
        self.loop.close()
        self.app.state.engine.dispose()


@pytest.fixture
def old_study(db_url, tmp_path):
    """A study whose first three method stimuli point at old-style rows (original bytes)."""
    study = create_sample_study(db_url, tmp_path / "study", dataset_kwargs={"mixed_formats": False})
    app = create_app(db_url, admin_token="t" * 24, rate_per_address=(0, 0), rate_per_session=(0, 0))
    engine = app.state.engine
    st, im = schema.stimuli.c, schema.images.c
    files = _old_files()
    old = {}
    with engine.begin() as conn:
        tokens = conn.execute(sa.select(st.token).where(st.study_id == study, st.role == "method")
                              .order_by(st.id)).scalars().all()
        for token, (name, (raw, media)) in zip(tokens, files.items()):
            sha = hashlib.sha256(raw).hexdigest()
            conn.execute(sa.insert(schema.images).values(sha256=sha, media_type=media, width=56, height=40,
                                                         content=raw))
            conn.execute(sa.update(schema.stimuli).where(st.token == token).values(sha256=sha))
            old[name] = (token, raw, sha)
        fresh_token = tokens[len(files)]
        fresh = conn.execute(sa.select(im.content, im.sha256).join(schema.stimuli, st.sha256 == im.sha256)
                             .where(st.token == fresh_token)).first()
    client = Client(app)
    yield client, old, (fresh_token, bytes(fresh.content), fresh.sha256)
    client.close()


def test_old_rows_are_served_without_metadata(old_study):
    client, old, _ = old_study
    for name, (token, raw, stored_sha) in old.items():
        r = client.get(f"/img/{token}")
        assert r.status_code == 200, name
        body = r.content
        assert SECRET not in body and b"SuperResolverX" not in body, name
        np.testing.assert_array_equal(_pixels(body), _pixels(raw), err_msg=name)
        # the JPEG that cannot be walked comes back as a PNG of its pixels
        assert r.headers["content-type"] == ("image/jpeg" if name == "jpeg" else "image/png"), name
        # the ETag names the bytes served, not the stored original
        etag = f'"{hashlib.sha256(body).hexdigest()}"'
        assert r.headers["etag"] == etag != f'"{stored_sha}"', name
        assert "immutable" in r.headers["cache-control"]
        assert client.get(f"/img/{token}", headers={"If-None-Match": etag}).status_code == 304
        again = client.get(f"/img/{token}", headers={"If-None-Match": f'"{stored_sha}"'})
        assert again.status_code == 200 and again.content == body, name   # a cache of the original refetches


def test_stripped_rows_are_served_unchanged(old_study):
    client, _, (token, content, sha) = old_study
    r = client.get(f"/img/{token}")
    assert r.content == content and r.headers["etag"] == f'"{sha}"'


def test_stripping_is_not_repeated_per_request(old_study, monkeypatch):
    client, old, (fresh_token, fresh_content, _) = old_study
    calls = []
    real = service_module.strip_metadata

    def counting(raw, media):
        calls.append(media)
        return real(raw, media)

    monkeypatch.setattr(service_module, "strip_metadata", counting)
    token = old["jpeg"][0]
    first = client.get(f"/img/{token}")
    bodies = [first.content] + [client.get(f"/img/{token}").content for _ in range(2)]
    assert bodies[0] == bodies[1] == bodies[2] and SECRET not in bodies[0]
    assert calls == ["image/jpeg"]                       # the app's image cache answers the repeats
    # past the image cache (evicted): the same bytes and ETag again; a clean row is not checked twice
    for _ in range(2):
        client.app.state.images = type(client.app.state.images)()
        again = client.get(f"/img/{token}")
        assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
        assert client.get(f"/img/{fresh_token}").content == fresh_content
    assert calls == ["image/jpeg", "image/jpeg", "image/png", "image/jpeg"]
