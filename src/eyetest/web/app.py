"""FastAPI application factory of the study server.

``create_app(db_url, *, admin_token, insecure_local=False)`` opens (and
migrates) the database, and mounts

* the rater API under ``/api/v1`` (:mod:`eyetest.web.api`), published as
  OpenAPI at ``/openapi.json`` (the interactive ``/docs`` page is off: it
  would need scripts from a CDN, which the Content-Security-Policy forbids);
* the admin JSON API under ``/api/v1/admin`` (:mod:`eyetest.web.admin_api`),
  behind ``Authorization: Bearer <admin token>``;
* opaque, immutable image URLs ``/img/<token>``: the image without embedded
  metadata (:meth:`eyetest.study.service.StudyService.image`, also for rows
  stored before imports stripped it), its ETag the SHA256 of the bytes sent;
* the rater and admin pages (``eyetest.web.pages.router``) when that module
  is installed;

all behind :class:`eyetest.web.guard.Guard` (security headers, request size
limit, rate limits per address and per session, no stack traces).  Inside the
guard, ``next`` and ``judgments`` are answered by
:class:`eyetest.web.hotroutes.HotRoutes` without FastAPI's per-request layers,
and on PostgreSQL run on the event loop (:mod:`eyetest.web.pgasync`).
"""

from __future__ import annotations

import contextlib
import hmac
import importlib.util
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import event as sa_event
from starlette.exceptions import HTTPException as StarletteHTTPException

from eyetest.errors import EyetestError
from eyetest.store.engine import check_writable, make_engine
from eyetest.store.migrate import upgrade
from eyetest.study.service import ServiceError, StudyService
from eyetest.web.groupcommit import GroupCommit
from eyetest.web.guard import Guard, check_rate
from eyetest.web.hotroutes import HotRoutes

API_PREFIX = "/api/v1"
IMAGE_CACHE_BYTES = 64 * 1024 * 1024


class FastJSON(JSONResponse):
    """JSON response rendered by orjson."""

    def render(self, content) -> bytes:
        return orjson.dumps(content)


def error_response(status: int, message: str, headers=None) -> FastJSON:
    return FastJSON({"error": message}, status_code=status, headers=headers)


