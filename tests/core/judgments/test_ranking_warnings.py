"""fit_one / rank turn the fit's comparison-graph warnings into notes without touching the process's
warning machinery: another thread's warnings are neither taken as notes nor swallowed, and the fit's
other warnings reach the caller."""

import threading
import warnings

import pandas as pd
import pytest

from eyetest.core.judgments import ranking
from eyetest.core.judgments.bradley_terry import fit_pairwise
from eyetest.core.judgments.ranking import fit_one, rank
from eyetest.errors import ComparisonGraphWarning

# "a" always beats "b", "b" and "c" split: "a" never loses, so the maximum-likelihood scale is not finite
NEVER_LOSES = pd.DataFrame({"rater": "r1", "condition_a": ["a", "a", "b", "b", "c"],
                            "condition_b": ["b", "c", "c", "c", "b"], "outcome": ["a", "a", "a", "b", "a"]})
# every condition wins and loses against every other: a finite maximum-likelihood scale, no note
CONNECTED = pd.DataFrame({"rater": "r1", "condition_a": ["a", "a", "b", "b", "c", "c"],
                          "condition_b": ["b", "c", "c", "a", "a", "b"], "outcome": ["a", "a", "a", "a", "a", "a"]})


def _expected_note(df):
    """The fallback message fit_pairwise itself issues for ``df`` (recorded on the main thread, alone)."""
    with pytest.warns(ComparisonGraphWarning) as rec:
        fit_pairwise(df)
    return [str(w.message) for w in rec]


def test_fit_one_notes_are_its_own_and_another_threads_warning_is_not_swallowed(monkeypatch):
    expected = _expected_note(NEVER_LOSES)
    assert len(expected) == 1 and "never lose" in expected[0]
    real = ranking.fit_pairwise

    def fit_while_another_thread_warns(*args, **kwargs):
        fit = real(*args, **kwargs)
        other = threading.Thread(target=warnings.warn, args=("from another thread", ComparisonGraphWarning))
        other.start()
        other.join()
        return fit

    monkeypatch.setattr(ranking, "fit_pairwise", fit_while_another_thread_warns)
    with pytest.warns(ComparisonGraphWarning) as rec:
        _, notes = fit_one(NEVER_LOSES, model="bradley-terry")
    assert notes == expected                                 # its own message, once, and nothing else
    # the other thread's warning went where that thread's warnings go; the fit's own is a note, not a warning
    assert [str(w.message) for w in rec] == ["from another thread"]


def test_other_warnings_of_the_fit_reach_the_caller(monkeypatch):
    real = ranking.fit_pairwise

    def fit_with_a_runtime_warning(*args, **kwargs):
        warnings.warn("overflow in exp", RuntimeWarning)
        return real(*args, **kwargs)

    monkeypatch.setattr(ranking, "fit_pairwise", fit_with_a_runtime_warning)
    with pytest.warns(RuntimeWarning, match="overflow in exp"):
        _, notes = fit_one(CONNECTED, model="bradley-terry")
    assert notes == []


def test_rank_notes_stay_with_their_slice_under_threads():
    """Threads ranking at once (as the server's report threads do) get exactly their own notes, and the
    process's warning hook is the same afterwards."""
    expected = _expected_note(NEVER_LOSES)
    hook = warnings.showwarning
    problems = []
    start = threading.Barrier(4)

    def work(df, want):
        start.wait()
        for _ in range(40):
            _, notes = fit_one(df, model="bradley-terry")
            if notes != want:
                problems.append((want, notes))

    threads = [threading.Thread(target=work, args=(df, want))
               for df, want in ((NEVER_LOSES, expected), (CONNECTED, []))
               for _ in range(2)]
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert problems == [] and [str(w.message) for w in leaked] == []
    assert warnings.showwarning is hook
    table, notes = rank(NEVER_LOSES)
    assert notes == expected and set(table["condition"]) == {"a", "b", "c"}
