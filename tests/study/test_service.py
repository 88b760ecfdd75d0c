"""Study creation (image store), session planning and the service, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import threading
import time
import uuid

import numpy as np
import png
import pytest
import sqlalchemy as sa
from PIL import Image as PILImage

from eyetest.errors import DatasetError, SpecError
from eyetest.io.images import AlphaWarning
from eyetest.store import schema
from eyetest.store.engine import make_engine
from eyetest.store.migrate import upgrade
from eyetest.study.importer import create_study, display_encoding
from eyetest.study.sample import write_sample_dataset, write_sample_spec
from eyetest.study.service import Invalid, NotFound, StudyService
from eyetest.study.spec import load_spec


def _engine(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    return engine


def _decode(content: bytes) -> np.ndarray:
    with PILImage.open(io.BytesIO(content)) as im:
        return np.asarray(im)


def test_display_encoding_converts_16_bit_and_tiff(tmp_path):
    rng = np.random.default_rng(1)
    a16 = rng.integers(0, 65536, size=(9, 11, 3), dtype=np.uint16)
    with (tmp_path / "a.png").open("wb") as fh:
        png.Writer(width=11, height=9, bitdepth=16, greyscale=False).write(fh, a16.reshape(9, 33).tolist())
    content, media, w, h, _ = display_encoding(tmp_path / "a.png")
    assert (media, w, h) == ("image/png", 11, 9)
    # independent: v8 = round(v * 255 / 65535), half away from zero (all values are non-negative)
    expect = np.floor(a16.astype(np.float64) * 255.0 / 65535.0 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(_decode(content), expect)

    a8 = rng.integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    PILImage.fromarray(a8).save(tmp_path / "b.tif")
    content, media, *_ = display_encoding(tmp_path / "b.tif")
    assert media == "image/png" and content[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(_decode(content), a8)

    PILImage.fromarray(a8).save(tmp_path / "c.png")
    content, media, *_ = display_encoding(tmp_path / "c.png")
    assert content == (tmp_path / "c.png").read_bytes()            # browser-safe: stored byte for byte
    rgba = np.dstack([a8, np.full(a8.shape[:2], 128, np.uint8)])
    PILImage.fromarray(rgba).save(tmp_path / "d.png")
    with pytest.warns(AlphaWarning):
        content, _, *_ = display_encoding(tmp_path / "d.png")
    assert _decode(content).shape == (7, 5, 3)                      # alpha composited for display


def test_create_study_is_content_addressed(db_url, tmp_path):
    engine = _engine(db_url)
    ds = write_sample_dataset(tmp_path / "ds", images=2)
    spec = load_spec(write_sample_spec(tmp_path / "s.toml", ds))
    first = create_study(engine, spec)
    with engine.connect() as conn:
        n_images = conn.execute(sa.select(sa.func.count()).select_from(schema.images)).scalar()
        for sha, content in conn.execute(sa.select(schema.images.c.sha256, schema.images.c.content)):
            assert hashlib.sha256(bytes(content)).hexdigest() == sha
        stim = conn.execute(sa.select(schema.stimuli).where(schema.stimuli.c.study_id == first)).mappings().all()
    roles = {r["role"] for r in stim}
    assert roles == {"method", "lq", "gold"}
    assert sum(r["role"] == "method" for r in stim) == 2 * 3
    assert len({r["token"] for r in stim}) == len(stim)
    second = create_study(engine, spec)                               # same bytes: no new image rows
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.images)).scalar() == n_images
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.stimuli)).scalar() == 2 * len(stim)
    assert first != second
    engine.dispose()


def test_create_study_errors_name_the_problem(tmp_path):
    engine = _engine(str(tmp_path / "e.sqlite"))
    ds = write_sample_dataset(tmp_path / "ds", images=2)
    with pytest.raises(SpecError) as err:
        create_study(engine, load_spec(write_sample_spec(tmp_path / "a.toml", ds, methods=("alpha", "zeta"))))
    assert err.value.key == "stimuli.methods" and "zeta" in str(err.value)
    plan = load_spec(write_sample_spec(tmp_path / "b.toml", ds))
    with pytest.raises(SpecError, match="img77"):
        create_study(engine, dataclasses.replace(plan, images=("img00", "img77")))
    for f in (tmp_path / "ds" / "lq").iterdir():
        f.unlink()
    with pytest.raises(DatasetError, match="lq"):
        create_study(engine, load_spec(write_sample_spec(tmp_path / "c.toml", ds)))
    with engine.connect() as conn:                                   # failed imports leave nothing behind
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.studies)).scalar() == 0
    engine.dispose()


def _judge_all(service, token, answer="A"):
    n = 0
    while (trial := service.next_trial(token)) is not None:
        service.record_judgment(token, trial=trial["trial"], answers={"overall": answer},
                                client_id=uuid.uuid4().hex)
        n += 1
    return n


def test_two_processes_share_scheduler_state(db_url, tmp_path):
    """Two services on one database (as two server processes) see each other's trials and judgments."""
    engine_a, engine_b = _engine(db_url), make_engine(db_url)
    ds = write_sample_dataset(tmp_path / "ds", images=2, methods=("m1", "m2", "m3", "m4"))
    spec = load_spec(write_sample_spec(tmp_path / "s.toml", ds, methods=("m1", "m2", "m3", "m4"),
                                       study='design = "active"\nblocks = "none"\njudgments_per_session = 6'))
    study = create_study(engine_a, spec)
    a, b = StudyService(engine_a), StudyService(engine_b)
    tokens = []
    for k in range(6):
        svc = (a, b)[k % 2]
        tokens.append(svc.start_session(study, f"p{k}")[0]["session"])
        if k % 3 == 0:
            _judge_all(svc, tokens[-1], answer="AB"[k % 2])
    # a fresh sync of b books every regular trial of both and observes every regular judgment
    state = b.state(study)
    with engine_b.begin() as conn:
        from eyetest.study.planning import sync

        sync(conn, state)
    t = schema.trials.c
    regular = sa.and_(t.is_gold.is_(False), t.is_repeat.is_(False), t.is_training.is_(False),
                      t.is_attention.is_(False))
    with engine_a.connect() as conn:
        n_regular = conn.execute(sa.select(sa.func.count()).where(regular)).scalar()
        n_answered = conn.execute(sa.select(sa.func.count()).where(regular, t.answered.is_(True))).scalar()
    sched = state.scheduler
    assert sched.n_observed == n_answered > 0
    assert sched.shown.sum() == 2 * n_regular
    assert sched.pending.sum() == n_regular - n_answered
    engine_a.dispose()
    engine_b.dispose()


