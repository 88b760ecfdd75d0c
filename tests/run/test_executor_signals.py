"""Ctrl-C during a pooled run: only the parent handles it (no traceback from every worker)."""

from __future__ import annotations

import signal

import pytest

from eyetest.run.executor import run_tasks


def _sigint_handler(_task):
    return signal.getsignal(signal.SIGINT) == signal.SIG_IGN


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="no SIGINT")
def test_pool_workers_ignore_sigint():
    results = list(run_tasks(_sigint_handler, range(8), workers=2))
    assert results == [True] * 8
    # this process keeps its own handler (Ctrl-C still stops the run here)
    assert signal.getsignal(signal.SIGINT) != signal.SIG_IGN
