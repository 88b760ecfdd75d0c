"""HTML pages of the study server: the rater flow and the admin page.

Routes (all ``GET``; the pages talk to the JSON API under ``/api/v1``):

``/study/{study}``
    The study link.  Reads the participant from the crowd platform's query
    parameters -- Prolific ``PROLIFIC_PID``/``STUDY_ID``/``SESSION_ID``;
    MTurk ``workerId``/``assignmentId``/``hitId``/``turkSubmitTo`` (with the
    HIT preview when ``assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE``); a plain
    link ``?participant=`` or ``?code=`` (no id: an anonymous id made and
    kept by the browser) -- and shows consent and instructions.  Agreeing
    starts the session (``POST /api/v1/studies/{study}/sessions``, idempotent
    per participant) and opens the trial page.
``/s/{token}``
    The rater page (``static/viewer.js``, ``static/rater.js``): training
    trials with feedback, then the trials, resumable after a reload.
``/s/{token}/done``
    Completion: the code, the Prolific redirect or the MTurk
    ``externalSubmit`` form.  Only once every trial of the session is answered.
``/admin``
    Admin page (progress, leaderboard with CIs, rater quality, pause/close);
    the admin token is typed once, kept in ``sessionStorage`` and sent as a
    bearer token to the admin JSON endpoints.  The page itself holds no data.
``/static/{name}``
    The page's CSS/JS (a fixed list of files, no path is ever joined from
    the request).

Pages hold no inline script or style, so a strict Content-Security-Policy
(``script-src 'self'``) applies; values reach the scripts through
``data-*`` attributes, escaped by Jinja's autoescaping.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
API = "/api/v1"
#: MTurk's value of ``assignmentId`` while a worker previews a HIT
MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
#: the only hosts an MTurk completion form may be posted to
MTURK_HOSTS = ("https://www.mturk.com", "https://workersandbox.mturk.com")
_PARTICIPANT = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_STUDY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

router = APIRouter(include_in_schema=False)


def _static_files() -> dict[str, tuple[bytes, str, str]]:
    """name -> (content, media type, short content hash) of every file in ``static/``."""
    out = {}
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file() and path.suffix in _MEDIA:
            data = path.read_bytes()
            out[path.name] = (data, _MEDIA[path.suffix], hashlib.sha256(data).hexdigest()[:12])
    return out


STATIC = _static_files()


def static_url(name: str) -> str:
    """URL of a static file with its content hash (so browsers never run a stale script)."""
    return f"/static/{name}?v={STATIC[name][2]}"


templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals["static_url"] = static_url


class ParticipantError(ValueError):
    """The study link does not carry what the study's platform needs."""