def test_full_design_shows_every_pair_once_across_processes_and_restarts(db_url, tmp_path):
    """Two services on one database, and a cache reset (a restart), keep "every pair once per replicate"."""
    engine_a, engine_b = _engine(db_url), make_engine(db_url)
    methods = tuple(f"m{k}" for k in range(6))                                   # 15 pairs
    ds = write_sample_dataset(tmp_path / "ds", images=1, methods=methods, mixed_formats=False)
    spec = load_spec(write_sample_spec(
        tmp_path / "s.toml", ds, methods=methods, study='design = "full"\njudgments_per_session = 8',
        quality="gold_fraction = 0.0\nrepeat_fraction = 0.0\nattention_fraction = 0.0"))
    study = create_study(engine_a, spec)
    a, b = StudyService(engine_a), StudyService(engine_b)
    for k in range(5):                      # sessions alternate between the two "processes"
        if k == 4:
            a.state(study).reset()          # ... and the first one restarts before the last session
        (a, b)[k % 2].start_session(study, f"p{k}")
    t = schema.trials.c
    with engine_a.connect() as conn:
        rows = conn.execute(sa.select(t.condition_a, t.condition_b).where(
            t.study_id == study, t.is_gold.is_(False), t.is_repeat.is_(False), t.is_training.is_(False),
            t.is_attention.is_(False)).order_by(t.id)).all()
    pairs = [frozenset(r) for r in rows]
    assert len(pairs) == 40
    assert len(set(pairs[:15])) == 15 and len(set(pairs[15:30])) == 15     # two full replicates
    engine_a.dispose()
    engine_b.dispose()


