"""The scoring and audit paths record their notes without touching the process's warning machinery:
another thread's warnings are neither swallowed nor taken as a metric's notes, the notes are exactly
the reader's / metric's own, and concurrent runs each get their own."""

from __future__ import annotations

import hashlib
import threading
import time
import warnings

import numpy as np
import pytest
from PIL import Image as PILImage

from eyetest.core.metrics import get_metric, registry
from eyetest.core.metrics.fid import SmallSampleWarning, fid
from eyetest.core.metrics.registry import MetricSpec, register
from eyetest.io import images
from eyetest.io.dataset import Item
from eyetest.io.images import AlphaWarning, read_image
from eyetest.run import distribution
from eyetest.run import unit as unit_mod
from eyetest.run.audit import AuditSource, _UnitResult, load_or_problem
from eyetest.run.cache import ScoreCache
from eyetest.run.unit import Unit, score_unit

RNG = np.random.default_rng(11)


def _other_thread_warns(message, category):
    t = threading.Thread(target=warnings.warn, args=(message, category))
    t.start()
    t.join()


def _rgba(path):
    rgba = RNG.integers(0, 256, (6, 7, 4), dtype=np.uint8)
    rgba[0, 0, 3] = 0
    PILImage.fromarray(rgba).save(path)
    return path


def _quietly_expected(path):
    """What read_image gives for the file, with its warning, read here alone."""
    with pytest.warns(AlphaWarning):
        return read_image(path)


def test_score_unit_keeps_alpha_notes_and_swallows_no_other_warning(toy_metrics, tmp_path, monkeypatch):
    dist, ref = _rgba(tmp_path / "d.png"), _rgba(tmp_path / "r.png")
    real = unit_mod.read_image

    def read_while_another_thread_warns(*args, **kwargs):
        img = real(*args, **kwargs)
        _other_thread_warns("from another thread", AlphaWarning)
        return img

    monkeypatch.setattr(unit_mod, "read_image", read_while_another_thread_warns)
    with pytest.warns(AlphaWarning) as rec:
        res = score_unit(Unit("d", "m", str(dist), str(ref), ("tmad", "tmean"), ("matlab", "matlab"),
                              "composite", None))
    # the other thread's warnings arrive, one per file read; the unit's own alpha notes are not warned
    assert [str(w.message) for w in rec] == ["from another thread"] * 2
    want_d, want_r = _quietly_expected(dist), _quietly_expected(ref)
    assert res.problems == []
    assert res.notes == {str(dist): want_d.notes, str(ref): want_r.notes}
    assert any("composited" in n for n in want_d.notes)
    assert res.values["tmean"] == pytest.approx(want_d.array.mean() / 255)
    assert res.values["tmad"] == pytest.approx(
        np.abs(want_d.array.astype(float) - want_r.array.astype(float)).mean() / 255)


def test_audit_load_swallows_no_other_warning(tmp_path, monkeypatch):
    path = _rgba(tmp_path / "s.png")
    want = _quietly_expected(path)
    real = images.read_image

    def read_while_another_thread_warns(*args, **kwargs):
        img = real(*args, **kwargs)
        _other_thread_warns("from another thread", AlphaWarning)
        return img

    monkeypatch.setattr(images, "read_image", read_while_another_thread_warns)
    out = _UnitResult()
    with pytest.warns(AlphaWarning) as rec:
        arr, dr = load_or_problem(AuditSource("s", path=str(path)), out)
    assert [str(w.message) for w in rec] == ["from another thread"]
    np.testing.assert_array_equal(arr, want.array)
    assert dr == 255.0 and out.problems == []


# ----------------------------------------------------------------- distribution metrics


def _flat_features(imgs, **_):
    """Toy features: the pixels themselves (an HxW gray image gives H*W dimensions)."""
    return np.stack([np.asarray(im, dtype=np.float64).reshape(-1) for im in imgs])


@pytest.fixture
def tfid():
    """FID exactly as registered (same func, same ``takes_notes``) on toy features."""
    real = get_metric("fid")
    spec = register(MetricSpec(
        "tfid", "distribution", False, real.value_range, real.func, {"matlab": {"color": "as-is"}},
        extra={"features": "toy-pixels", "feature_func": _flat_features,
               "takes_notes": real.extra["takes_notes"]}), replace=True)
    yield spec
    registry._REGISTRY.pop("tfid", None)


