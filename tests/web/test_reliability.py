"""Reliability: SIGKILL under load loses no acknowledged judgment; busy SQLite and dropped
PostgreSQL connections are survived."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa

from eyetest.store import schema
from eyetest.store.engine import make_engine
from eyetest.study.sample import create_sample_study
from eyetest.web.app import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "EYETEST_ADMIN_TOKEN": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "eyetest", "serve", "--db", db, "--port", str(port), "--insecure-local",
         "--rate-limits", "0,0,0,0"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start within 30 s")


@pytest.mark.slow
def test_sigkill_under_load_loses_no_acknowledged_judgment(db_url, tmp_path):
    study = create_sample_study(db_url, tmp_path / "s", dataset_kwargs={"images": 4},
                                study="judgments_per_session = 40")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(db_url, port)
    acked: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()
    enough = threading.Event()                                    # 120 acknowledged: time to kill

    def rater(k: int) -> None:
        with httpx.Client(base_url=base, timeout=10) as c:
            try:
                token = c.post(f"/api/v1/studies/{study}/sessions", json={"participant": f"r{k}"}).json()["session"]
                while not stop.is_set():
                    r = c.get(f"/api/v1/sessions/{token}/next")
                    if r.status_code != 200:
                        return
                    trial = r.json()
                    cid = uuid.uuid4().hex
                    r = c.post(f"/api/v1/sessions/{token}/judgments",
                               json={"trial": trial["trial"], "answers": {"overall": "A"}, "client_id": cid})
                    if r.status_code in (200, 201):
                        with lock:
                            acked.add(cid)
                            if len(acked) >= 120:
                                enough.set()
            except (httpx.HTTPError, ValueError, KeyError):
                return                                            # the server was killed mid-request

    threads = [threading.Thread(target=rater, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    enough.wait(30)
    os.kill(proc.pid, signal.SIGKILL)                             # mid-load, requests in flight
    proc.wait(10)
    stop.set()
    for t in threads:
        t.join(15)
    assert len(acked) >= 50, "too few judgments were acknowledged before the kill"

    proc = start_server(db_url, port)
    try:
        r = httpx.get(f"{base}/api/v1/studies/{study}/export?format=jsonl", timeout=30)
        stored = {line.split('"client_id":"', 1)[1].split('"', 1)[0] for line in r.text.splitlines()}
        assert acked <= stored, f"{len(acked - stored)} acknowledged judgments were lost"
        engine = make_engine(db_url)
        with engine.connect() as conn:                            # every judgment answers exactly its trial
            j, t = schema.judgments.c, schema.trials.c
            answered = conn.execute(sa.select(sa.func.count()).where(t.answered.is_(True))).scalar()
            assert answered == conn.execute(sa.select(sa.func.count()).select_from(schema.judgments)).scalar()
            orphans = conn.execute(sa.select(sa.func.count()).select_from(
                schema.judgments.join(schema.trials, t.id == j.trial_id)).where(t.answered.is_(False))).scalar()
            assert orphans == 0
        engine.dispose()
        # the server still works after the restart: a rater resumes where they were
        with httpx.Client(base_url=base, timeout=10) as c:
            token = c.post(f"/api/v1/studies/{study}/sessions", json={"participant": "r0"})
            assert token.status_code == 200
            assert c.get(f"/api/v1/sessions/{token.json()['session']}/next").status_code in (200, 204)
    finally:
        proc.kill()
        proc.wait(10)


def _client(app):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def test_busy_sqlite_is_waited_for(tmp_path):
    db = str(tmp_path / "busy.sqlite")
    study = create_sample_study(db, tmp_path / "s", study="judgments_per_session = 4")
    app = create_app(db, admin_token="x" * 20, rate_per_address=(0, 0), rate_per_session=(0, 0))

    async def run():
        async with _client(app) as c:
            token = (await c.post(f"/api/v1/studies/{study}/sessions", json={"participant": "p"})).json()["session"]
            trial = (await c.get(f"/api/v1/sessions/{token}/next")).json()
            blocker = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
            blocker.execute("BEGIN IMMEDIATE")                    # another writer holds the lock
            threading.Timer(0.6, blocker.rollback).start()
            t0 = time.monotonic()
            r = await c.post(f"/api/v1/sessions/{token}/judgments",
                             json={"trial": trial["trial"], "answers": {"overall": "B"}, "client_id": uuid.uuid4().hex})
            return r.status_code, time.monotonic() - t0

    status, waited = asyncio.run(run())
    assert status == 201 and waited >= 0.5
    app.state.engine.dispose()


@pytest.mark.postgres
def test_dropped_postgres_connections_are_survived(pg_url, tmp_path):
    import psycopg

    study = create_sample_study(pg_url, tmp_path / "s", study="judgments_per_session = 4")
    app = create_app(pg_url, admin_token="x" * 20, rate_per_address=(0, 0), rate_per_session=(0, 0))
    name = pg_url.rsplit("/", 1)[1]

    async def run():
        async with _client(app) as c:
            token = (await c.post(f"/api/v1/studies/{study}/sessions", json={"participant": "p"})).json()["session"]
            assert (await c.get(f"/api/v1/sessions/{token}/next")).status_code == 200
            # a server restart, as the pool sees it: every connection to the database is cut
            with psycopg.connect(pg_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
                killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchone()[0]
            assert killed >= 1
            trial = (await c.get(f"/api/v1/sessions/{token}/next"))
            assert trial.status_code == 200
            r = await c.post(f"/api/v1/sessions/{token}/judgments",
                             json={"trial": trial.json()["trial"], "answers": {"overall": "A"},
                                   "client_id": uuid.uuid4().hex})
            return r.status_code

    assert asyncio.run(run()) == 201
    app.state.engine.dispose()