def test_spec_active_utility_reaches_the_scheduler(tmp_path):
    from eyetest.study.planning import design_options, sync

    engine = _engine(str(tmp_path / "u.sqlite"))
    ds = write_sample_dataset(tmp_path / "ds", images=2)
    spec = load_spec(write_sample_spec(tmp_path / "s.toml", ds, study='design = "active"\nactive_utility = "eig"'))
    study = create_study(engine, spec)
    svc = StudyService(engine)
    svc.start_session(study, "p0")
    state = svc.state(study)
    with engine.begin() as conn:
        sync(conn, state)
    assert state.scheduler.utility_name == "eig"
    # a plan stored before the key existed gets the sampler's default
    old = {k: v for k, v in spec.to_dict().items() if k != "active_utility"}
    assert design_options(old) == {} and design_options(spec.to_dict()) == {"utility": "eig"}
    assert design_options(dict(spec.to_dict(), design="swiss", active_utility=None)) == {}
    engine.dispose()


def test_session_start_is_idempotent_and_validated(db_url, tmp_path):
    engine = _engine(db_url)
    ds = write_sample_dataset(tmp_path / "ds", images=2)
    study = create_study(engine, load_spec(write_sample_spec(tmp_path / "s.toml", ds)))
    svc = StudyService(engine)
    first, created = svc.start_session(study, "worker-1", meta={"PROLIFIC_PID": "x"})
    again, created2 = svc.start_session(study, "worker-1")
    assert created and not created2 and first == again
    with pytest.raises(Invalid):
        svc.start_session(study, "bad\nname")
    with pytest.raises(NotFound):
        svc.start_session("nostudy", "w")
    with pytest.raises(Invalid):
        svc.record_judgment(first["session"], trial=1, answers={"overall": "A"}, client_id="short")
    engine.dispose()


def test_session_plan_is_a_function_of_seed_and_token(tmp_path):
    """The same study seed and session token give the same trial layout (reproducible schedules)."""
    from eyetest.study.planning import load_state, plan_session, sync

    layouts = []
    for k in range(2):
        engine = _engine(str(tmp_path / f"d{k}.sqlite"))
        ds = write_sample_dataset(tmp_path / f"ds{k}", images=3)
        spec = load_spec(write_sample_spec(tmp_path / f"s{k}.toml", ds, study='design = "full"',
                                           quality="gold_fraction = 0.1\nrepeat_fraction = 0.1"))
        study = create_study(engine, spec, study_id="fixed")
        with engine.begin() as conn:
            state = load_state(conn, study, {**conn.execute(sa.select(schema.studies.c.spec)).scalar()})
            sync(conn, state)
            rows = plan_session(state, "the-same-token")
        layouts.append([(r["condition_a"], r["condition_b"], r["is_gold"], r["is_repeat"]) for r in rows])
        engine.dispose()
    assert layouts[0] == layouts[1]
    assert any(x[2] for x in layouts[0]) and any(x[3] for x in layouts[0])


def test_record_batch_stores_valid_items_only(db_url, tmp_path):
    """Group commit: one transaction, each item in its own savepoint; refusals change nothing."""
    from eyetest.study.service import Conflict, ServiceError

    engine = _engine(db_url)
    ds = write_sample_dataset(tmp_path / "ds", images=2)
    study = create_study(engine, load_spec(write_sample_spec(tmp_path / "s.toml", ds)))
    svc = StudyService(engine)
    a = svc.start_session(study, "a")[0]["session"]
    b = svc.start_session(study, "b")[0]["session"]
    ta, tb = svc.next_trial(a)["trial"], svc.next_trial(b)["trial"]
    items = [
        dict(token=a, trial=ta, answers={"overall": "A"}, client_id="c-first-000"),
        dict(token=a, trial=ta, answers={"overall": "A"}, client_id="c-first-000"),   # replay in the batch
        dict(token=a, trial=ta, answers={"overall": "B"}, client_id="c-second-00"),   # trial already answered
        dict(token=a, trial=tb, answers={"overall": "A"}, client_id="c-other-000"),   # not this session's
        dict(token=b, trial=tb, answers={"overall": "X"}, client_id="c-invalid-0"),   # bad choice
        dict(token=b, trial=tb, answers={"overall": "tie"}, client_id="bad id!"),     # bad client id
        dict(token=b, trial=tb, answers={"overall": "tie"}, client_id="c-b-ok-0000"),
    ]
    res = svc.record_batch(items)
    assert res[0][1] is True and res[1][1] is False and res[6][1] is True
    assert isinstance(res[2], Conflict)
    assert [type(r).__name__ for r in res[3:6]] == ["NotFound", "Invalid", "Invalid"]
    assert all(isinstance(r, ServiceError) for r in res[2:6])
    with engine.connect() as conn:
        rows = conn.execute(sa.select(schema.judgments.c.client_id, schema.judgments.c.answers)
                            .order_by(schema.judgments.c.id)).all()
    assert [(c, ans) for c, ans in rows] == [("c-first-000", {"overall": "A"}), ("c-b-ok-0000", {"overall": "tie"})]
    engine.dispose()


