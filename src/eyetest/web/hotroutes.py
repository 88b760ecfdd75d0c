"""``next`` and ``judgments`` answered without FastAPI's per-request machinery.

Every judgment costs two requests, ``GET /api/v1/sessions/{token}/next`` and
``POST /api/v1/sessions/{token}/judgments``, and at capacity on SQLite the
server process is bound by one core (the GIL).  Profiling that run
(``benchmarks/serve_load.py``, py-spy) put about 40 % of the event loop's time
in the layers between the socket and the endpoint: Starlette's and FastAPI's
middlewares, route matching, dependency solving and response building.
:class:`HotRoutes` sits inside :class:`eyetest.web.guard.Guard` (so headers,
size and rate limits still apply) and answers these two requests itself:
one regular expression for the route, ``JudgmentIn.model_validate_json`` for
the body, and the same operations the FastAPI endpoints call
(:func:`eyetest.web.api.next_trial_of`, :func:`eyetest.web.api.store_judgment`),
with the same responses and error bodies.

Anything it is not sure about goes on to FastAPI unchanged: another method or
path, a root path, a body that is not ``application/json`` or does not
validate (FastAPI then produces its usual 422, from the body read here).  The
routes stay declared in FastAPI for the OpenAPI schema and as that fallback.
"""

from __future__ import annotations

import re

import orjson
from pydantic import ValidationError

from eyetest.errors import EyetestError
from eyetest.study.service import ServiceError

_ROUTE = re.compile(r"/api/v1/sessions/([A-Za-z0-9_-]{1,64})/(next|judgments)")
_JSON_HEADERS = [(b"content-type", b"application/json")]


class HotRoutes:
    """ASGI middleware answering the two per-judgment routes (see the module docstring)."""

    def __init__(self, app, *, state):
        from eyetest.web import api

        self.app, self.state, self.api = app, state, api

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not scope.get("root_path"):
            m = _ROUTE.fullmatch(scope["path"])
            if m is not None:
                if m[2] == "next" and scope["method"] == "GET":
                    return await self._next(m[1], send)
                if m[2] == "judgments" and scope["method"] == "POST" and _is_json(scope):
                    return await self._judgment(m[1], scope, receive, send)
        await self.app(scope, receive, send)

    async def _next(self, token, send):
        try:
            trial = await self.api.next_trial_of(self.state, token)
        except (ServiceError, EyetestError) as exc:
            return await _error(send, exc)
        if trial is None:
            await send({"type": "http.response.start", "status": 204, "headers": []})
            return await send({"type": "http.response.body", "body": b""})
        await _json(send, 200, orjson.dumps(trial))

    async def _judgment(self, token, scope, receive, send):
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return                                  # the client went away: nothing to answer
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            judgment = self.api.JudgmentIn.model_validate_json(body)
        except ValidationError:
            return await self.app(scope, _replay(body, receive), send)   # FastAPI's own 422
        try:
            receipt, created = await self.api.store_judgment(self.state, token, judgment)
        except (ServiceError, EyetestError) as exc:
            return await _error(send, exc)
        await _json(send, 201 if created else 200, orjson.dumps(receipt))


def _is_json(scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


def _replay(body: bytes, receive):
    sent = False

    async def again():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


async def _json(send, status: int, data: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(data)).encode()), *_JSON_HEADERS]})
    await send({"type": "http.response.body", "body": data})


async def _error(send, exc) -> None:
    """The body and status the app's exception handlers give (``eyetest.web.app``)."""
    if isinstance(exc, ServiceError):
        status, message = exc.status, exc.message
    else:
        status, message = 400, str(exc)
    await _json(send, status, orjson.dumps({"error": message}))
