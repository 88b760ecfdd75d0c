"""``next`` and judgments on PostgreSQL, straight from the event loop.

Run through SQLAlchemy in a thread pool, a PostgreSQL judgment cost six round
trips (BEGIN, replay check, trial row lock, insert, update, COMMIT) and a
``next`` three (BEGIN, SELECT, ROLLBACK), and after each round trip the thread
had to win the GIL back from the event loop and the other database threads.
At human pace (about 200 judgments/s, 1,000 raters) on one server process that
queueing, not the database, made the slow requests: half of a slow ``next``
was spent waiting for a free thread behind judgments doing their six trips.

:class:`PgAsync` instead keeps a few psycopg ``AsyncConnection`` in
autocommit mode and runs the service's statement generators
(:meth:`eyetest.study.service.StudyService.next_steps` and
:meth:`~eyetest.study.service.StudyService.judgment_steps`) on them in the
event loop: ``next`` is one statement, a judgment two, each its own
transaction, and no thread is involved.  The decisions (404, 409, 422,
replay) are the service's own, shared with the synchronous path.

A dropped connection is replaced and the whole operation retried with
back-off; that is safe for a judgment too: if its ``store`` had committed
before the connection broke, the retried ``probe`` finds the ``client_id`` and
answers as a replay.  A connection whose query was interrupted (cancelled
request) is closed rather than reused.
"""

from __future__ import annotations

import asyncio
import collections

import orjson
import psycopg
from psycopg.types.json import set_json_loads

from eyetest.study.judging import _check_judgment
from eyetest.study.service import StudyService
from eyetest.study.service_errors import Unavailable

#: attempts of an operation on dropped / refused connections
ATTEMPTS = 6


def libpq_url(engine) -> str:
    """A libpq connection URL of a SQLAlchemy PostgreSQL engine (driver name dropped)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class PgAsync:
    """Up to ``size`` autocommit connections used from one event loop."""

    def __init__(self, url: str, service: StudyService, *, size: int = 8):
        self.url, self.service, self.size = url, service, size
        self.sql = service.hot.sql
        self._idle: list = []
        self._open = 0
        self._waiters: collections.deque = collections.deque()
        self._loop = None

    # ------------------------------------------------------------ operations
    async def next_trial(self, token: str) -> dict | None:
        return await self._run(lambda: self.service.next_steps(token))

    async def record_judgment(self, token: str, *, trial, answers, client_id, elapsed_ms=None):
        _check_judgment(trial, client_id, elapsed_ms)
        return await self._run(lambda: self.service.judgment_steps(token, trial, answers, client_id, elapsed_ms))

    async def _run(self, make_steps):
        delay = 0.02
        for attempt in range(ATTEMPTS):
            try:
                conn = await self._acquire()
            except psycopg.OperationalError as exc:
                problem = exc
            else:
                try:
                    result = await self._drive(conn, make_steps())
                except psycopg.OperationalError as exc:
                    self._discard(conn)
                    problem = exc
                except BaseException:
                    # a service decision leaves the connection idle; anything else (a cancelled
                    # request mid-query, a driver error) may not: never hand such a one out again
                    if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                        self._release(conn)
                    else:
                        self._discard(conn)
                    raise
                else:
                    self._release(conn)
                    return result
            if attempt == ATTEMPTS - 1:
                raise Unavailable("the database is unavailable; try again") from problem
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _drive(self, conn, steps):
        """:func:`eyetest.study.judging.drive`, awaiting each statement."""
        try:
            name, params = next(steps)
            while True:
                cur = await conn.execute(self.sql[name], params)
                name, params = steps.send(await cur.fetchall())
        except StopIteration as done:
            return done.value

    # ------------------------------------------------------------ the pool
    async def _acquire(self):
        loop = asyncio.get_running_loop()
        if loop is not self._loop:        # a new event loop (tests): connections belong to the old one
            self._forget()
            self._loop = loop
        while self._idle:
            conn = self._idle.pop()       # most recently used first: its server process is warm
            if not conn.closed:
                return conn
            self._open -= 1
        if self._open >= self.size:
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                conn = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._release(waiter.result())     # handed over just as we were cancelled
                raise
            if conn is not None:
                return conn
            # None: a connection was closed and its place handed to us: open a new one
        else:
            self._open += 1
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        except BaseException:
            self._open -= 1
            self._wake(None)
            raise
        set_json_loads(orjson.loads, conn)
        return conn

    def _wake(self, conn) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                if conn is None:
                    self._open += 1       # the waiter opens a connection in the freed place
                return True
        return False

    def _release(self, conn) -> None:
        if not self._wake(conn):
            self._idle.append(conn)

    def _discard(self, conn) -> None:
        self._open -= 1
        _close_now(conn)
        self._wake(None)

    def _forget(self) -> None:
        self.close_idle()
        self._open, self._waiters = 0, collections.deque()

    def close_idle(self) -> None:
        """Close the idle connections now (no await: they may belong to a loop that is gone)."""
        idle, self._idle = self._idle, []
        self._open -= len(idle)
        for conn in idle:
            _close_now(conn)

    async def aclose(self) -> None:
        """Close the idle connections (at server shutdown)."""
        idle, self._idle = self._idle, []
        self._open -= len(idle)
        for conn in idle:
            await conn.close()


def _close_now(conn) -> None:
    """Close a connection without awaiting (its socket may belong to another event loop)."""
    try:
        conn.pgconn.finish()
    except Exception:  # noqa: BLE001 - already closed / broken
        pass