def test_judgment_outcomes_and_session_finish(db_url, tmp_path):
    """Every outcome of a judgment, on both databases (PostgreSQL: the probe + store statements)."""
    from eyetest.study.service import Conflict

    engine = _engine(db_url)
    ds = write_sample_dataset(tmp_path / "ds", images=2)
    study = create_study(engine, load_spec(write_sample_spec(
        tmp_path / "s.toml", ds, study="judgments_per_session = 4", quality="gold_fraction = 0.25")))
    svc = StudyService(engine)
    a = svc.start_session(study, "a")[0]["session"]
    b = svc.start_session(study, "b")[0]["session"]
    ta, tb = svc.next_trial(a), svc.next_trial(b)
    assert ta["training"] and ta["position"] == 0                   # the sample spec has training trials

    def judge(token, trial, answer="A", cid=None):
        return svc.record_judgment(token, trial=trial, answers={"overall": answer},
                                   client_id=cid or uuid.uuid4().hex, elapsed_ms=1500)

    with pytest.raises(NotFound):
        judge(a, tb["trial"])                                        # another session's trial
    with pytest.raises(NotFound):
        judge(a, 10**12)                                             # no such trial
    with pytest.raises(NotFound):
        judge("no-such-session", ta["trial"])
    with pytest.raises(Invalid):
        judge(a, ta["trial"], answer="C")
    receipt, created = judge(a, ta["trial"], cid="first-cid-1")
    assert created and receipt["stored"] and not receipt["finished"]
    assert set(receipt["feedback"]) == {"expected", "correct"}      # training: feedback
    again, created = judge(a, ta["trial"], answer="B", cid="first-cid-1")
    assert not created and again == {"trial": ta["trial"], "client_id": "first-cid-1", "stored": True}
    with pytest.raises(Conflict, match="already answered"):
        judge(a, ta["trial"])
    with pytest.raises(Conflict, match="another judgment"):
        judge(b, tb["trial"], cid="first-cid-1")
    finished = []
    while (trial := svc.next_trial(a)) is not None:
        receipt, created = judge(a, trial["trial"], answer="B")
        assert created
        finished.append(receipt["finished"])
    assert finished and finished[-1] and not any(finished[:-1])     # only the last answer finishes
    assert svc.session_info(a)["finished"] and not svc.session_info(b)["finished"]
    svc.set_status(study, "closed")
    with pytest.raises(Conflict, match="closed"):
        judge(b, tb["trial"])
    with engine.connect() as conn:
        j = schema.judgments.c
        stored = conn.execute(sa.select(j.client_id, j.session_token, j.elapsed_ms)).all()
        answered = conn.execute(sa.select(sa.func.count()).where(schema.trials.c.answered.is_(True))).scalar()
    assert len(stored) == answered == len(finished) + 1
    assert {s for _, s, _ in stored} == {a} and {e for *_, e in stored} == {1500}
    engine.dispose()


def _session_trials(engine, token):
    t = schema.trials.c
    with engine.connect() as conn:
        return conn.execute(sa.select(t.id, t.position).where(t.session_token == token).order_by(t.position)).all()