class ImageCache:
    """A byte-bounded LRU of image content (images never change under a token)."""

    def __init__(self, max_bytes: int = IMAGE_CACHE_BYTES):
        self.max_bytes, self.size = max_bytes, 0
        self._items: OrderedDict[str, tuple[bytes, str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str):
        with self._lock:
            item = self._items.get(token)
            if item is not None:
                self._items.move_to_end(token)
            return item

    def put(self, token: str, item) -> None:
        n = len(item[0])
        if n > self.max_bytes // 4:
            return
        with self._lock:
            if token in self._items:
                return
            self._items[token] = item
            self.size += n
            while self.size > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self.size -= len(old[0])


def check_admin(request: Request) -> None:
    """Raise 401 unless the request carries the admin bearer token (or the app is insecure-local)."""
    token = request.app.state.admin_token
    if token is None:
        if request.app.state.insecure_local:
            return
        raise ServiceError("admin access is not configured", status=401)
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise ServiceError("admin bearer token required", status=401)


def create_app(db_url, *, admin_token: str | None, insecure_local: bool = False,
               rate_per_address: tuple[float, float] = (100.0, 200.0),
               rate_per_session: tuple[float, float] = (10.0, 30.0), max_body: int = 64 * 1024,
               frame_ancestors=(), pool_size: int = 12) -> FastAPI:
    """The study server application (see the module docstring).

    ``admin_token`` is required unless ``insecure_local`` (admin endpoints
    then need no token: only for a server on 127.0.0.1); surrounding
    whitespace (a CRLF ``.env`` file) is dropped, as clients' tokens are
    compared stripped.  Rates are ``(requests per second, burst)``; 0
    disables a limit.  A database the server cannot write is a
    :class:`~eyetest.store.engine.StoreError` here, not a 500 at the first
    judgment.
    """
    admin_token = (admin_token or "").strip() or None
    if not admin_token and not insecure_local:
        raise EyetestError("an admin token is required (set EYETEST_ADMIN_TOKEN) unless insecure_local=True")
    for name, (rate, burst) in (("per-address", rate_per_address), ("per-session", rate_per_session)):
        try:
            check_rate(name, rate, burst)
        except ValueError as exc:
            raise EyetestError(str(exc)) from None
    # no pre-ping round trip per request: StudyService retries a transaction on a dropped connection
    engine = make_engine(db_url, pool_size=pool_size, pre_ping=False)
    try:
        upgrade(engine)
        check_writable(engine)
    except BaseException:
        engine.dispose()
        raise
    service = StudyService(engine)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        if app.state.pg is not None:
            await app.state.pg.aclose()
        app.state.writer.shutdown(wait=True)
        app.state.planner.shutdown(wait=True)
        if app.state.db_pool is not None:
            app.state.db_pool.shutdown(wait=True)
        engine.dispose()

    app = FastAPI(title="eyetest study server", version="1", docs_url=None, redoc_url=None,
                  default_response_class=FastJSON, lifespan=lifespan)
    app.state.service = service
    app.state.engine = engine
    app.state.admin_token = admin_token
    app.state.insecure_local = bool(insecure_local)
    app.state.images = ImageCache()
    app.state.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eyetest-writer")
    app.state.group_commit = GroupCommit(service, app.state.writer)
    # PostgreSQL: session starts are planned in batches by their own thread (one transaction holding
    # the study's row lock per batch), never where next/judgments run
    app.state.planner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eyetest-planner")
    app.state.session_commit = GroupCommit(service, app.state.planner)
    # PostgreSQL: next and judgments run on the event loop over autocommit connections of their own
    # (eyetest.web.pgasync: 1 and 2 round trips, no thread); the other reads in a few threads rather
    # than the default pool of 40 (the GIL is shared: many runnable threads make each request wait
    # for it after every round trip)
    db_threads = int(os.environ.get("EYETEST_DB_THREADS", "4"))
    app.state.db_pool = (None if service.sqlite else
                         ThreadPoolExecutor(max_workers=db_threads, thread_name_prefix="eyetest-db"))
    app.state.pg = None
    if not service.sqlite:
        from eyetest.web.pgasync import PgAsync, libpq_url     # psycopg: the optional "pg" extra

        app.state.pg = PgAsync(libpq_url(engine), service, size=int(os.environ.get("EYETEST_PG_CONNECTIONS", "8")))
        # whoever disposes of the engine (shutdown, tests) is done with the database: close these too
        sa_event.listen(engine, "engine_disposed", lambda _engine: app.state.pg.close_idle())

    @app.exception_handler(ServiceError)
    async def _service_error(request, exc: ServiceError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.message, headers)

    @app.exception_handler(EyetestError)
    async def _eyetest_error(request, exc: EyetestError):
        return error_response(400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        problems = [{"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
                    for e in exc.errors()[:10]]
        return FastJSON({"error": "invalid request", "problems": problems}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc: StarletteHTTPException):
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    from eyetest.web.admin_api import router as admin_router
    from eyetest.web.api import router as api_router

    app.include_router(api_router, prefix=API_PREFIX)
    app.include_router(admin_router, prefix=API_PREFIX + "/admin")

    @app.get("/img/{token}", include_in_schema=False)
    def image(token: str, request: Request):
        cache: ImageCache = request.app.state.images
        item = cache.get(token)
        if item is None:
            item = service.image(token)
            if item is None:
                return error_response(404, "not found")
            cache.put(token, item)
        content, media, sha = item
        etag = f'"{sha}"'
        headers = {"Cache-Control": "public, max-age=31536000, immutable", "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(content, media_type=media, headers=headers)

    if importlib.util.find_spec("eyetest.web.pages") is not None:
        from eyetest.web import pages

        app.include_router(pages.router)
        if hasattr(pages, "mount"):
            pages.mount(app)

    # inside Guard: the two per-judgment routes without FastAPI's per-request layers
    app.add_middleware(HotRoutes, state=app.state)
    app.add_middleware(Guard, max_body=max_body, per_address=rate_per_address,
                       per_session=rate_per_session, frame_ancestors=tuple(frame_ancestors))
    return app


#: environment variables read by :func:`app_from_env` (set by ``eyetest serve`` for its workers)
ENV_DB, ENV_TOKEN, ENV_INSECURE = "EYETEST_DB", "EYETEST_ADMIN_TOKEN", "EYETEST_INSECURE_LOCAL"
ENV_RATES, ENV_FRAMES = "EYETEST_RATE_LIMITS", "EYETEST_FRAME_ANCESTORS"


def app_from_env() -> FastAPI:
    """The app configured from the environment (uvicorn ``--factory`` entry point).

    ``EYETEST_DB`` (URL or path), ``EYETEST_ADMIN_TOKEN``, ``EYETEST_INSECURE_LOCAL=1``,
    ``EYETEST_RATE_LIMITS="addr_rate,addr_burst,session_rate,session_burst"``,
    ``EYETEST_FRAME_ANCESTORS`` (space-separated origins).
    """
    rates = [float(x) for x in os.environ.get(ENV_RATES, "100,200,10,30").split(",")]
    if len(rates) != 4:
        raise EyetestError(f"${ENV_RATES} must hold 4 comma-separated numbers, got {os.environ[ENV_RATES]!r}")
    app = create_app(os.environ.get(ENV_DB, "eyetest.sqlite"), admin_token=os.environ.get(ENV_TOKEN) or None,
                     insecure_local=os.environ.get(ENV_INSECURE) == "1",
                     rate_per_address=(rates[0], rates[1]), rate_per_session=(rates[2], rates[3]),
                     frame_ancestors=tuple(os.environ.get(ENV_FRAMES, "").split()))
    # SQLite: the event loop shares the GIL with the writer thread; each time it gives the GIL up for a
    # socket or database call, getting it back can take a whole switch interval (5 ms by default).
    # 1 ms measured about 10 % more judgments/s in benchmarks/serve_load.py (not measured to help on
    # PostgreSQL, so left at the default there unless EYETEST_SWITCH_INTERVAL is set)
    interval = os.environ.get("EYETEST_SWITCH_INTERVAL") or ("0.001" if app.state.service.sqlite else None)
    if interval:
        import sys

        sys.setswitchinterval(float(interval))
    freeze_startup_heap()
    return app


def freeze_startup_heap() -> None:
    """Keep the cyclic garbage collector away from what was built at startup.

    A server process holds about 170,000 GC-tracked objects once FastAPI,
    pydantic, SQLAlchemy, numpy and scipy are imported, nearly all of them
    alive for good (functions, classes, typing objects).  Every full
    collection walks all of them: measured 70 ms of CPU on the 2-core
    development machine, 100-130 ms of wall time under load, every few seconds
    while sessions are being planned.  Each such pause stalls every request in
    flight: they were the 100 ms-and-over requests behind the 100-360 ms p99
    of ``next`` at human pace on PostgreSQL with one process (the rest of that
    tail was the thread pool :mod:`eyetest.web.pgasync` replaced).
    ``gc.freeze()`` moves the startup heap to the permanent generation (never
    scanned), so a full collection only walks what requests and the schedulers
    created since (8 ms); the young-generation threshold is raised so
    short-lived request objects (freed by reference counting anyway) trigger
    fewer collections.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(7000, 20, 20)
