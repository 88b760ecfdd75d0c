"""ASGI middleware: security headers, request size limit, rate limits, no stack traces.

A single pure-ASGI layer (no per-request task or body copy) so it costs
microseconds per request:

* **headers** on every response: a Content-Security-Policy that allows only
  this origin's scripts, styles and images (``frame-ancestors`` configurable
  for crowd platforms that embed the study, default ``'none'``),
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
  ``Cross-Origin-Opener-Policy``, ``Permissions-Policy``, and
  ``Cache-Control: no-store`` unless the handler set its own.
* **size**: a request whose ``Content-Length`` (or streamed body) exceeds
  ``max_body`` bytes is answered 413 before the handler reads it.
* **rate limits**: token buckets per client address and per session token
  (the ``/api/v1/sessions/<token>/...`` path segment); an empty bucket
  answers 429 with ``Retry-After``.  A rate of 0 disables that limit.
* **errors**: an exception escaping the application is answered with a
  generic JSON 500 (the traceback goes to the server log only).
"""

from __future__ import annotations

import logging
import math
import re
import time

import orjson
from fastapi import HTTPException

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
log = logging.getLogger("eyetest.web")

MTURK_ORIGINS = ("https://www.mturk.com", "https://workersandbox.mturk.com")


def csp_header(frame_ancestors=()) -> str:
    ancestors = " ".join(frame_ancestors) if frame_ancestors else "'none'"
    return ("default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; "
            "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
            f"form-action 'self' {' '.join(MTURK_ORIGINS)} https://app.prolific.com; "
            f"frame-ancestors {ancestors}")


def check_rate(name: str, rate: float, burst: float) -> None:
    """Raise ValueError unless ``rate`` per second with ``burst`` is a usable limit (rate 0: no limit)."""
    if not (math.isfinite(rate) and math.isfinite(burst) and rate >= 0 and burst >= 0):
        raise ValueError(f"{name} rate limit: rate {rate} and burst {burst} must be finite numbers >= 0")
    if rate > 0 and burst < 1:
        raise ValueError(f"{name} rate limit: burst {burst} with rate {rate}/s would refuse every request; "
                         "the burst must be >= 1 (or the rate 0 for no limit)")


class TokenBuckets:
    """Token buckets (``rate`` per second, capacity ``burst``) keyed by a string."""

    def __init__(self, rate: float, burst: float, *, max_keys: int = 100_000):
        self.rate, self.burst, self.max_keys = float(rate), float(burst), max_keys
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, key: str, now: float | None = None) -> float:
        """0.0 if allowed, else the seconds until a token is available."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, last = self._state.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._state[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if len(self._state) >= self.max_keys and key not in self._state:
            self._prune(now)
        self._state[key] = (tokens - 1.0, now)
        return 0.0

    def _prune(self, now: float) -> None:
        full = self.burst / self.rate
        self._state = {k: v for k, v in self._state.items() if now - v[1] < full}
        if len(self._state) >= self.max_keys:      # still full of active keys: drop the oldest half
            keep = sorted(self._state.items(), key=lambda kv: kv[1][1])[len(self._state) // 2:]
            self._state = dict(keep)


class _BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"request body over {limit} bytes")


async def _send_json(send, status: int, body: dict, headers=()) -> None:
    data = orjson.dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})


class Guard:
    """The middleware described in the module docstring."""

    def __init__(self, app, *, max_body: int = 64 * 1024, per_address: tuple[float, float] = (100.0, 200.0),
                 per_session: tuple[float, float] = (10.0, 30.0), frame_ancestors=()):
        self.app = app
        self.max_body = int(max_body)
        self.by_address = TokenBuckets(*per_address)
        self.by_session = TokenBuckets(*per_session)
        self.headers = [
            (b"content-security-policy", csp_header(frame_ancestors).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"cross-origin-resource-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
        ]
        if not frame_ancestors:
            self.headers.append((b"x-frame-options", b"DENY"))

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    return await _send_json(send, 400, {"error": "bad Content-Length"}, self.headers)
                if length > self.max_body:
                    return await _send_json(send, 413, {"error": f"request body over {self.max_body} bytes"},
                                            self.headers)
        if _CONTROL_CHARS.search(scope.get("path", "")):
            # No route has a control character in it, and NUL cannot even be stored
            # in a PostgreSQL text column: answer before anything reaches the database.
            return await _send_json(send, 404, {"error": "not found"}, self.headers)
        wait = self._limited(scope)
        if wait:
            return await _send_json(send, 429, {"error": "too many requests"},
                                    [*self.headers, (b"retry-after", str(max(1, math.ceil(wait))).encode())])
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLarge(self.max_body)
            return message

        async def guarded_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {k.lower() for k, _ in message.get("headers", ())}
                extra = [h for h in self.headers if h[0] not in names]
                if b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            if not started:
                await _send_json(send, 413, {"error": f"request body over {self.max_body} bytes"}, self.headers)
        except Exception:  # noqa: BLE001 - never show a traceback to a client
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await _send_json(send, 500, {"error": "internal error"}, self.headers)

    def _limited(self, scope) -> float:
        client = scope.get("client")
        wait = self.by_address.take(client[0] if client else "-")
        if wait:
            return wait
        path = scope.get("path", "")
        if path.startswith("/api/v1/sessions/"):
            token = path[len("/api/v1/sessions/"):].split("/", 1)[0]
            return self.by_session.take(token[:64])
        return 0.0