def test_session_finishes_in_any_answer_order(db_url, tmp_path):
    """The API accepts a session's trials in any order: the last one answered finishes it (both hot paths)."""
    engine = _engine(db_url)
    ds = write_sample_dataset(tmp_path / "ds", images=2)
    spec = write_sample_spec(tmp_path / "s.toml", ds, study="judgments_per_session = 4")
    study = create_study(engine, load_spec(spec))
    svc = StudyService(engine)
    token = svc.start_session(study, "backwards")[0]["session"]
    trials = _session_trials(engine, token)
    finished = [svc.record_judgment(token, trial=tid, answers={"overall": "A"}, client_id=uuid.uuid4().hex)[0]
                ["finished"] for tid, _ in reversed(trials)]
    assert finished == [False] * (len(trials) - 1) + [True]
    info = svc.session_info(token)
    assert info["finished"] and info["answered"] == len(trials) and info["completion_code"] == "DONE-1234"
    assert svc.next_trial(token) is None
    with engine.connect() as conn:
        assert conn.execute(sa.select(schema.sessions.c.finished_at)).scalar() is not None
        # every trial answered counts as finished even without finished_at (concurrent last answers)
        conn.execute(sa.update(schema.sessions).values(finished_at=None))
        conn.commit()
    assert svc.session_info(token)["finished"]
    engine.dispose()


class _HeldWriters:
    """Makes two judgments overlap: an outside transaction holds what their writes need and lets go
    only once both wait behind it (PostgreSQL: the trials' rows, the waits seen in pg_stat_activity;
    SQLite: the write lock), so both have started before either commits."""

    def __init__(self, engine, trial_ids):
        self.engine, self.trial_ids = engine, list(trial_ids)

    def __enter__(self):
        if self.engine.dialect.name == "sqlite":
            import sqlite3

            # note each writer thread as it checks out a write connection: its transaction then begins
            # with BEGIN IMMEDIATE, which waits (busy_timeout) behind the lock held here
            self.started, self.seen = threading.Condition(), set()
            sa.event.listen(self.engine, "engine_connect", self._writer_started)
            self.conn = sqlite3.connect(self.engine.url.database, isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            import psycopg

            self.url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self.conn = psycopg.connect(self.url)
            self.conn.execute("SELECT 1 FROM trials WHERE id = ANY(%s) FOR UPDATE", (self.trial_ids,))
        return self

    def release_when_waiting(self, writers: int, alive) -> None:
        if self.engine.dialect.name == "sqlite":
            with self.started:                   # both writers are waiting for the write lock
                assert self.started.wait_for(lambda: len(self.seen) >= writers, timeout=20) and alive(), \
                    "the writers never began"
            self.conn.rollback()
            return
        import psycopg

        deadline = time.monotonic() + 20
        with psycopg.connect(self.url, autocommit=True) as watch:
            while watch.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                "AND wait_event_type = 'Lock'").fetchone()[0] < writers:
                assert alive() and time.monotonic() < deadline, "the writers never queued behind the lock"
                time.sleep(0.01)
        self.conn.commit()

    def _writer_started(self, conn) -> None:
        from eyetest.store.engine import READ_ONLY_OPTION

        if conn.get_execution_options().get(READ_ONLY_OPTION):
            return                               # a read: never waits for the write lock
        with self.started:
            self.seen.add(threading.get_ident())
            self.started.notify_all()

    def __exit__(self, *exc):
        if self.engine.dialect.name == "sqlite":
            sa.event.remove(self.engine, "engine_connect", self._writer_started)
        self.conn.close()


