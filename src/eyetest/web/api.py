"""The rater API under ``/api/v1`` (DESIGN.md, "Rater HTTP API").

=======  =====================================  ==============================================
POST     /studies/{study}/sessions              ``{"participant", "meta"}`` -> 201 new, 200 resumed:
                                                ``{"session", "trial_count", "study"}``
GET      /studies/{study}                       public study info (no method names)
GET      /sessions/{token}                      progress; completion code once finished
GET      /sessions/{token}/next                 200 trial | 204 finished
POST     /sessions/{token}/judgments            ``{"trial", "answers", "client_id", "elapsed_ms"}``
                                                -> 201 stored | 200 replay of the same client_id
GET      /studies/{study}/export?format=        csv | jsonl, admin bearer token
=======  =====================================  ==============================================

A trial is ``{"trial", "kind", "stimuli": [{"slot", "url"}], "questions":
[{"dimension", "prompt", "choices", ...}], "context"?, "training",
"position", "trial_count", "preload"}``.  Errors are ``{"error": message}``.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool

from eyetest.study import export
from eyetest.study.service import Invalid, StudyService
from eyetest.study.spec import MAX_DIMENSION_NAME, MAX_DIMENSIONS

router = APIRouter()

Token = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
StudyId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
MetaValue = StrictStr | StrictInt | StrictFloat | bool | None


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    participant: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
    meta: Annotated[dict[Annotated[str, Field(max_length=64)], MetaValue], Field(max_length=32)] = {}


class SessionOut(BaseModel):
    session: str
    trial_count: int
    study: str


class JudgmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trial: StrictInt
    # the spec's limits on dimensions (eyetest.study.spec), so every valid study can be answered
    answers: Annotated[dict[Annotated[str, Field(max_length=MAX_DIMENSION_NAME)],
                            StrictStr | StrictInt | StrictFloat], Field(max_length=MAX_DIMENSIONS)]
    client_id: Annotated[str, Field(min_length=8, max_length=64)]
    elapsed_ms: StrictInt | None = None


class JudgmentOut(BaseModel):
    trial: int
    client_id: str
    stored: bool
    finished: bool | None = None
    feedback: dict | None = None


def _json(content, status: int) -> Response:
    """An orjson response without FastAPI's generic encoder pass (the hot endpoints)."""
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def _service(request: Request) -> StudyService:
    return request.app.state.service


async def _in_pool(request: Request, fn, *args, **kwargs):
    """Run ``fn`` in the app's small database thread pool (PostgreSQL; see ``create_app``)."""
    pool = getattr(request.app.state, "db_pool", None)
    if pool is None:
        return await run_in_threadpool(fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(fn, *args, **kwargs))


async def _read(request: Request, fn, *args, **kwargs):
    """Run a read: inline on SQLite (a WAL snapshot read never waits), in a thread on PostgreSQL."""
    if _service(request).sqlite:
        return fn(*args, **kwargs)
    return await _in_pool(request, fn, *args, **kwargs)


@router.post("/studies/{study}/sessions", status_code=201,
             responses={201: {"model": SessionOut, "description": "a new session"},
                        200: {"model": SessionOut, "description": "the participant's existing session (resumed)"}})
async def start_session(study: StudyId, body: SessionIn, request: Request):
    meta = {k: v for k, v in body.meta.items() if not (isinstance(v, str) and len(v) > 500)}
    service = _service(request)
    out = await _read(request, service.find_session, study, body.participant)
    created = False
    if out is None:
        # group-committed: on SQLite together with the judgments (one fsync per batch); on PostgreSQL
        # the session starts waiting for the study lock are planned in one transaction by their own
        # thread, so they never hold up next/judgments
        commit = request.app.state.group_commit if service.sqlite else request.app.state.session_commit
        out, created = await commit.submit(op="session", study=study, participant=body.participant, meta=meta)
    return _json(out, 201 if created else 200)


@router.get("/studies/{study}")
async def study_info(study: StudyId, request: Request):
    spec = await _read(request, _service(request).study_spec, study)
    plan = spec["plan"]
    return {
        "study": study, "name": plan["name"], "description": plan["description"], "protocol": plan["protocol"],
        "scale": plan["scale"], "context": plan["context"], "judgments_per_session": plan["judgments_per_session"],
        "dimensions": plan["dimensions"], "platform": plan["crowd"]["platform"],
        "min_ms_per_trial": plan["quality"]["min_ms_per_trial"], "training_trials": spec.get("training_trials", 0),
    }


@router.get("/sessions/{token}")
async def session_info(token: Token, request: Request):
    return await _read(request, _service(request).session_info, token)


async def next_trial_of(state, token: str) -> dict | None:
    """The session's current trial (``next``); shared with :mod:`eyetest.web.hotroutes`.

    SQLite: inline (a WAL snapshot read never waits); PostgreSQL: on the
    event loop (:mod:`eyetest.web.pgasync`).
    """
    if state.pg is not None:
        return await state.pg.next_trial(token)
    return state.service.next_trial(token)


async def store_judgment(state, token: str, body: JudgmentIn) -> tuple[dict, bool]:
    """``(receipt, created)`` once committed; shared with :mod:`eyetest.web.hotroutes`.

    SQLite: group-committed by the writer thread; PostgreSQL: two statements
    on the event loop (:mod:`eyetest.web.pgasync`).
    """
    kwargs = dict(token=token, trial=body.trial, answers=body.answers, client_id=body.client_id,
                  elapsed_ms=body.elapsed_ms)
    if state.pg is None:
        return await state.group_commit.submit(op="judgment", **kwargs)
    return await state.pg.record_judgment(**kwargs)


@router.get("/sessions/{token}/next", responses={204: {"description": "the session is finished"},
                                                 410: {"description": "the session expired (no answer for "
                                                                      "crowd.session_timeout_min)"}})
async def next_trial(token: Token, request: Request):
    trial = await next_trial_of(request.app.state, token)
    if trial is None:
        return Response(status_code=204)
    return _json(trial, 200)


@router.post("/sessions/{token}/judgments", status_code=201,
             responses={201: {"model": JudgmentOut, "description": "stored (committed)"},
                        200: {"model": JudgmentOut,
                              "description": "replay of an already stored client_id: nothing new stored"},
                        410: {"description": "the session expired: nothing stored"}})
async def record_judgment(token: Token, body: JudgmentIn, request: Request):
    receipt, created = await store_judgment(request.app.state, token, body)
    return _json(receipt, 201 if created else 200)


@router.get("/studies/{study}/export", responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}})
def export_judgments(study: StudyId, request: Request,
                     format: Literal["csv", "jsonl"] = Query("jsonl")):  # noqa: A002 - the API's name
    from eyetest.web.app import check_admin

    check_admin(request)
    service = _service(request)
    spec = service.study_spec(study)
    dims = [d["name"] for d in spec["plan"]["dimensions"]]
    if format not in ("csv", "jsonl"):
        raise Invalid("format must be csv or jsonl")

    def records():
        with service.reader.connect() as conn:
            yield from export.iter_records(conn, study)

    if format == "csv":
        return StreamingResponse(export.to_csv(records(), dims), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{study}.csv"'})
    return StreamingResponse(export.to_jsonl(records()), media_type="application/x-ndjson",
                             headers={"Content-Disposition": f'attachment; filename="{study}.jsonl"'})
