"""``eyetest serve``: run the study server (FastAPI under uvicorn).

Refuses to start without ``EYETEST_ADMIN_TOKEN`` unless ``--insecure-local``
(admin pages and endpoints then need no token, so it is allowed only on a
loopback address).  The default database is ``eyetest.sqlite`` in the
current folder; ``--db postgresql://...`` uses PostgreSQL, which several
worker processes (``--workers``) or machines can share.  The database must
exist (``eyetest study create`` makes it; ``--create-db`` serves a new, empty
one) and be writable.
"""

from __future__ import annotations

import errno
import ipaddress
import os

import click

DEFAULT_DB = "eyetest.sqlite"


def check_listen(host: str, port: int) -> None:
    """Fail now, naming ``host:port``, when the server could not listen there.

    uvicorn would report a port in use (or an unknown host name) only after
    eyetest has announced that it is serving, and exit with status 3; this
    binds a socket the way uvicorn does (``SO_REUSEADDR``) and closes it at once.
    """
    import socket

    from eyetest.errors import EyetestError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise EyetestError(f"cannot listen on --host {host}: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            in_use = exc.errno == errno.EADDRINUSE
            why = "the port is in use (another server?)" if in_use else (exc.strerror or str(exc))
            raise EyetestError(f"cannot listen on {host}:{port}: {why}; choose another --port or --host") from None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("serve")
@click.option("--db", "db", default=DEFAULT_DB, show_default=True,
              help="SQLite file path or postgresql:// URL.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes (they share the database).")
@click.option("--insecure-local", is_flag=True,
              help="Run without an admin token (loopback addresses only).")
@click.option("--rate-limits", default="100,200,10,30", show_default=True,
              help="Requests per second and burst, per address then per session; 0 disables.")
@click.option("--frame-ancestor", "frame_ancestors", multiple=True,
              help="Origin allowed to embed the pages (e.g. https://www.mturk.com); default: none.")
@click.option("--create-db", is_flag=True,
              help="Create the SQLite database when it does not exist (default: it must exist).")
def command(db, host, port, workers, insecure_local, rate_limits, frame_ancestors, create_db):
    """Serve the studies in a database to raters and admins."""
    from eyetest.errors import EyetestError
    from eyetest.store.engine import check_writable
    from eyetest.store.migrate import open_store
    from eyetest.web import app as webapp
    from eyetest.web.guard import check_rate

    token = os.environ.get(webapp.ENV_TOKEN, "").strip()
    if not token and not insecure_local:
        raise EyetestError("set EYETEST_ADMIN_TOKEN to a long random secret (admin endpoints need it), "
                           "or pass --insecure-local to run on this machine only")
    if insecure_local and not is_loopback(host):
        raise EyetestError(f"--insecure-local serves admin pages without a token, so it listens on "
                           f"loopback only; got --host {host}")
    if token and len(token) < 16:
        raise EyetestError("EYETEST_ADMIN_TOKEN is too short: use at least 16 random characters")
    try:
        rates = [float(x) for x in rate_limits.split(",")]
    except ValueError:
        rates = []
    if len(rates) != 4:
        raise click.BadParameter("give 4 non-negative numbers: addr_rate,addr_burst,session_rate,session_burst",
                                 param_hint="--rate-limits")
    try:
        check_rate("per-address", rates[0], rates[1])
        check_rate("per-session", rates[2], rates[3])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--rate-limits") from None
    # fail early, with a clear message, on a bad URL, a mistyped path or a database it cannot write
    engine = open_store(db, create=create_db)
    try:
        check_writable(engine)
    finally:
        engine.dispose()
    check_listen(host, port)   # ... and on a port in use, before announcing that it serves
    os.environ[webapp.ENV_DB] = db
    os.environ[webapp.ENV_INSECURE] = "1" if insecure_local else "0"
    os.environ[webapp.ENV_RATES] = ",".join(str(r) for r in rates)
    os.environ[webapp.ENV_FRAMES] = " ".join(frame_ancestors)
    import uvicorn

    click.echo(f"eyetest: serving {db} on http://{host}:{port} ({workers} worker(s))", err=True)
    uvicorn.run("eyetest.web.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False, server_header=False, proxy_headers=False)
