"""Hypothesis-driven fuzzing of the API: whatever a client sends, the answer is never a 5xx."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eyetest.study.sample import create_sample_study
from eyetest.web.app import create_app

json_scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
json_values = st.recursive(json_scalars, lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(st.text(max_size=12), kids, max_size=4), max_leaves=12)
path_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def env(db_url, tmp_path):
    study = create_sample_study(db_url, tmp_path / "s", study="judgments_per_session = 30")
    app = create_app(db_url, admin_token="fuzz-admin-token-123", rate_per_address=(0, 0), rate_per_session=(0, 0))
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")

    def call(method, url, **kw):
        return loop.run_until_complete(client.request(method, url, **kw))

    token = call("POST", f"/api/v1/studies/{study}/sessions", json={"participant": "fuzzer"}).json()["session"]
    trial = call("GET", f"/api/v1/sessions/{token}/next").json()
    yield call, study, token, trial
    loop.run_until_complete(client.aclose())
    loop.close()
    app.state.engine.dispose()


def _ok(r):
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.headers.get("content-type", "").startswith("application/json"):
        assert "Traceback" not in r.text


@FUZZ
@given(body=json_values)
def test_fuzz_session_bodies(env, body):
    call, study, _, _ = env
    _ok(call("POST", f"/api/v1/studies/{study}/sessions", json=body))


@FUZZ
@given(answers=json_values, trial=json_values, client_id=json_values, elapsed=json_values, extra=st.booleans())
def test_fuzz_judgment_bodies(env, answers, trial, client_id, elapsed, extra):
    call, _, token, real = env
    body = {"trial": trial, "answers": answers, "client_id": client_id, "elapsed_ms": elapsed}
    if extra:                                        # sometimes a body that is right except for one field
        body = {"trial": real["trial"], "answers": answers, "client_id": uuid.uuid4().hex, "elapsed_ms": 10}
    r = call("POST", f"/api/v1/sessions/{token}/judgments", json=body)
    _ok(r)
    if r.status_code == 201:                         # only a valid answer can be stored
        assert body["answers"] in ({"overall": c} for c in ("A", "B", "tie"))
        env_next = call("GET", f"/api/v1/sessions/{token}/next")
        _ok(env_next)
        real.update(env_next.json() if env_next.status_code == 200 else {})


@FUZZ
@given(segment=path_text, fmt=path_text, raw=st.binary(max_size=300),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
       route=st.sampled_from(["/api/v1/sessions/{x}/next", "/api/v1/sessions/{x}/judgments", "/api/v1/sessions/{x}",
                              "/api/v1/studies/{x}/sessions", "/api/v1/studies/{x}/export?format={f}",
                              "/api/v1/admin/studies/{x}/leaderboard", "/img/{x}", "/{x}"]))
def test_fuzz_paths_and_raw_bodies(env, segment, fmt, raw, method, route):
    call, _, _, _ = env
    url = route.format(x=quote(segment, safe="/.%") or "x", f=quote(fmt, safe=""))
    try:
        r = call(method, url, content=raw, headers={"content-type": "application/json",
                                                    "authorization": "Bearer " + fmt.encode("ascii", "ignore").decode()})
    except httpx.InvalidURL:
        return
    _ok(r)