def test_simultaneous_last_answers_finish_the_session_exactly_once(db_url, tmp_path):
    """Two last answers that overlap: ``finished_at`` is set and exactly one receipt says finished.

    Before the fix, on PostgreSQL each store statement saw the other's trial still unanswered in its
    snapshot, so neither finished the session (found by running both from threads, about 2 rounds
    in 3)."""
    engine = _engine(db_url)
    ds = write_sample_dataset(tmp_path / "ds", images=2)
    study = create_study(engine, load_spec(write_sample_spec(tmp_path / "s.toml", ds,
                                                             study="judgments_per_session = 4")))
    svc = StudyService(engine)
    for k in range(2):
        token = svc.start_session(study, f"p{k}")[0]["session"]
        trials = [tid for tid, _ in _session_trials(engine, token)]
        for tid in trials[:-2]:
            svc.record_judgment(token, trial=tid, answers={"overall": "A"}, client_id=uuid.uuid4().hex)
        last = trials[-2:] if k == 0 else trials[:-3:-1]
        results: list = [None, None]

        def answer(i, token=token, last=last, results=results):
            try:
                results[i] = svc.record_judgment(token, trial=last[i], answers={"overall": "B"},
                                                 client_id=uuid.uuid4().hex)[0]
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                results[i] = exc

        with _HeldWriters(engine, last) as held:
            threads = [threading.Thread(target=answer, args=(i,)) for i in range(2)]
            for th in threads:
                th.start()
            held.release_when_waiting(2, lambda threads=threads: all(th.is_alive() for th in threads))
            for th in threads:
                th.join(30)
        assert all(isinstance(r, dict) for r in results), results
        assert sorted(r["finished"] for r in results) == [False, True]
        with engine.connect() as conn:
            s = schema.sessions.c
            assert conn.execute(sa.select(s.finished_at).where(s.token == token)).scalar() is not None
        info = svc.session_info(token)
        assert info["finished"] and info["answered"] == info["trial_count"] == len(trials)
    engine.dispose()


def test_prolific_redirect_quotes_the_completion_code(tmp_path):
    """A code stored before codes were restricted still reaches Prolific whole."""
    from eyetest.study.service import PROLIFIC_COMPLETE
    from eyetest.study.spec import Crowd

    engine = _engine(str(tmp_path / "c.sqlite"))
    ds = write_sample_dataset(tmp_path / "ds", images=2)
    plan = load_spec(write_sample_spec(tmp_path / "s.toml", ds, study="judgments_per_session = 2"))
    study = create_study(engine, dataclasses.replace(plan, crowd=Crowd("prolific", "AB 12&x=1#y")))
    svc = StudyService(engine)
    token = svc.start_session(study, "pid")[0]["session"]
    _judge_all(svc, token)
    assert svc.session_info(token)["redirect"] == PROLIFIC_COMPLETE + "AB%2012%26x%3D1%23y"
    engine.dispose()


def test_create_study_keeps_outputs_without_reference_unless_shown(tmp_path):
    """A human study needs gt/ only as context; otherwise skipped images are named with the reason."""
    engine = _engine(str(tmp_path / "g.sqlite"))
    ds = write_sample_dataset(tmp_path / "ds", images=3)
    (ds / "gt" / "img01.png").unlink()

    def images_of(study):
        with engine.connect() as conn:
            return conn.execute(sa.select(schema.studies.c.spec).where(schema.studies.c.id == study)).scalar()["images"]

    notes = []
    lq = load_spec(write_sample_spec(tmp_path / "lq.toml", ds, context="lq", study="judgments_per_session = 4"))
    assert images_of(create_study(engine, lq, notes=notes)) == ["img00", "img01", "img02"] and notes == []
    assert create_study(engine, dataclasses.replace(lq, images=("img00", "img01")))
    gt = dataclasses.replace(lq, context="gt")
    assert images_of(create_study(engine, gt, notes=notes)) == ["img00", "img02"]
    assert len(notes) == 1 and "img01" in notes[0] and "no reference" in notes[0] and "gt" in notes[0]
    with pytest.raises(SpecError) as err:
        create_study(engine, dataclasses.replace(gt, images=("img00", "img01")))
    assert err.value.key == "stimuli.images" and "'img01'" in str(err.value) and "no reference" in str(err.value)
    (ds / "methods" / "beta" / "img02.png").unlink()
    with pytest.raises(SpecError) as err:
        create_study(engine, dataclasses.replace(lq, images=("img02",)))
    assert "method 'beta' has no output" in str(err.value) and str(ds / "methods" / "beta") in str(err.value)
    notes.clear()
    assert images_of(create_study(engine, lq, notes=notes)) == ["img00", "img01"]
    assert any("img02" in n and "'beta'" in n for n in notes)
    engine.dispose()