def _set(root, shape, n=3):
    """A method 'm' with n gray outputs of ``shape`` and their references; items, hashes, arrays."""
    items, hashes, arrays = [], {}, {}
    for kind in ("gt", "m"):
        (root / kind).mkdir(parents=True)
    for i in range(n):
        for kind in ("gt", "m"):
            a = RNG.integers(0, 256, shape, dtype=np.uint8)
            p = root / kind / f"i{i}.png"
            PILImage.fromarray(a).save(p)
            hashes[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            arrays[(kind, i)] = a
        items.append(Item(f"i{i}", "m", root / "m" / f"i{i}.png", root / "gt" / f"i{i}.png"))
    return items, hashes, arrays


def _score(spec, items, hashes, cache=None):
    return distribution.score_distribution_metrics(
        items, [spec], hashes=hashes, presets={spec.name: "matlab"},
        settings={spec.name: spec.settings("matlab")}, resources={spec.name: {}}, reader={},
        cache=cache, alpha="composite", max_pixels=None)


def _expected(arrays, n=3):
    """FID and its small-sample messages from the core function, called here alone."""
    fr = np.stack([arrays[("gt", i)].reshape(-1).astype(float) for i in range(n)])
    fd = np.stack([arrays[("m", i)].reshape(-1).astype(float) for i in range(n)])
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        value = fid(fr, fd)
    assert all(w.category is SmallSampleWarning for w in rec)
    return value, [str(w.message) for w in rec]


def test_set_notes_are_the_metrics_and_another_threads_warning_is_not_swallowed(tfid, tmp_path,
                                                                                monkeypatch):
    items, hashes, arrays = _set(tmp_path / "ds", (2, 2))        # 3 images, 4-d features: small
    value, messages = _expected(arrays)
    assert len(messages) == 1 and "FID from 3 images with 4-d" in messages[0]
    real = distribution.compare_features

    def compare_while_another_thread_warns(*args, **kwargs):
        v = real(*args, **kwargs)
        _other_thread_warns("another thread's small sample", SmallSampleWarning)
        return v

    monkeypatch.setattr(distribution, "compare_features", compare_while_another_thread_warns)
    cache = ScoreCache(tmp_path / "cache")
    with pytest.warns(SmallSampleWarning) as rec:
        out = _score(tfid, items, hashes, cache)
    assert [str(w.message) for w in rec] == ["another thread's small sample"]
    assert out.warnings == [{"metric": "tfid", "method": "m", "message": m} for m in messages]
    assert out.values[("m", "tfid")] == value and out.problems == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")                          # from the cache: the same notes
        again = _score(tfid, items, hashes, ScoreCache(tmp_path / "cache"))
    assert again.computed == 0 and again.warnings == out.warnings


def test_other_warnings_of_a_distribution_metric_reach_the_caller(tfid, tmp_path):
    items, hashes, arrays = _set(tmp_path / "ds", (2, 2))
    value, messages = _expected(arrays)

    def noisy_fid(reference_features, distorted_features, *, notes=None):
        warnings.warn("overflow in exp", RuntimeWarning)
        return tfid.func(reference_features, distorted_features, notes=notes)

    noisy = register(MetricSpec("tnoisy", "distribution", False, (0.0, 1.0), noisy_fid,
                                tfid.presets, extra=dict(tfid.extra)), replace=True)
    plain = register(MetricSpec("tplain", "distribution", False, (0.0, 1.0),
                                lambda r, d: fid(r, d), tfid.presets,
                                extra={k: v for k, v in tfid.extra.items() if k != "takes_notes"}),
                     replace=True)
    try:
        with pytest.warns(RuntimeWarning, match="overflow in exp") as rec:
            out = _score(noisy, items, hashes)
        assert [w.category for w in rec] == [RuntimeWarning]
        assert [w["message"] for w in out.warnings] == messages and out.values[("m", "tnoisy")] == value
        # a metric that takes no notes warns as usual (nothing is recorded on its behalf)
        with pytest.warns(SmallSampleWarning, match="FID from 3 images") as rec:
            out = _score(plain, items, hashes)
        assert len(rec) == 1 and out.warnings == [] and out.values[("m", "tplain")] == value
    finally:
        registry._REGISTRY.pop("tnoisy", None)
        registry._REGISTRY.pop("tplain", None)


def test_concurrent_set_scores_get_their_own_notes(tfid, tmp_path):
    """Threads scoring sets at once while another thread keeps warning: each run records exactly
    its own notes and every warning of the other thread arrives."""
    small = _set(tmp_path / "small", (2, 2))                   # 4-d features, 3 images: a note
    large = _set(tmp_path / "large", (1, 2))                   # 2-d features, 3 images: none
    want = {id(small): _expected(small[2]), id(large): _expected(large[2])}
    assert want[id(small)][1] and not want[id(large)][1]
    hook, filters = warnings.showwarning, list(warnings.filters)
    problems, sent = [], []
    start, done = threading.Barrier(5), threading.Event()
    deadline = time.monotonic() + 60

    def work(ds):
        value, messages = want[id(ds)]
        try:
            start.wait()
            runs = 0
            while (runs < 3 or len(sent) < 30) and time.monotonic() < deadline:               # overlap the other thread's warnings
                runs += 1
                out = _score(tfid, ds[0], ds[1])
                got = [w["message"] for w in out.warnings]
                if got != messages or out.values[("m", "tfid")] != value:
                    problems.append((messages, got))
        except Exception as exc:  # noqa: BLE001 - a thread's exception would otherwise be lost
            problems.append(exc)

    def other():
        start.wait()
        while not done.is_set():
            sent.append(f"other {len(sent)}")
            warnings.warn(sent[-1], SmallSampleWarning)
            done.wait(0.001)

    workers = [threading.Thread(target=work, args=(ds,)) for ds in (small, large) for _ in range(2)]
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