def participant_from_query(query, platform: str) -> dict:
    """Who is rating, from the study link's query parameters.

    Returns ``{"platform", "participant", "meta", "preview"}``: ``participant``
    is the platform's worker id (``None`` for a plain link without an id:
    the browser then makes an anonymous one), ``meta`` the platform's
    parameters as sent (stored with the session; the completion step reads
    ``assignmentId``/``turkSubmitTo`` from it) and ``preview`` is true for
    an MTurk HIT preview, which must not start a session.

    Raises :class:`ParticipantError` naming the missing or malformed
    parameter.
    """

    def get(name):
        value = query.get(name)
        if value is None or value == "":
            return None
        if not _PARTICIPANT.match(value):
            raise ParticipantError(f"the link parameter {name!r} is malformed (1-200 printable characters)")
        return value

    if platform == "prolific":
        pid = get("PROLIFIC_PID")
        if pid is None:
            raise ParticipantError("this study link must be opened from Prolific (PROLIFIC_PID is missing)")
        meta = {k: v for k in ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID") if (v := get(k)) is not None}
        return {"platform": "prolific", "participant": pid, "meta": meta, "preview": False}
    if platform == "mturk":
        assignment = get("assignmentId")
        if assignment is None:
            raise ParticipantError("this study link must be opened from Amazon Mechanical Turk "
                                   "(assignmentId is missing)")
        if assignment == MTURK_PREVIEW:
            return {"platform": "mturk", "participant": None, "meta": {}, "preview": True}
        worker = get("workerId")
        if worker is None:
            raise ParticipantError("workerId is missing from the MTurk link")
        submit_to = (get("turkSubmitTo") or "").rstrip("/")
        if submit_to and submit_to not in MTURK_HOSTS:
            raise ParticipantError(f"turkSubmitTo {urlsplit(submit_to).netloc or submit_to!r} is not an MTurk host")
        meta = {k: v for k in ("assignmentId", "workerId", "hitId") if (v := get(k)) is not None}
        if submit_to:
            meta["turkSubmitTo"] = submit_to
        return {"platform": "mturk", "participant": worker, "meta": meta, "preview": False}
    pid = get("participant") or get("code")
    return {"platform": "link", "participant": pid, "meta": {}, "preview": False}


def _service(request: Request):
    return request.app.state.service


def _page(request: Request, name: str, context: dict, status: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _message(request: Request, heading: str, message: str, status: int) -> HTMLResponse:
    return _page(request, "message.html", {"heading": heading, "message": message}, status)


def _status_of(exc) -> int:
    return int(getattr(exc, "status", 500))


CONTEXT_LABELS = {"lq": "Input (low quality)", "gt": "Reference (original)", "none": ""}
#: what a crowd worker whose study closed before they finished is told to do
CLOSED_ADVICE = {
    "prolific": "You came from Prolific: please contact the researcher there about the part you did.",
    "mturk": "You came from Amazon Mechanical Turk: please contact the requester there about the part you did.",
}


def closed_message(platform: str) -> str:
    """The message of a session whose study was closed before it was finished."""
    return " ".join(filter(None, ("The study was closed before you finished; your answers so far are saved.",
                                  CLOSED_ADVICE.get(platform), "Thank you for your help.")))


def plan_view(spec: dict) -> dict:
    """What the templates need from a stored study spec (``{"plan": StudyPlan dict, ...}``)."""
    plan = spec.get("plan", spec)
    quality = plan.get("quality") or {}
    crowd = plan.get("crowd") or {}
    return {
        "name": plan.get("name", ""),
        "description": plan.get("description", ""),
        "protocol": plan.get("protocol", "pairwise"),
        "scale": plan.get("scale"),
        "ties": bool(plan.get("ties", False)),
        "both_bad": bool(plan.get("both_bad", False)),
        "context": plan.get("context", "none"),
        "dimensions": [{"name": d["name"], "prompt": d["prompt"]} for d in plan.get("dimensions", ())],
        "min_ms": int(quality.get("min_ms_per_trial", 0) or 0),
        "platform": crowd.get("platform", "link"),
        "judgments_per_session": int(plan.get("judgments_per_session", 0) or 0),
        "training_trials": int(spec.get("training_trials", 0) or 0),
    }


def _study_row(service, study_id: str):
    import sqlalchemy as sa

    from eyetest.store import schema

    s = schema.studies.c
    return service.read(lambda c: c.execute(
        sa.select(s.id, s.name, s.spec, s.status).where(s.id == study_id)).first())


@router.get("/study/{study_id}", response_class=HTMLResponse)
def study_link(request: Request, study_id: str):
    """Landing page of a study link: consent, instructions, start."""
    if not _STUDY.match(study_id):
        return _message(request, "Study not found", "This study link is not valid.", 404)
    row = _study_row(_service(request), study_id)
    if row is None:
        return _message(request, "Study not found", "This study link is not valid.", 404)
    plan = plan_view(row.spec)
    try:
        who = participant_from_query(request.query_params, plan["platform"])
    except ParticipantError as exc:
        who = exc
    if row.status == "closed":
        # someone who took part comes back (to find their completion code): their session, not "ended"
        token = None if isinstance(who, ParticipantError) or not who["participant"] else (
            (_service(request).find_session(study_id, who["participant"]) or {}).get("session"))
        if token is not None:
            return RedirectResponse(f"/s/{token}", status_code=303)
        return _message(request, "This study has ended", "Thank you for your interest: this study is closed "
                        "and takes no more participants.", 410)
    if isinstance(who, ParticipantError):
        return _message(request, "This link is incomplete", str(who), 400)
    return _page(request, "start.html", {
        "study_id": study_id, "plan": plan, "who": who, "paused": row.status == "paused",
        "meta_json": json.dumps(who["meta"], sort_keys=True), "api": API,
        "context_label": CONTEXT_LABELS.get(plan["context"], ""),
    })


@router.get("/s/{token}", response_class=HTMLResponse)
def trial_page(request: Request, token: str):
    """The rater page of a session (resumes at the first unanswered trial)."""
    service = _service(request)
    if not _TOKEN.match(token):
        return _message(request, "Session not found", "This session link is not valid.", 404)
    try:
        info = service.session_info(token)
    except Exception as exc:  # noqa: BLE001 - the service's errors carry their HTTP status
        if _status_of(exc) == 404:
            return _message(request, "Session not found", "This session link is not valid.", 404)
        raise
    if info["finished"]:
        return RedirectResponse(f"/s/{token}/done", status_code=303)
    if info.get("status") == "closed":
        return _message(request, "This study has ended", closed_message(info.get("platform", "link")), 410)
    plan = plan_view(service.state(info["study"]).spec)
    return _page(request, "trial.html", {
        "token": token, "plan": plan, "study_name": plan["name"], "api": API,
        "closed_message": closed_message(info.get("platform", "link")),
        "trial_count": info["trial_count"], "answered": info["answered"],
        "done_url": f"/s/{token}/done", "context_label": CONTEXT_LABELS.get(plan["context"], ""),
    })


@router.get("/s/{token}/done", response_class=HTMLResponse)
def done_page(request: Request, token: str):
    """Completion page: code, Prolific redirect or MTurk submit form."""
    service = _service(request)
    if not _TOKEN.match(token):
        return _message(request, "Session not found", "This session link is not valid.", 404)
    try:
        info = service.session_info(token)
    except Exception as exc:  # noqa: BLE001
        if _status_of(exc) == 404:
            return _message(request, "Session not found", "This session link is not valid.", 404)
        raise
    if not info["finished"]:
        return RedirectResponse(f"/s/{token}", status_code=303)
    mturk = info.get("mturk_submit")
    if mturk and urlsplit(mturk["action"])._replace(path="", query="", fragment="").geturl() not in MTURK_HOSTS:
        mturk = None
    redirect = info.get("redirect")
    if redirect and not redirect.startswith("https://app.prolific.com/"):
        redirect = None
    return _page(request, "done.html", {
        "token": token, "platform": info.get("platform", "link"), "code": info.get("completion_code"),
        "redirect": redirect, "mturk": mturk,
    })


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request):
    """Admin page shell; all data comes from the admin JSON API with the bearer token."""
    return _page(request, "admin.html", {"api": API})


@router.get("/static/{name}")
def static_file(name: str):
    """One of the page's own CSS/JS files (fixed list; nothing is read from a request path)."""
    entry = STATIC.get(name)
    if entry is None:
        return Response("not found", status_code=404, media_type="text/plain")
    data, media, digest = entry
    return Response(data, media_type=media, headers={
        "Cache-Control": "public, max-age=86400", "ETag": f'"{digest}"',
        "X-Content-Type-Options": "nosniff"})