def test_create_study_prepares_images_outside_the_write_transaction(tmp_path, monkeypatch):
    """Reading and converting images never holds the database's write lock (a live server keeps writing)."""
    import sqlite3

    from eyetest.study import importer

    path = tmp_path / "live.sqlite"
    engine = _engine(str(path))
    ds = write_sample_dataset(tmp_path / "ds", images=2)
    calls = []

    def encode_while_others_write(p):
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")          # 'database is locked' inside the import's transaction
            other.execute("ROLLBACK")
        finally:
            other.close()
        calls.append(p)
        return display_encoding(p)

    monkeypatch.setattr(importer, "display_encoding", encode_while_others_write)
    study = create_study(engine, load_spec(write_sample_spec(tmp_path / "s.toml", ds)))
    assert len(calls) >= 2 * 3
    with engine.connect() as conn:
        stim = conn.execute(sa.select(sa.func.count()).where(schema.stimuli.c.study_id == study)).scalar()
    assert stim == 2 * 3 + 2 + 2 * 2                        # outputs, lq context, gold pairs
    engine.dispose()


def test_create_study_notes_short_sessions_and_checks_the_taxonomy(tmp_path):
    engine = _engine(str(tmp_path / "n.sqlite"))
    ds = write_sample_dataset(tmp_path / "ds", images=4)
    notes = []
    create_study(engine, load_spec(write_sample_spec(tmp_path / "a.toml", ds, study="judgments_per_session = 60")),
                 notes=notes)
    # blocks = "image": 4 images x 3 pairs of methods
    assert len(notes) == 1 and "judgments_per_session = 60" in notes[0] and "sessions get 12" in notes[0]
    notes.clear()
    create_study(engine, load_spec(write_sample_spec(tmp_path / "b.toml", ds, study="judgments_per_session = 12")),
                 notes=notes)
    assert notes == []
    create_study(engine, load_spec(write_sample_spec(tmp_path / "c.toml", ds, protocol="rating",
                                                     study="judgments_per_session = 20")), notes=notes)
    assert len(notes) == 1 and "12 stimuli" in notes[0]
    spec = write_sample_spec(tmp_path / "d.toml", ds, extra='[scenarios]\ntaxonomy = ["text", "food"]')
    with pytest.raises(SpecError) as err:
        create_study(engine, load_spec(spec))
    assert err.value.key == "scenarios.taxonomy" and "'img02'" in str(err.value) and "'architecture'" in str(err.value)
    engine.dispose()


def test_write_errors_are_logged_and_only_busy_ones_are_retryable(tmp_path, caplog):
    import sqlite3

    from eyetest.study.service import Unavailable

    engine = _engine(str(tmp_path / "w.sqlite"))
    svc = StudyService(engine)

    def failing(message):
        def fn(conn):
            raise sa.exc.OperationalError("UPDATE sessions", {}, sqlite3.OperationalError(message))
        return fn

    with pytest.raises(sa.exc.OperationalError):           # not transient: a 500, in the log
        svc.write(failing("attempt to write a readonly database"))
    assert "attempt to write a readonly database" in caplog.text and "w.sqlite" in caplog.text
    caplog.clear()
    with pytest.raises(Unavailable):                        # busy: 503, try again
        svc.write(failing("database is locked"))
    assert "database is locked" in caplog.text
    engine.dispose()


def test_writes_are_refused_once_the_sqlite_file_is_replaced(tmp_path, caplog):
    """rm study.sqlite && study create ... under a running server: nothing is acknowledged into the old file."""
    import os

    from eyetest.study.service import ServiceError

    path = tmp_path / "del.sqlite"
    engine = _engine(str(path))
    ds = write_sample_dataset(tmp_path / "ds", images=2)
    study = create_study(engine, load_spec(write_sample_spec(tmp_path / "s.toml", ds)))
    svc = StudyService(engine)
    token = svc.start_session(study, "p")[0]["session"]
    trial = svc.next_trial(token)["trial"]
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{path}{suffix}"):
            os.unlink(f"{path}{suffix}")
    with pytest.raises(ServiceError) as err:
        svc.record_judgment(token, trial=trial, answers={"overall": "A"}, client_id=uuid.uuid4().hex)
    assert err.value.status == 500 and "removed or replaced" in err.value.message
    assert str(path) in caplog.text and "deleted or replaced" in caplog.text
    engine.dispose()
