"""Weights manager: pinned hashes, fetch over a local HTTP server, import, verify."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
from pathlib import Path

import pytest

from eyetest.backends import partials, weights
from eyetest.errors import ResourceMissingError, UnknownNameError

PAYLOAD = os.urandom(3 * (1 << 20) + 123)  # > one 1 MiB chunk, not a multiple of it
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv(weights.ENV_DIR, str(d))
    return d


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "w.bin").write_bytes(PAYLOAD)
    (root / "bad.bin").write_bytes(PAYLOAD[:-1] + b"x")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(root), **k)

        def log_message(self, *a):  # keep test output clean
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def entry(monkeypatch, server):
    wf = weights.WeightFile("test-net", "test-net-1234.pth", f"{server}/w.bin", DIGEST,
                            len(PAYLOAD), "test file")
    monkeypatch.setattr(weights, "WEIGHTS", {wf.name: wf})
    return wf


def test_pinned_registry_is_well_formed():
    for name, wf in weights.WEIGHTS.items():
        assert wf.name == name
        assert len(wf.sha256) == 64 and int(wf.sha256, 16) >= 0
        assert wf.url.startswith("https://")
        # torchvision / pytorch-fid encode the SHA256 prefix in the file name
        stem = wf.filename.rsplit(".", 1)[0]
        tail = stem.rsplit("-", 1)[-1]
        if len(tail) == 8 and all(c in "0123456789abcdef" for c in tail):
            assert wf.sha256.startswith(tail), name


def test_default_dir_under_user_cache(monkeypatch):
    import platformdirs

    monkeypatch.delenv(weights.ENV_DIR, raising=False)
    assert weights.weights_dir() == Path(platformdirs.user_cache_dir("eyetest")) / "weights"


def test_env_dir(cache):
    assert weights.weights_dir() == cache


def test_missing_error_names_file_hash_and_commands(cache, entry):
    with pytest.raises(ResourceMissingError) as ei:
        weights.require("test-net")
    msg = str(ei.value)
    assert entry.filename in msg and DIGEST in msg
    assert "eyetest weights fetch test-net" in msg and "eyetest weights import PATH" in msg
    assert weights.status("test-net") == "missing"


def test_unknown_name(cache, entry):
    with pytest.raises(UnknownNameError):
        weights.require("nope")


def test_fetch_streams_verifies_and_places(cache, entry):
    seen = []
    path = weights.fetch("test-net", progress=lambda d, t: seen.append((d, t)))
    assert path == cache / entry.filename
    assert path.read_bytes() == PAYLOAD
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD)) and len(seen) >= 4
    assert weights.require("test-net") == path
    assert weights.status("test-net", check_hash=True) == "ok"
    assert [p.name for p in cache.iterdir()] == [entry.filename]  # no temp file left


def test_fetch_rejects_wrong_hash_and_keeps_nothing(cache, entry, server):
    with pytest.raises(ResourceMissingError, match="expected " + DIGEST):
        weights.fetch("test-net", url=f"{server}/bad.bin")
    assert list(cache.iterdir()) == []


def test_fetch_http_error_is_named(cache, entry, server):
    with pytest.raises(ResourceMissingError, match="cannot download test-net-1234.pth"):
        weights.fetch("test-net", url=f"{server}/absent.bin")
    assert list(cache.iterdir()) == []


def test_corrupt_file_is_refused(cache, entry):
    cache.mkdir()
    (cache / entry.filename).write_bytes(b"not the weights")
    assert weights.status("test-net", check_hash=True) == "corrupt"
    with pytest.raises(ResourceMissingError, match="expected " + DIGEST):
        weights.require("test-net")
    row = weights.verify()[0]
    assert row["status"] == "corrupt" and row["sha256"] == hashlib.sha256(b"not the weights").hexdigest()
    # fetch replaces a corrupt copy
    weights.fetch("test-net")
    assert weights.verify()[0]["status"] == "ok"


def test_import_by_hash_and_by_name(cache, entry, tmp_path):
    src = tmp_path / "carried-anything.bin"
    src.write_bytes(PAYLOAD)
    name, dest = weights.import_file(src)
    assert name == "test-net" and dest.read_bytes() == PAYLOAD
    dest.unlink()
    assert weights.import_file(src, name="test-net")[1] == dest
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"x")
    with pytest.raises(ResourceMissingError, match="matches no known weight file"):
        weights.import_file(bad)
    with pytest.raises(ResourceMissingError, match="must have " + DIGEST):
        weights.import_file(bad, name="test-net")
    with pytest.raises(ResourceMissingError, match="no such file"):
        weights.import_file(tmp_path / "absent.bin")


def test_list_reports_status(cache, entry, tmp_path):
    assert weights.list_weights()[0]["status"] == "missing"
    src = tmp_path / "x.bin"
    src.write_bytes(PAYLOAD)
    weights.import_file(src)
    row = weights.list_weights()[0]
    assert row["status"] == "present" and row["bytes"] == len(PAYLOAD)


def test_load_state_dict_roundtrip(cache, monkeypatch, tmp_path):
    torch = pytest.importorskip("torch")
    sd = {"features.0.weight": torch.arange(6.0).reshape(2, 3)}
    src = tmp_path / "sd.pth"
    torch.save(sd, src)
    digest = weights.sha256_file(src)
    wf = weights.WeightFile("sd", "sd.pth", "https://example.invalid/sd.pth", digest, None, "t")
    monkeypatch.setattr(weights, "WEIGHTS", {"sd": wf})
    weights.import_file(src)
    got = weights.load_state_dict("sd")
    assert torch.equal(got["features.0.weight"], sd["features.0.weight"])
    assert weights.load_state_dict("sd") is got  # one object per process


def _raw_server(body: bytes):
    """A one-shot-per-connection HTTP server sending ``body`` verbatim (headers included)."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()

    def serve():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.sendall(body)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}/w.bin"


