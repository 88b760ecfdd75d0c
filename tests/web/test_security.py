"""Security: opaque URLs, headers, size and rate limits, admin token, no tracebacks, isolation."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

import httpx
import pytest

from eyetest.errors import EyetestError
from eyetest.study.sample import create_sample_study
from eyetest.web.app import create_app
from eyetest.web.guard import TokenBuckets

ADMIN = {"Authorization": "Bearer s3cret-admin"}


class Client:
    def __init__(self, app, address="192.0.2.7"):
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 4444),
                                                                    raise_app_exceptions=False),
                                      base_url="http://testserver")

    def __getattr__(self, method):
        fn = getattr(self.http, method)
        return lambda *a, **kw: self.loop.run_until_complete(fn(*a, **kw))

    def close(self):
        self.loop.run_until_complete(self.http.aclose())
        self.loop.close()
        self.app.state.engine.dispose()


@pytest.fixture
def study_db(tmp_path):
    url = str(tmp_path / "sec.sqlite")
    return url, create_sample_study(url, tmp_path / "s", study="judgments_per_session = 6")


@pytest.fixture
def client(study_db):
    url, study = study_db
    c = Client(create_app(url, admin_token="s3cret-admin", rate_per_address=(0, 0), rate_per_session=(0, 0)))
    c.study = study
    yield c
    c.close()


def test_admin_token_is_required_to_start():
    with pytest.raises(EyetestError, match="admin token"):
        create_app("unused.sqlite", admin_token=None)


def test_security_headers_on_every_response(client):
    for r in (client.get("/openapi.json"), client.get("/api/v1/sessions/x/next"), client.get("/nope")):
        h = r.headers
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert "script-src 'self'" in h["content-security-policy"]
        assert h["x-content-type-options"] == "nosniff"
        assert h["x-frame-options"] == "DENY"
        assert h["referrer-policy"] == "no-referrer"
    assert client.get("/docs").status_code == 404          # the CDN-based docs page is off


def test_trials_reveal_no_method_names_or_paths(client, tmp_path):
    token = client.post(f"/api/v1/studies/{client.study}/sessions", json={"participant": "p"}).json()["session"]
    assert len(token) >= 40                                  # 32 random bytes, URL-safe
    text = client.get(f"/api/v1/sessions/{token}/next").text
    trial = json.loads(text)
    for secret in ("alpha", "beta", "gamma", "img0", "__reference", "__degraded", str(tmp_path), ".png"):
        assert secret not in text
    for stim in trial["stimuli"]:
        assert stim["url"].startswith("/img/") and len(stim["url"]) > 30
        r = client.get(stim["url"])
        assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
        assert r.headers["content-type"] in ("image/png", "image/jpeg", "image/webp")
        assert client.get(stim["url"], headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    study = client.get(f"/api/v1/studies/{client.study}").text
    assert "alpha" not in study and "dataset" not in study


@pytest.mark.parametrize("path", ["/img/..%2F..%2Fetc%2Fpasswd", "/img/../../etc/passwd", "/img/%00",
                                  "/img/" + "a" * 300, "/static/../../../etc/passwd",
                                  "/api/v1/sessions/..%2F..%2Fetc/next"])
def test_path_traversal_is_impossible(client, path):
    r = client.get(path)
    assert r.status_code in (404, 422)
    assert b"root:" not in r.content


def test_admin_endpoints_need_the_bearer_token(client):
    for method, path in [("get", "/api/v1/admin/studies"), ("post", f"/api/v1/admin/studies/{client.study}/pause"),
                         ("get", f"/api/v1/studies/{client.study}/export?format=csv"),
                         ("get", f"/api/v1/admin/studies/{client.study}/leaderboard")]:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-admin"}):
            r = getattr(client, method)(path, headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/v1/admin/studies", headers=ADMIN).status_code == 200


def test_request_size_limit(client):
    big = {"participant": "p", "meta": {"k": "x" * 70_000}}
    r = client.post(f"/api/v1/studies/{client.study}/sessions", json=big)
    assert r.status_code == 413

    async def chunks():                                      # no Content-Length: counted while streaming
        for _ in range(80):
            yield b"x" * 1024

    r = client.post(f"/api/v1/studies/{client.study}/sessions", content=chunks(),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_rate_limits_per_address_and_per_session(study_db):
    url, study = study_db
    c = Client(create_app(url, admin_token="s3cret-admin", rate_per_address=(1, 5), rate_per_session=(1000, 1000)))
    try:
        codes = [c.get("/openapi.json").status_code for _ in range(8)]
        assert codes[:5] == [200] * 5 and codes[5:] == [429] * 3
        r = c.get("/openapi.json")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    finally:
        c.close()
    c = Client(create_app(url, admin_token="s3cret-admin", rate_per_address=(0, 0), rate_per_session=(1, 4)))
    try:
        token = c.post(f"/api/v1/studies/{study}/sessions", json={"participant": "p"}).json()["session"]
        codes = [c.get(f"/api/v1/sessions/{token}/next").status_code for _ in range(6)]
        assert codes == [200] * 4 + [429] * 2
        other = c.post(f"/api/v1/studies/{study}/sessions", json={"participant": "q"}).json()["session"]
        assert c.get(f"/api/v1/sessions/{other}/next").status_code == 200     # other sessions unaffected
    finally:
        c.close()


def test_token_bucket_refills_at_its_rate():
    b = TokenBuckets(rate=2.0, burst=3.0)
    assert [b.take("k", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take("k", now=0.0) == pytest.approx(0.5)        # one token takes 1/rate s
    assert b.take("k", now=0.5) == 0.0                       # refilled exactly one token
    assert b.take("other", now=0.5) == 0.0


def test_no_stack_traces_to_clients(client, monkeypatch):
    def boom(*a, **kw):
        raise RuntimeError("secret internal detail /etc/shadow")

    monkeypatch.setattr(client.app.state.service, "next_trial", boom)
    r = client.get("/api/v1/sessions/abc/next")
    assert r.status_code == 500
    assert r.json() == {"error": "internal error"}
    assert "Traceback" not in r.text and "secret" not in r.text
    r = client.post(f"/api/v1/studies/{client.study}/sessions", content=b"{not json",
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and "Traceback" not in r.text


def test_sessions_are_isolated(client):
    a = client.post(f"/api/v1/studies/{client.study}/sessions", json={"participant": "a"}).json()["session"]
    b = client.post(f"/api/v1/studies/{client.study}/sessions", json={"participant": "b"}).json()["session"]
    tb = client.get(f"/api/v1/sessions/{b}/next").json()
    r = client.post(f"/api/v1/sessions/{a}/judgments",
                    json={"trial": tb["trial"], "answers": {"overall": "A"}, "client_id": str(uuid.uuid4())})
    assert r.status_code == 404
    # b's trial is still unanswered and b's next is unchanged
    assert client.get(f"/api/v1/sessions/{b}/next").json()["trial"] == tb["trial"]
    assert client.get(f"/api/v1/sessions/{a}").json()["answered"] == 0


def test_control_characters_never_reach_the_database(db_url, tmp_path):
    # Found by the API fuzzer: PostgreSQL text columns cannot hold NUL, so a NUL in a
    # path or a participant id must be refused before it reaches the store (not a 500).
    study = create_sample_study(db_url, tmp_path / "s", study="judgments_per_session = 4")
    c = Client(create_app(db_url, admin_token="s3cret-admin", rate_per_address=(0, 0), rate_per_session=(0, 0)))
    try:
        for path in ("/img/%00", "/img/a%00b", "/api/v1/sessions/x%00y/next", f"/study/{study}%0A"):
            r = c.get(path)
            assert r.status_code == 404, (path, r.status_code, r.text[:200])
        r = c.post(f"/api/v1/studies/{study}/sessions", json={"participant": "p\x00q"})
        assert r.status_code == 422, r.text[:200]
        r = c.post(f"/api/v1/studies/{study}/sessions", json={"participant": "p-q", "meta": {"note": "a\x00b"}})
        assert r.status_code in (201, 422), r.text[:200]
    finally:
        c.close()


@pytest.mark.parametrize("stored", ["s3cret-admin\r", "s3cret-admin\n ", "  s3cret-admin"])
def test_admin_token_with_surrounding_whitespace_still_works(study_db, stored, monkeypatch):
    """A token from a CRLF .env file or docker --env-file: stripped, as `eyetest serve` checks it."""
    url, _ = study_db
    monkeypatch.setenv("EYETEST_DB", url)
    monkeypatch.setenv("EYETEST_ADMIN_TOKEN", stored)
    monkeypatch.setenv("EYETEST_RATE_LIMITS", "0,0,0,0")
    monkeypatch.setenv("EYETEST_SWITCH_INTERVAL", str(sys.getswitchinterval()))     # left as it is
    from eyetest.web import app as webapp

    monkeypatch.setattr(webapp, "freeze_startup_heap", lambda: None)            # a server's, not a test's
    app_from_env = webapp.app_from_env

    for app in (create_app(url, admin_token=stored, rate_per_address=(0, 0), rate_per_session=(0, 0)),
                app_from_env()):
        c = Client(app)
        try:
            assert c.get("/api/v1/admin/studies", headers=ADMIN).status_code == 200
            assert c.get("/api/v1/admin/studies", headers={"Authorization": f"Bearer {stored}"}).status_code == 200
            assert c.get("/api/v1/admin/studies", headers={"Authorization": "Bearer wrong"}).status_code == 401
        finally:
            c.close()


def test_unusable_rate_limits_are_refused(study_db):
    url, _ = study_db
    for per_address, per_session in (((100, 200), (10, 0)), ((5, 0.5), (10, 30)), ((float("nan"), 1), (0, 0))):
        with pytest.raises(EyetestError, match="rate limit"):
            create_app(url, admin_token="s3cret-admin", rate_per_address=per_address, rate_per_session=per_session)
