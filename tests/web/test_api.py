"""The rater API through httpx's ASGI transport, on a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid

import httpx
import numpy as np
import pytest
import sqlalchemy as sa

from eyetest.store import schema
from eyetest.study.sample import create_sample_study
from eyetest.web.app import create_app

ADMIN = {"Authorization": "Bearer test-admin-token"}


class Client:
    """A synchronous face over ``httpx.AsyncClient(transport=ASGITransport(app))``."""

    def __init__(self, app, address="10.1.2.3"):
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 5555)),
                                      base_url="http://testserver")

    def __getattr__(self, method):
        async_method = getattr(self.http, method)
        return lambda *a, **kw: self.loop.run_until_complete(async_method(*a, **kw))

    def gather(self, *coros):
        async def run():
            return await asyncio.gather(*coros)

        return self.loop.run_until_complete(run())

    def close(self):
        self.loop.run_until_complete(self.http.aclose())
        self.loop.close()
        self.app.state.engine.dispose()


def make_client(db_url, tmp_path, **spec):
    study = create_sample_study(db_url, tmp_path / "study", **spec)
    app = create_app(db_url, admin_token="test-admin-token", rate_per_address=(0, 0), rate_per_session=(0, 0))
    return Client(app), study


@pytest.fixture
def api(db_url, tmp_path):
    client, study = make_client(db_url, tmp_path, study="judgments_per_session = 12",
                                quality="gold_fraction = 0.1\nrepeat_fraction = 0.1\nrepeat_min_gap = 2")
    client.study = study
    yield client
    client.close()


def _judge(api, token, trial, answer="A", client_id=None):
    return api.post(f"/api/v1/sessions/{token}/judgments",
                    json={"trial": trial["trial"], "answers": {q["dimension"]: answer for q in trial["questions"]},
                          "client_id": client_id or str(uuid.uuid4()), "elapsed_ms": 1800})


def _count(api, table):
    with api.app.state.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def test_full_session_resume_replay_and_export(api):
    r = api.post(f"/api/v1/studies/{api.study}/sessions", json={"participant": "p-1", "meta": {"src": "link"}})
    assert r.status_code == 201
    token, total = r.json()["session"], r.json()["trial_count"]
    again = api.post(f"/api/v1/studies/{api.study}/sessions", json={"participant": "p-1"})
    assert again.status_code == 200 and again.json()["session"] == token
    seen, answered = set(), 0
    while True:
        r = api.get(f"/api/v1/sessions/{token}/next")
        if r.status_code == 204:
            break
        trial = r.json()
        assert api.get(f"/api/v1/sessions/{token}/next").json()["trial"] == trial["trial"]   # reload resumes
        assert trial["trial"] not in seen and trial["position"] == answered
        seen.add(trial["trial"])
        cid = str(uuid.uuid4())
        first = _judge(api, token, trial, client_id=cid)
        assert first.status_code == 201, first.text
        if trial["training"]:
            fb = first.json()["feedback"]
            assert fb["correct"] == (fb["expected"] == "A")
        replay = _judge(api, token, trial, client_id=cid)
        assert replay.status_code == 200 and replay.json()["stored"]
        answered += 1
    assert answered == total == _count(api, schema.judgments)
    info = api.get(f"/api/v1/sessions/{token}").json()
    assert info["finished"] and info["answered"] == total and info["completion_code"] == "DONE-1234"

    r = api.get(f"/api/v1/studies/{api.study}/export?format=jsonl", headers=ADMIN)
    assert r.status_code == 200
    records = [json.loads(line) for line in r.text.splitlines()]
    assert len(records) == total
    assert {rec["trial"] for rec in records} == seen
    rec = records[-1]
    for key in ("client_id", "session", "trial", "condition_a", "condition_b", "method_a", "token_a", "token_b",
                "answers", "elapsed_ms", "created_at", "position"):
        assert rec[key] is not None, key
    assert all(rec["session"] == token and rec["answers"] == {"overall": "A"} for rec in records)
    rows = list(csv.DictReader(io.StringIO(api.get(f"/api/v1/studies/{api.study}/export?format=csv",
                                                   headers=ADMIN).text)))
    assert [row["client_id"] for row in rows] == [rec["client_id"] for rec in records]
    assert all(row["answer_overall"] == "A" for row in rows)
    # left/right as shown is recorded server side: the token of slot A is the stimulus of condition_a
    with api.app.state.engine.connect() as conn:
        tok = dict(conn.execute(sa.select(schema.stimuli.c.token, schema.stimuli.c.method)).all())
    assert all(tok[r["token_a"]] == r["method_a"] and tok[r["token_b"]] == r["method_b"] for r in records)


def test_quality_trials_are_flagged_and_consistent(api):
    token = api.post(f"/api/v1/studies/{api.study}/sessions", json={"participant": "q"}).json()["session"]
    with api.app.state.engine.connect() as conn:
        rows = conn.execute(sa.select(schema.trials).where(schema.trials.c.session_token == token)
                            .order_by(schema.trials.c.position)).mappings().all()
    training = [r for r in rows if r["is_training"]]
    assert len(training) == 2 and [r["position"] for r in training] == [0, 1]
    for r in rows:
        if r["is_gold"]:
            better = r["condition_a"] if r["payload"]["expected"] == "A" else r["condition_b"]
            assert better.endswith("::__reference")
        if r["is_repeat"]:
            orig = rows[r["payload"]["repeat_of"]]
            assert (r["condition_a"], r["condition_b"]) == (orig["condition_b"], orig["condition_a"])
            assert r["position"] - orig["position"] > 2
    regular = [frozenset((r["condition_a"], r["condition_b"])) for r in rows
               if not (r["is_gold"] or r["is_repeat"] or r["is_training"] or r["is_attention"])]
    assert len(regular) == len(set(regular))          # a rater never gets the same pair twice
    assert all(c.split("::")[0] == d.split("::")[0] for c, d in map(tuple, regular))   # blocks = image


def test_validation_and_ownership(api):
    a = api.post(f"/api/v1/studies/{api.study}/sessions", json={"participant": "a"}).json()["session"]
    b = api.post(f"/api/v1/studies/{api.study}/sessions", json={"participant": "b"}).json()["session"]
    ta = api.get(f"/api/v1/sessions/{a}/next").json()
    tb = api.get(f"/api/v1/sessions/{b}/next").json()
    url = f"/api/v1/sessions/{a}/judgments"
    base = {"trial": ta["trial"], "client_id": str(uuid.uuid4()), "elapsed_ms": 10}
    assert api.post(url, json={**base, "answers": {"overall": "C"}}).status_code == 422
    assert api.post(url, json={**base, "answers": {}}).status_code == 422
    assert api.post(url, json={**base, "answers": {"overall": "A", "extra": "B"}}).status_code == 422
    assert api.post(url, json={**base, "answers": {"overall": 1}}).status_code == 422
    assert api.post(url, json={**base, "answers": {"overall": "A"}, "elapsed_ms": -5}).status_code == 422
    assert api.post(url, json={**base, "trial": "1", "answers": {"overall": "A"}}).status_code == 422
    # another session's trial: not found, and nothing stored
    assert api.post(url, json={**base, "trial": tb["trial"], "answers": {"overall": "A"}}).status_code == 404
    assert _judge(api, "nosuchsession", ta).status_code == 404
    assert _count(api, schema.judgments) == 0
    ok = _judge(api, a, ta)
    assert ok.status_code == 201
    # the same client_id for another trial, and a second answer to the same trial
    assert _judge(api, b, tb, client_id=ok.json()["client_id"]).status_code == 409
    assert _judge(api, a, ta).status_code == 409
    assert _count(api, schema.judgments) == 1
    assert api.get("/api/v1/sessions/nosuchsession/next").status_code == 404
    assert api.post("/api/v1/studies/nosuchstudy/sessions", json={"participant": "x"}).status_code == 404
    assert api.post(f"/api/v1/studies/{api.study}/sessions", json={"participant": ""}).status_code == 422


def test_concurrent_requests_store_each_judgment_once(api):
    async def start(p):
        return await api.http.post(f"/api/v1/studies/{api.study}/sessions", json={"participant": p})

    got = api.gather(*[start("same") for _ in range(6)], *[start(f"p{k}") for k in range(10)])
    same = {r.json()["session"] for r in got[:6]}
    assert len(same) == 1 and sorted(r.status_code for r in got[:6]).count(201) == 1
    assert _count(api, schema.sessions) == 11
    with api.app.state.engine.connect() as conn:
        per_session = conn.execute(sa.select(schema.sessions.c.token, schema.sessions.c.trial_count)).all()
        n_trials = conn.execute(sa.select(sa.func.count()).select_from(schema.trials)).scalar()
    assert n_trials == sum(n for _, n in per_session)

    token = next(iter(same))
    trial = api.get(f"/api/v1/sessions/{token}/next").json()
    cid = str(uuid.uuid4())
    body = {"trial": trial["trial"], "answers": {"overall": "B"}, "client_id": cid, "elapsed_ms": 5}

    async def submit(b):
        return await api.http.post(f"/api/v1/sessions/{token}/judgments", json=b)

    codes = sorted(r.status_code for r in api.gather(*[submit(body) for _ in range(8)]))
    assert codes == [200] * 7 + [201]
    others = [{**body, "client_id": str(uuid.uuid4())} for _ in range(5)]
    assert {r.status_code for r in api.gather(*[submit(b) for b in others])} == {409}
    assert _count(api, schema.judgments) == 1


def test_pause_close_and_admin(api):
    token = api.post(f"/api/v1/studies/{api.study}/sessions", json={"participant": "x"}).json()["session"]
    trial = api.get(f"/api/v1/sessions/{token}/next").json()
    assert api.post(f"/api/v1/admin/studies/{api.study}/pause").status_code == 401
    assert api.post(f"/api/v1/admin/studies/{api.study}/pause", headers=ADMIN).json()["status"] == "paused"
    assert api.post(f"/api/v1/studies/{api.study}/sessions", json={"participant": "y"}).status_code == 409
    assert api.get(f"/api/v1/sessions/{token}/next").status_code == 409
    assert _judge(api, token, trial).status_code == 201          # work in hand is not lost
    assert api.post(f"/api/v1/admin/studies/{api.study}/resume", headers=ADMIN).json()["status"] == "open"
    trial = api.get(f"/api/v1/sessions/{token}/next").json()
    assert api.post(f"/api/v1/admin/studies/{api.study}/close", headers=ADMIN).status_code == 200
    assert _judge(api, token, trial).status_code == 409
    assert api.post(f"/api/v1/admin/studies/{api.study}/resume", headers=ADMIN).status_code == 409
    studies = api.get("/api/v1/admin/studies", headers=ADMIN).json()["studies"]
    assert [(s["study"], s["status"], s["sessions"], s["judgments"]) for s in studies] == [
        (api.study, "closed", 1, 1)]
    prog = api.get(f"/api/v1/admin/studies/{api.study}", headers=ADMIN).json()
    assert prog["judgments"] == 1 and prog["sessions"] == 1


def test_rating_study(db_url, tmp_path):
    client, study = make_client(db_url, tmp_path, protocol="rating", context="gt",
                                study='scale = "acr5"\njudgments_per_session = 5',
                                dimensions=("overall", "sharpness"))
    try:
        tokens = [client.post(f"/api/v1/studies/{study}/sessions", json={"participant": f"r{k}"}).json()["session"]
                  for k in range(3)]
        shown = []
        for token in tokens:
            while (r := client.get(f"/api/v1/sessions/{token}/next")).status_code == 200:
                trial = r.json()
                assert trial["kind"] == "rating" and [s["slot"] for s in trial["stimuli"]] == ["X"]
                assert trial["context"]["slot"] == "GT"
                q = trial["questions"][0]
                assert q["choices"] == [1, 2, 3, 4, 5] and len(q["labels"]) == 5
                bad = {"trial": trial["trial"], "client_id": str(uuid.uuid4()),
                       "answers": {"overall": 6, "sharpness": 3}}
                assert client.post(f"/api/v1/sessions/{token}/judgments", json=bad).status_code == 422
                ok = {**bad, "answers": {"overall": 4, "sharpness": 2}}
                assert client.post(f"/api/v1/sessions/{token}/judgments", json=ok).status_code == 201
        records = [json.loads(x) for x in client.get(f"/api/v1/studies/{study}/export", headers=ADMIN).text.split()]
        shown = [r["condition_a"] for r in records]
        assert len(records) == 15 and all(r["answers"] == {"overall": 4, "sharpness": 2} for r in records)
        # 9 stimuli, 15 ratings: the least-shown stimuli are assigned first, so counts differ by at most 1
        counts = np.unique(shown, return_counts=True)[1]
        assert len(counts) == 9 and counts.max() - counts.min() <= 1
    finally:
        client.close()


def test_openapi_lists_the_rater_api(api):
    spec = api.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths["/api/v1/studies/{study}/sessions"]) == {"post"}
    assert "get" in paths["/api/v1/sessions/{token}/next"]
    assert "post" in paths["/api/v1/sessions/{token}/judgments"]
    assert "get" in paths["/api/v1/studies/{study}/export"]
    body = spec["components"]["schemas"]["JudgmentIn"]
    assert set(body["required"]) == {"trial", "answers", "client_id"}


def test_admin_leaderboard_and_rater_table(api):
    """Raters who prefer alpha > beta > gamma 85 % of the time: the live leaderboard ranks them so."""
    rng = np.random.default_rng(3)
    rank_of = {"alpha": 0, "beta": 1, "gamma": 2}
    for p in range(6):
        token = api.post(f"/api/v1/studies/{api.study}/sessions", json={"participant": f"w{p}"}).json()["session"]
        with api.app.state.engine.connect() as conn:
            conds = dict(conn.execute(sa.select(schema.trials.c.id, schema.trials.c.condition_a)
                                      .where(schema.trials.c.session_token == token)).all())
            conds_b = dict(conn.execute(sa.select(schema.trials.c.id, schema.trials.c.condition_b)
                                        .where(schema.trials.c.session_token == token)).all())
        while (r := api.get(f"/api/v1/sessions/{token}/next")).status_code == 200:
            trial = r.json()
            ma, mb = conds[trial["trial"]].split("::")[1], conds_b[trial["trial"]].split("::")[1]
            if ma in rank_of and mb in rank_of:
                better = "A" if rank_of[ma] < rank_of[mb] else "B"
                answer = better if rng.random() < 0.85 else ("A" if better == "B" else "B")
            else:                                               # gold: the reference is better
                answer = "A" if ma == "__reference" else "B"
            assert _judge(api, token, trial, answer=answer).status_code == 201
    board = api.get(f"/api/v1/admin/studies/{api.study}/leaderboard", headers=ADMIN).json()
    assert board["model"] == "davidson" and board["unit"] == "method"
    overall = sorted(board["overall"], key=lambda row: -row["score"])
    assert [row["condition"] for row in overall] == ["alpha", "beta", "gamma"]
    for row in overall:
        assert row["ci_low"] <= row["score"] <= row["ci_high"]
    scen = {row["scenario"] for row in board["by_scenario"]}
    assert scen == {"text", "food", "architecture"}             # the sample's scenario tags
    raters = api.get(f"/api/v1/admin/studies/{api.study}/raters", headers=ADMIN).json()["raters"]
    assert sorted(r["participant"] for r in raters) == [f"w{p}" for p in range(6)]
    assert all(r["gold_accuracy"] == 1.0 for r in raters)


def test_answers_in_any_order_finish_the_session(api):
    """A custom client may answer the trials in any order: the session still finishes, /done does not loop."""
    token = api.post(f"/api/v1/studies/{api.study}/sessions", json={"participant": "rev"}).json()["session"]
    t = schema.trials.c
    with api.app.state.engine.connect() as conn:
        ids = conn.execute(sa.select(t.id).where(t.session_token == token).order_by(t.position.desc())).scalars().all()
    finished = []
    for tid in ids:
        r = _judge(api, token, {"trial": tid, "questions": [{"dimension": "overall"}]})
        assert r.status_code == 201, r.text
        finished.append(r.json()["finished"])
    assert finished == [False] * (len(ids) - 1) + [True]
    info = api.get(f"/api/v1/sessions/{token}").json()
    assert info["finished"] and info["answered"] == len(ids) and info["completion_code"] == "DONE-1234"
    assert api.get(f"/api/v1/sessions/{token}/next").status_code == 204
    assert api.get(f"/s/{token}/done").status_code == 200
    assert api.get(f"/s/{token}").headers["location"] == f"/s/{token}/done"


def test_rater_table_reasons_are_lists(api):
    for p in range(2):
        token = api.post(f"/api/v1/studies/{api.study}/sessions", json={"participant": f"r{p}"}).json()["session"]
        while (r := api.get(f"/api/v1/sessions/{token}/next")).status_code == 200:
            assert _judge(api, token, r.json(), answer="A").status_code == 201
    raters = api.get(f"/api/v1/admin/studies/{api.study}/raters", headers=ADMIN).json()["raters"]
    assert len(raters) == 2
    for row in raters:
        assert isinstance(row["reasons"], list) and all(row["reasons"])
        assert bool(row["reasons"]) == row["excluded"] and not any("; " in x for x in row["reasons"])


def test_server_refuses_a_database_it_cannot_write(pg_url, tmp_path):
    """Found at startup with the database's name, not as 503s on every judgment later."""
    import psycopg

    from eyetest.store.engine import StoreError

    create_sample_study(pg_url, tmp_path / "study")
    name = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    with pytest.raises(StoreError, match="not writable") as err:
        create_app(pg_url, admin_token="test-admin-token")
    assert name in str(err.value)