def test_truncated_download_is_named_and_not_kept(cache, entry):
    # the server announces the full length but closes the connection after 1 MiB
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(PAYLOAD)
    sock, url = _raw_server(head + PAYLOAD[: 1 << 20])
    try:
        with pytest.raises(ResourceMissingError,
                           match=f"cut off: received {1 << 20} of {len(PAYLOAD)} bytes"):
            weights.fetch("test-net", url=url, timeout=10)
    finally:
        sock.close()
    assert list(cache.iterdir()) == []


def test_broken_chunked_download_is_a_named_error(cache, entry):
    # chunked transfer that ends inside a chunk: http.client raises IncompleteRead,
    # which is not an OSError
    body = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"3e8\r\n" + PAYLOAD[:500]
    sock, url = _raw_server(body)
    try:
        with pytest.raises(ResourceMissingError, match="cannot download test-net-1234.pth"):
            weights.fetch("test-net", url=url, timeout=10)
    finally:
        sock.close()
    assert list(cache.iterdir()) == []


def test_unusable_cache_dir_is_named(tmp_path, monkeypatch, entry):
    # $EYETEST_WEIGHTS_DIR below a regular file: mkdir fails with NotADirectoryError
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    monkeypatch.setenv(weights.ENV_DIR, str(blocker / "weights"))
    src = tmp_path / "carried.bin"
    src.write_bytes(PAYLOAD)
    for call in (lambda: weights.import_file(src), lambda: weights.fetch("test-net")):
        with pytest.raises(ResourceMissingError) as ei:
            call()
        msg = str(ei.value)
        assert str(blocker / "weights") in msg and weights.ENV_DIR in msg


class _StallingServer:
    """HTTP on 127.0.0.1: ``/stall`` sends the headers and the first 1 MiB + 1000 bytes of PAYLOAD, then
    waits (until :meth:`close`); any other path sends all of PAYLOAD."""

    def __init__(self):
        self.release = threading.Event()
        release = self.release

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                if self.path == "/stall":
                    self.wfile.write(PAYLOAD[: (1 << 20) + 1000])
                    self.wfile.flush()
                    release.wait(60)
                    return
                self.wfile.write(PAYLOAD)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _parts(cache: Path) -> set[str]:
    return {p.name for p in cache.glob(".*.part")} if cache.is_dir() else set()


