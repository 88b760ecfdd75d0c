"""Load benchmark of the study server (``eyetest serve``), printing JSON.

Scenarios, each against a real server process on 127.0.0.1 (loopback only):

capacity
    ``--capacity-raters`` (200) closed-loop simulated raters with no think
    time: start a session, then ``next`` -> ``judgments`` as fast as the
    server answers; a finished session is followed by a new one.  Reported:
    judgments/s over the measured window, which starts after the warm-up and
    after every rater had its first session (session starts are serialised
    per study; ``all_sessions_started_after_s`` says how long that took).
human
    ``--human-raters`` (1,000) raters with exponential think time (mean
    ``--think`` = 5 s) before each judgment, about 200 judgments/s offered.
    Raters arrive evenly over ``--ramp`` seconds.  Reported: p50/p99 latency
    of ``next`` and of ``judgments`` after ramp + think time.
sigkill
    During a capacity run on SQLite the server is killed with SIGKILL,
    restarted, and every acknowledged (200/201) ``client_id`` is looked up in
    the export: ``lost`` must be 0.

Each runs on SQLite, and on PostgreSQL with 1 and 2 server processes
(``--pg URL`` of a server where databases may be created; skipped when it is
unreachable).  The load client is aiohttp in ``--client-procs`` separate
processes (uvloop when installed), so it is not the bottleneck; its CPU time
is reported beside the server's.  Every run is bounded by ``--seconds``.

Targets (issue 5, 2 cores, client included): capacity >= 1,000 judgments/s on
SQLite; p99 <= 50 ms at human pace; 0 acknowledged judgments lost.

Usage::

    python benchmarks/serve_load.py [--quick] [--only sqlite|pg]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ client side
async def _rater(session, base, study, k, *, think, deadline, warm_until, out, rng, ramp, n_raters):
    import aiohttp

    try:
        if ramp:                                     # arrivals spread evenly over the ramp
            await asyncio.sleep(ramp * k / n_raters)
        token = None
        while time.monotonic() < deadline:
            if token is None:                       # a new participant (also after a finished session)
                t0 = time.perf_counter()
                async with session.post(f"{base}/api/v1/studies/{study}/sessions",
                                        json={"participant": f"bench-{uuid.uuid4().hex}"}) as r:
                    token = (await r.json())["session"]
                out["start"].append(time.perf_counter() - t0)
                out["first_session"].setdefault(k, time.monotonic())
            t0 = time.perf_counter()
            async with session.get(f"{base}/api/v1/sessions/{token}/next") as r:
                if r.status == 204:
                    token = None
                    continue
                if r.status != 200:
                    out["errors"] += r.status >= 500
                    return
                trial = await r.json()
            t1 = time.perf_counter()
            if think:
                await asyncio.sleep(min(rng.expovariate(1.0 / think), max(deadline - time.monotonic(), 0)))
                if time.monotonic() >= deadline:
                    return
            cid = uuid.uuid4().hex
            t2 = time.perf_counter()
            async with session.post(f"{base}/api/v1/sessions/{token}/judgments",
                                    json={"trial": trial["trial"], "client_id": cid, "elapsed_ms": 1500,
                                          "answers": {q["dimension"]: q["choices"][rng.randrange(2)]
                                                      for q in trial["questions"]}}) as r:
                await r.read()
                status = r.status
            t3 = time.perf_counter()
            if status in (200, 201):
                out["acked"].append(cid)
                now = time.monotonic()
                out["events"].append((now, t1 - t0, t3 - t2))     # filtered to the window by the parent
            elif status >= 500:
                out["errors"] += 1
    except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, KeyError, ValueError):
        out["failed"] += 1


def _client_proc(base, study, raters, think, seconds, warmup, seed, queue, ramp):
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    import aiohttp

    async def main():
        out = {"start": [], "events": [], "first_session": {}, "acked": [], "errors": 0, "failed": 0,
               }
        rng = random.Random(seed)
        now = time.monotonic()
        deadline, warm_until = now + seconds, now + warmup
        out["deadline"], out["warm_until"] = deadline, warm_until
        conn = aiohttp.TCPConnector(limit=0, force_close=False)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
            await asyncio.gather(*[_rater(session, base, study, k, think=think, deadline=deadline,
                                          warm_until=warm_until, out=out, rng=rng, ramp=ramp, n_raters=raters)
                                   for k in range(raters)])
        return out

    t_cpu = time.process_time()
    out = asyncio.run(main())
    out["cpu_s"] = time.process_time() - t_cpu
    queue.put(out)


def run_load(base, study, *, raters, think, seconds, warmup, procs, ramp=0.0, on_started=None):
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    share = [raters // procs + (1 if i < raters % procs else 0) for i in range(procs)]
    ps = [ctx.Process(target=_client_proc, args=(base, study, n, think, seconds, warmup, 1000 + i, queue, ramp))
          for i, n in enumerate(share)]
    for p in ps:
        p.start()
    if on_started:
        on_started()
    results = [queue.get(timeout=seconds + 120) for _ in ps]
    for p in ps:
        p.join(30)
    merged = {k: [] for k in ("start", "events", "acked")}
    totals = {"errors": 0, "failed": 0, "cpu_s": 0.0}
    firsts = []
    for r in results:
        for k in merged:
            merged[k].extend(r[k])
        for k in totals:
            totals[k] += r[k]
        firsts += list(r["first_session"].values())
    # the measured window: after the warm-up AND after every rater had its first session
    # (CLOCK_MONOTONIC is shared by the processes of one machine)
    deadline = min(r["deadline"] for r in results)
    lo = max([max(r["warm_until"] for r in results)] + ([max(firsts)] if len(firsts) == raters else []))
    window = [e for e in merged["events"] if lo <= e[0] <= deadline]
    merged["next"] = [e[1] for e in window]
    merged["submit"] = [e[2] for e in window]
    totals["done"] = len(window)
    totals["window_s"] = max(deadline - lo, 1e-9)
    totals["all_sessions_started_after_s"] = (round(max(firsts) - (deadline - seconds), 1)
                                              if len(firsts) == raters else None)
    return merged, totals


def _ms(values, q):
    return round(float(np.percentile(np.asarray(values) * 1000, q)), 2) if values else None


# ------------------------------------------------------------------ server side
def start_server(db, port, workers=1):
    env = {**os.environ, "EYETEST_ADMIN_TOKEN": ""}
    proc = subprocess.Popen([sys.executable, "-m", "eyetest", "serve", "--db", db, "--port", str(port),
                             "--workers", str(workers), "--insecure-local", "--rate-limits", "0,0,0,0"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode()[-2000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError("server did not start")


def stop_server(proc, sig=signal.SIGTERM):
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def server_cpu(proc) -> float:
    """CPU seconds of the server process group (Linux /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [proc.pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    except OSError:
        pass
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def make_study(db, folder, per_session):
    from eyetest.study.sample import create_sample_study

    return create_sample_study(db, folder, dataset_kwargs={"images": 12, "methods": ("m1", "m2", "m3", "m4"),
                                                           "size": (32, 32), "mixed_formats": False},
                               methods=("m1", "m2", "m3", "m4"),
                               study=f'judgments_per_session = {per_session}\nblocks = "none"',
                               quality="gold_fraction = 0.05\nrepeat_fraction = 0.05")


def scenario(db, folder, *, workers, mode, args, sigkill=False):
    per_session = 100 if mode == "capacity" else 60
    study = make_study(db, folder, per_session)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(db, port, workers)
    cpu0 = server_cpu(proc)
    raters = args.capacity_raters if mode == "capacity" else args.human_raters
    think = 0.0 if mode == "capacity" else args.think
    seconds = args.seconds if mode == "capacity" else args.human_seconds
    ramp = 0.0 if mode == "capacity" else args.ramp
    warmup = 3.0 if mode == "capacity" else ramp + args.think
    t0 = time.monotonic()
    killer = None
    if sigkill:
        import threading

        killer = threading.Timer(seconds * 0.7, lambda: os.killpg(proc.pid, signal.SIGKILL))
    merged, totals = run_load(base, study, raters=raters, think=think, seconds=seconds, warmup=warmup, ramp=ramp,
                              procs=args.client_procs, on_started=killer.start if killer else None)
    wall = time.monotonic() - t0
    out = {"db": db.split(":", 1)[0] if "://" in db else "sqlite", "server_processes": workers, "mode": mode,
           "raters": raters, "think_s": think, "run_s": seconds,
           "judgments_per_session": per_session, "sessions_started": len(merged["start"])}
    if sigkill:
        proc.wait(10)
        proc = start_server(db, port, workers)
        import httpx

        text = httpx.get(f"{base}/api/v1/studies/{study}/export?format=jsonl", timeout=60).text
        stored = {json.loads(line)["client_id"] for line in text.splitlines()}
        acked = set(merged["acked"])
        out.update(acknowledged=len(acked), stored=len(stored), lost=len(acked - stored),
                   client_failures=totals["failed"])
    else:
        out.update(
            judgments_per_s=round(totals["done"] / totals["window_s"], 1),
            measured_window_s=round(totals["window_s"], 1),
            all_sessions_started_after_s=totals["all_sessions_started_after_s"],
            next_p50_ms=_ms(merged["next"], 50), next_p99_ms=_ms(merged["next"], 99),
            submit_p50_ms=_ms(merged["submit"], 50), submit_p99_ms=_ms(merged["submit"], 99),
            session_start_p50_ms=_ms(merged["start"], 50), session_start_p99_ms=_ms(merged["start"], 99),
            server_cpu_s=round(server_cpu(proc) - cpu0, 1), client_cpu_s=round(totals["cpu_s"], 1),
            wall_s=round(wall, 1), server_errors_5xx=totals["errors"], client_failures=totals["failed"])
    stop_server(proc)
    return out


def pg_database(admin_dsn):
    import psycopg

    name = f"eyetest_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_dsn.rsplit("/", 1)[0] + "/" + name, name


def drop_pg(admin_dsn, name):
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--capacity-raters", type=int, default=200)
    ap.add_argument("--human-raters", type=int, default=1000)
    ap.add_argument("--think", type=float, default=5.0)
    ap.add_argument("--seconds", type=float, default=20.0, help="capacity run length")
    ap.add_argument("--human-seconds", type=float, default=50.0, help="human-pace run length")
    ap.add_argument("--ramp", type=float, default=20.0,
                    help="human pace: raters arrive evenly over this many seconds (session starts are "
                         "serialised per study); latencies are measured from ramp + think on")
    ap.add_argument("--client-procs", type=int, default=2)
    ap.add_argument("--pg", default=os.environ.get("EYETEST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--only", choices=["sqlite", "pg"], default=None)
    ap.add_argument("--quick", action="store_true", help="short runs (smoke test of the script)")
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds, args.human_seconds, args.human_raters, args.capacity_raters = 6.0, 12.0, 100, 50
        args.ramp, args.think = 2.0, 2.0
    resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536)) if resource.getrlimit(
        resource.RLIMIT_NOFILE)[1] >= 65536 else None
    results = {"benchmark": "serve_load", "cpus": os.cpu_count(), "python": sys.version.split()[0],
               "note": "loopback; server and client share the machine's cores", "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "sqlite"):
            for mode in ("capacity", "human"):
                db = str(Path(tmp) / f"{mode}.sqlite")
                results["runs"].append(scenario(db, Path(tmp) / mode, workers=1, mode=mode, args=args))
            db = str(Path(tmp) / "kill.sqlite")
            results["sigkill"] = scenario(db, Path(tmp) / "kill", workers=1, mode="capacity", args=args,
                                          sigkill=True)
        if args.only in (None, "pg"):
            try:
                for workers in (1, 2):
                    for mode in ("capacity", "human"):
                        url, name = pg_database(args.pg)
                        try:
                            results["runs"].append(scenario(url, Path(tmp) / f"pg{workers}{mode}",
                                                            workers=workers, mode=mode, args=args))
                        finally:
                            drop_pg(args.pg, name)
            except Exception as exc:  # noqa: BLE001 - report and keep the SQLite numbers
                results["postgres_error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
