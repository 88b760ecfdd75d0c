"""The per-judgment fast path: HotRoutes (both databases) and PostgreSQL's event-loop connections."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
import sqlalchemy as sa

from eyetest.store import schema
from eyetest.study.sample import create_sample_study
from eyetest.web.app import create_app


def _app(db_url, tmp_path, per_session=4):
    study = create_sample_study(db_url, tmp_path / "s", study=f"judgments_per_session = {per_session}")
    app = create_app(db_url, admin_token="hot-admin-token-123", rate_per_address=(0, 0), rate_per_session=(0, 0))
    return app, study


def _client(app):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def _count(app, table):
    with app.state.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def test_hot_routes_answer_as_the_fastapi_routes_do(db_url, tmp_path):
    app, study = _app(db_url, tmp_path)

    async def run():
        async with _client(app) as c:
            token = (await c.post(f"/api/v1/studies/{study}/sessions", json={"participant": "p"})).json()["session"]
            r = await c.get(f"/api/v1/sessions/{token}/next")
            assert r.status_code == 200 and r.headers["content-type"] == "application/json"
            assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"   # Guard
            trial = r.json()
            url = f"/api/v1/sessions/{token}/judgments"
            body = {"trial": trial["trial"], "answers": {"overall": "A"}, "client_id": uuid.uuid4().hex}
            # a body that does not validate goes on to FastAPI: its usual 422 with the problems listed
            bad = await c.post(url, json={**body, "trial": "1"})
            assert bad.status_code == 422 and bad.json()["problems"][0]["where"] == "body.trial"
            assert (await c.post(url, content=b"{not json", headers={"content-type": "application/json"})
                    ).status_code == 422
            # another content type: FastAPI decides (it does not parse the body as JSON)
            assert (await c.post(url, content=httpx.Request("POST", "/", json=body).content,
                                 headers={"content-type": "text/plain"})).status_code == 422
            assert _count(app, schema.judgments) == 0
            # service errors: the same {"error"} bodies as the exception handlers
            r = await c.post(url, json={**body, "answers": {"overall": "Z"}})
            assert r.status_code == 422 and set(r.json()) == {"error"}
            r = await c.post("/api/v1/sessions/nosuch/judgments", json=body)
            assert r.status_code == 404 and r.json() == {"error": "no such trial in this session"}
            r = await c.get("/api/v1/sessions/nosuch/next")
            assert r.status_code == 404 and r.json() == {"error": "no such session"}
            # a path the fast path does not take (too long a token) still gets FastAPI's validation
            assert (await c.get(f"/api/v1/sessions/{'x' * 65}/next")).status_code == 422
            assert (await c.put(url, json=body)).status_code == 405
            first = await c.post(url, json=body)
            assert first.status_code == 201 and first.json()["stored"] is True
            assert first.headers["content-length"] == str(len(first.content))
            replay = await c.post(url, json=body)
            assert replay.status_code == 200 and replay.json()["stored"] is True
            while (r := await c.get(f"/api/v1/sessions/{token}/next")).status_code == 200:
                t = r.json()
                assert (await c.post(url, json={"trial": t["trial"], "answers": {"overall": "B"},
                                                "client_id": uuid.uuid4().hex})).status_code == 201
            assert r.status_code == 204 and r.content == b"" and "content-type" not in r.headers
            info = (await c.get(f"/api/v1/sessions/{token}")).json()
            return info

    info = asyncio.run(run())
    assert info["finished"] and info["answered"] == info["trial_count"] == _count(app, schema.judgments)
    app.state.engine.dispose()


@pytest.mark.postgres
def test_pg_event_loop_connections_queue_retry_and_survive_cancellation(pg_url, tmp_path):
    app, study = _app(pg_url, tmp_path, per_session=12)
    pg = app.state.pg
    pg.size = 2                                       # fewer connections than concurrent requests
    pg.sql = {**pg.sql, "sleep": "SELECT pg_sleep(5)"}

    async def run():
        async with _client(app) as c:
            tokens = [(await c.post(f"/api/v1/studies/{study}/sessions", json={"participant": f"p{k}"})
                       ).json()["session"] for k in range(6)]
            trials = await asyncio.gather(*[c.get(f"/api/v1/sessions/{t}/next") for t in tokens * 3])
            assert {r.status_code for r in trials} == {200} and pg._open <= 2
            # 6 sessions x 8 concurrent submissions of one answer (same client_id): one 201 each
            bodies = [(t, {"trial": r.json()["trial"], "answers": {"overall": "A"}, "client_id": uuid.uuid4().hex})
                      for t, r in zip(tokens, trials)]
            got = await asyncio.gather(*[c.post(f"/api/v1/sessions/{t}/judgments", json=b)
                                         for t, b in bodies for _ in range(8)])
            assert sorted(r.status_code for r in got) == [200] * 42 + [201] * 6
            # a request cancelled while its statement runs: that connection is closed, not reused
            started = asyncio.Event()
            slow = asyncio.ensure_future(pg._run(lambda: _sleep_steps(started)))
            await started.wait()          # the statement is handed to the driver right after this
            await asyncio.sleep(0)
            slow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await slow
            assert all(not conn.closed for conn in pg._idle) and pg._open <= 2
            return (await c.get(f"/api/v1/sessions/{tokens[0]}/next")).status_code

    assert asyncio.run(run()) == 200
    assert _count(app, schema.judgments) == 6
    # a new event loop (connections of the old one are dropped, new ones opened)
    token = _first_token(app)

    async def again():
        async with _client(app) as c:
            return (await c.get(f"/api/v1/sessions/{token}/next")).status_code

    assert asyncio.run(again()) == 200
    app.state.engine.dispose()
    assert pg._idle == []


@pytest.mark.postgres
def test_pg_simultaneous_last_answers_finish_the_session_exactly_once(pg_url, tmp_path):
    """The event-loop path: two last answers whose stores overlap; one finishes the session.

    An outside transaction holds both trials' rows until both stores wait (pg_stat_activity), so each
    store has started before the other commits.  Before the fix neither saw the other's answer and
    ``finished_at`` stayed NULL, with both receipts saying ``finished: false``."""
    import psycopg

    app, study = _app(pg_url, tmp_path, per_session=4)
    pg, svc = app.state.pg, app.state.service
    token = svc.start_session(study, "p")[0]["session"]
    t = schema.trials.c
    with app.state.engine.connect() as conn:
        trials = conn.execute(sa.select(t.id).where(t.session_token == token).order_by(t.position)).scalars().all()
    for tid in trials[:-2]:
        svc.record_judgment(token, trial=tid, answers={"overall": "A"}, client_id=uuid.uuid4().hex)

    def answer(tid):
        return pg.record_judgment(token, trial=tid, answers={"overall": "B"}, client_id=uuid.uuid4().hex)

    async def run():
        with psycopg.connect(pg.url) as held:
            held.execute("SELECT 1 FROM trials WHERE id = ANY(%s) FOR UPDATE", (trials[-2:],))
            both = asyncio.gather(*(answer(tid) for tid in trials[-2:]))
            async with await psycopg.AsyncConnection.connect(pg.url, autocommit=True) as watch:
                for _ in range(2000):
                    cur = await watch.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                              "current_database() AND wait_event_type = 'Lock'")
                    if (await cur.fetchone())[0] >= 2 or both.done():
                        break
                    await asyncio.sleep(0.01)
            held.commit()
            return await both

    receipts = asyncio.run(run())
    assert sorted(r["finished"] for r, created in receipts) == [False, True]
    with app.state.engine.connect() as conn:
        s = schema.sessions.c
        assert conn.execute(sa.select(s.finished_at).where(s.token == token)).scalar() is not None
    app.state.engine.dispose()


def _sleep_steps(started: asyncio.Event):
    started.set()
    yield "sleep", ()


def _first_token(app):
    with app.state.engine.connect() as conn:
        return conn.execute(sa.select(schema.sessions.c.token).limit(1)).scalar()


def test_server_freezes_its_startup_heap():
    """Full collections skip what the server built at startup (the long GC pauses of issue 5)."""
    import gc

    from eyetest.web.app import freeze_startup_heap

    thresholds = gc.get_threshold()
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > 10_000 and gc.get_threshold()[0] > thresholds[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