def _start_stalled_fetch(cache: Path, base: str) -> tuple:
    """A fetch in another Python process, stuck mid-download with 1 MiB in its .part file."""
    import subprocess
    import sys
    import time

    before = _parts(cache)
    code = ("from eyetest.backends import weights\n"
            f"weights.WEIGHTS = {{'test-net': weights.WeightFile('test-net', 'test-net-1234.pth', "
            f"'{base}/stall', '{DIGEST}', None, 'test')}}\n"
            "weights.fetch('test-net')\n")
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, weights.ENV_DIR: str(cache)})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = _parts(cache) - before
        if new and (cache / next(iter(new))).stat().st_size >= 1 << 20:
            return proc, next(iter(new))
        assert proc.poll() is None, "the fetch process ended early"
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("the fetch process never wrote its first MiB")


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGKILL"), reason="needs SIGKILL")
def test_part_of_a_killed_fetch_is_removed_and_a_running_ones_kept(cache, entry):
    """A fetch killed with SIGKILL cannot delete its .part; the next fetch does. The .part of a fetch still
    running in another process is never touched (before the fix the dead one stayed forever)."""
    import signal

    srv = _StallingServer()
    running = dead = None
    try:
        running, running_part = _start_stalled_fetch(cache, srv.base)
        dead, dead_part = _start_stalled_fetch(cache, srv.base)
        os.kill(dead.pid, signal.SIGKILL)
        assert dead.wait(10) == -signal.SIGKILL
        assert _parts(cache) == {running_part, dead_part}
        path = weights.fetch("test-net", url=f"{srv.base}/full")
        assert path.read_bytes() == PAYLOAD
        assert _parts(cache) == {running_part}                    # the dead fetch's file is gone
        assert running.poll() is None and (cache / running_part).stat().st_size >= 1 << 20
        os.kill(running.pid, signal.SIGKILL)
        running.wait(10)
        assert weights.remove_stale_partials() == [cache / running_part]
        assert sorted(p.name for p in cache.iterdir()) == [entry.filename]
    finally:
        for proc in (running, dead):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        srv.close()


def test_sweep_spares_partials_held_in_this_process_and_other_files(cache, entry, tmp_path):
    """The lock is per open file: a partial being written by another thread of this process is kept too;
    only unlocked ``.<name>.<random>.part`` files go, and import sweeps as fetch does."""
    cache.mkdir()
    (cache / "notes.part").write_bytes(b"not ours: no leading dot")
    (cache / "other.bin").write_bytes(b"x")
    stray = cache / ".test-net-1234.pth.abc123.part"
    stray.write_bytes(b"left by a dead fetch")
    with weights._temp_in_cache(cache / entry.filename) as part:
        with part.open() as out:
            out.write(b"half")
        assert part.path.name.startswith(".test-net-1234.pth.") and part.path.name.endswith(".part")
        assert weights.remove_stale_partials() == [stray]
        assert part.path.read_bytes() == b"half"
        stray.write_bytes(b"another dead one")
        src = tmp_path / "carried.bin"
        src.write_bytes(PAYLOAD)
        weights.import_file(src)                                  # sweeps, then imports
        assert not stray.exists() and part.path.exists()
    assert not part.path.exists()                                 # deleted when the writer is done with it
    assert sorted(p.name for p in cache.iterdir()) == ["notes.part", "other.bin", entry.filename]


def test_file_system_without_locks_fetches_and_sweeps_nothing(cache, entry, monkeypatch):
    """Where flock fails (ENOLCK: some network file systems) liveness is unknown: fetch works as before and
    no partial file is deleted."""
    import errno
    import types

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(partials, "fcntl", types.SimpleNamespace(LOCK_EX=2, LOCK_NB=4, flock=no_locks))
    cache.mkdir()
    stray = cache / ".test-net-1234.pth.abc123.part"
    stray.write_bytes(b"whose?")
    assert weights.fetch("test-net").read_bytes() == PAYLOAD
    assert weights.remove_stale_partials() == [] and stray.exists()
    assert sorted(p.name for p in cache.iterdir()) == [stray.name, entry.filename]
