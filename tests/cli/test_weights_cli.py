"""`eyetest weights list|fetch|import|verify` through the real click group."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading

import pytest
from click.testing import CliRunner

from eyetest.backends import weights
from eyetest.cli.main import cli

PAYLOAD = b"eyetest weights cli test payload\n" * 5000
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def env(tmp_path, monkeypatch):
    root = tmp_path / "www"
    root.mkdir()
    (root / "w.bin").write_bytes(PAYLOAD)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(root), **k)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/w.bin"
    wf = weights.WeightFile("tnet", "tnet-abcd.pth", url, DIGEST, len(PAYLOAD), "test")
    monkeypatch.setattr(weights, "WEIGHTS", {"tnet": wf})
    cache = tmp_path / "cache"
    monkeypatch.setenv(weights.ENV_DIR, str(cache))
    yield cache
    httpd.shutdown()
    httpd.server_close()


def run(*args):
    return CliRunner().invoke(cli, ["weights", *args])


def test_list_fetch_verify(env):
    r = run("list", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)[0]["status"] == "missing"
    r = run("fetch", "tnet")
    assert r.exit_code == 0, r.output
    assert (env / "tnet-abcd.pth").read_bytes() == PAYLOAD
    r = run("list")
    assert "present" in r.output and str(env) in r.output
    r = run("verify")
    assert r.exit_code == 0 and "tnet: ok" in r.output


def test_verify_flags_corrupt_file(env):
    env.mkdir()
    (env / "tnet-abcd.pth").write_bytes(b"damaged")
    r = run("verify", "tnet")
    assert r.exit_code == 1
    assert "corrupt" in r.output and DIGEST in r.output


def test_import(env, tmp_path):
    src = tmp_path / "carried.pth"
    src.write_bytes(PAYLOAD)
    r = run("import", str(src))
    assert r.exit_code == 0, r.output
    assert "tnet: imported" in r.output
    assert (env / "tnet-abcd.pth").read_bytes() == PAYLOAD


def test_errors_are_one_line_exit_2(env, tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"nope")
    r = run("import", str(bad))
    assert r.exit_code == 2 and "matches no known weight file" in r.output
    r = run("fetch", "unknown-net")
    assert r.exit_code == 2 and "unknown weight file 'unknown-net'" in r.output
    r = run("fetch")
    assert r.exit_code == 2 and "give at least one weight name" in r.output
