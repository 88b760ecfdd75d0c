"""split_half returns the half fits' fallback messages as notes and leaves the process's warning
machinery alone: another thread's warnings are not swallowed, the fit's own warnings are the fit's
choice (``warn=False``), and concurrent calls each get exactly their own notes."""

import threading
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from eyetest.core.judgments.agreement import split_half
from eyetest.core.judgments.bradley_terry import fit_pairwise
from eyetest.errors import ComparisonGraphWarning


def _table(per_rater, raters=6):
    return pd.DataFrame([{"rater": f"r{k}", "condition_a": a, "condition_b": b, "outcome": "a"}
                         for k in range(raters) for a, b in per_rater])


# every rater: x always wins, so in any half "x" never loses and the fit falls back to a prior
NEVER_LOSES = _table([("x", "y"), ("x", "z"), ("y", "z"), ("y", "z"), ("z", "y")])
# every rater: each condition wins and loses (x > y > z): a finite maximum-likelihood scale, no note
CONNECTED = _table([("x", "y"), ("x", "y"), ("y", "x"), ("y", "z"), ("y", "z"), ("z", "y"),
                    ("x", "z"), ("x", "z"), ("z", "x")])


def _expected_note(df):
    """The message fit_pairwise itself issues on one half (one rater alone: same judgments)."""
    with pytest.warns(ComparisonGraphWarning) as rec:
        fit_pairwise(df[df["rater"] == "r0"])
    return [str(w.message) for w in rec]


def test_notes_are_the_fits_and_another_threads_warning_is_not_swallowed():
    expected = _expected_note(NEVER_LOSES)
    assert len(expected) == 1 and "never lose" in expected[0]

    def fit_while_another_thread_warns(t):
        fit = fit_pairwise(t, warn=False)
        other = threading.Thread(target=warnings.warn, args=("from another thread", ComparisonGraphWarning))
        other.start()
        other.join()
        return fit

    with pytest.warns(ComparisonGraphWarning) as rec:
        out = split_half(NEVER_LOSES, fit_while_another_thread_warns, n_splits=3, rng=np.random.default_rng(0))
    assert [str(w.message) for w in rec] == ["from another thread"] * 6   # two halves x three splits
    assert out["notes"] == expected and out["values"] == pytest.approx([1.0] * 3)


def test_the_fits_own_warnings_are_its_choice_and_values_do_not_change():
    expected = _expected_note(NEVER_LOSES)
    with pytest.warns(ComparisonGraphWarning) as rec:
        loud = split_half(NEVER_LOSES, lambda t: fit_pairwise(t), n_splits=4, rng=np.random.default_rng(5))
    assert [str(w.message) for w in rec] == expected * 8
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = split_half(NEVER_LOSES, lambda t: fit_pairwise(t, warn=False), n_splits=4,
                           rng=np.random.default_rng(5))
    assert quiet == loud and quiet["notes"] == expected
    clean = split_half(CONNECTED, lambda t: fit_pairwise(t, warn=False), n_splits=2, rng=np.random.default_rng(5))
    assert clean["notes"] == [] and len(clean["values"]) == 2


def test_concurrent_split_halves_get_their_own_notes():
    """Threads splitting at once (as a server's threads would) while another thread keeps warning:
    each call gets exactly its own notes, and every warning of the other thread arrives."""
    expected = _expected_note(NEVER_LOSES)
    hook, filters = warnings.showwarning, list(warnings.filters)
    problems, sent = [], []
    start, done = threading.Barrier(5), threading.Event()
    deadline = time.monotonic() + 60

    def work(df, want):
        try:
            start.wait()
            i = 0
            while (i < 3 or len(sent) < 30) and time.monotonic() < deadline:                  # overlap the other thread's warnings
                i += 1
                out = split_half(df, lambda t: fit_pairwise(t, warn=False), n_splits=2,
                                 rng=np.random.default_rng(i))
                if out["notes"] != want:
                    problems.append((want, out["notes"]))
        except Exception as exc:  # noqa: BLE001 - a thread's exception would otherwise be lost
            problems.append(exc)

    def other():
        start.wait()
        while not done.is_set():
            sent.append(f"other {len(sent)}")
            warnings.warn(sent[-1], ComparisonGraphWarning)
            done.wait(0.001)

    workers = [threading.Thread(target=work, args=(df, want))
               for df, want in ((NEVER_LOSES, expected), (CONNECTED, [])) for _ in range(2)]
    emitter = threading.Thread(target=other)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for th in workers + [emitter]:
            th.start()
        for th in workers:
            th.join()
        done.set()
        emitter.join()
    assert problems == []
    assert len(sent) >= 30 and [str(w.message) for w in rec] == sent
    assert warnings.showwarning is hook and warnings.filters == filters
