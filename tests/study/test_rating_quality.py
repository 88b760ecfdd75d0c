"""Rating studies on the server: the balanced design, gold and attention trials, control-trial rates, answers."""

from __future__ import annotations

import hashlib
import io
import json
import uuid

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from PIL import Image

from eyetest.core.design.quality import control_counts
from eyetest.core.judgments.model import condition_id
from eyetest.core.judgments.ranking import rank
from eyetest.core.judgments.screening import screen_raters
from eyetest.core.manipulate import gaussian_blur, jpeg, noise
from eyetest.design import assign_ratings
from eyetest.io.judgments import read_judgments
from eyetest.store import schema
from eyetest.store.engine import make_engine
from eyetest.store.migrate import upgrade
from eyetest.study import export
from eyetest.study.importer import DEGRADE_STREAM, create_study
from eyetest.study.sample import write_sample_dataset, write_sample_spec
from eyetest.study.service import Invalid, StudyService
from eyetest.study.spec import load_spec

METHODS = ("a", "b", "c")


def _engine(url):
    engine = make_engine(url)
    upgrade(engine)
    return engine


def _trials(engine, study):
    t = schema.trials.c
    with engine.connect() as conn:
        return conn.execute(sa.select(schema.trials).where(t.study_id == study).order_by(t.id)).mappings().all()


def _image(engine, token) -> bytes:
    st, im = schema.stimuli.c, schema.images.c
    with engine.connect() as conn:
        return bytes(conn.execute(sa.select(im.content).join(schema.stimuli, st.sha256 == im.sha256)
                                  .where(st.token == token)).scalar_one())


def test_sessions_follow_the_balanced_design_across_processes_and_restarts(db_url, tmp_path):
    """The k-th session gets exactly assign_ratings(...)[k], and its control-trial count control_counts(..., k).

    9 stimuli in blocks of 3 over 12 sessions: the affine plane of order 3 exists (every pair of stimuli
    rated by exactly one common rater), and the design finds it; the server's previous least-shown
    assignment gave pairs that shared 0, 1 or 2 raters.  Sessions alternate between two services on one
    database (two server processes) and the first restarts twice.
    """
    engine_a, engine_b = _engine(db_url), make_engine(db_url)
    ds = write_sample_dataset(tmp_path / "ds", images=3, methods=METHODS, mixed_formats=False)
    spec = load_spec(write_sample_spec(tmp_path / "s.toml", ds, methods=METHODS, protocol="rating", context="none",
                                       study='scale = "acr5"\njudgments_per_session = 3',
                                       quality="gold_fraction = 0.1\nrepeat_fraction = 0.0"))
    study = create_study(engine_a, spec)
    a, b = StudyService(engine_a), StudyService(engine_b)
    tokens = []
    for k in range(12):
        if k in (5, 9):
            a.state(study).reset()                       # what a process restart does to the cache
        tokens.append((a, b)[k % 2].start_session(study, f"p{k}")[0]["session"])
    rows = _trials(engine_a, study)
    engine_a.dispose()
    engine_b.dispose()
    blocks = [[r["condition_a"] for r in rows if r["session_token"] == tok and not r["is_gold"]] for tok in tokens]
    conditions = [condition_id(i, m) for i in ("img00", "img01", "img02") for m in METHODS]
    assert blocks == assign_ratings(conditions, raters=12, per_rater=3, seed=7)
    together = {frozenset(p): 0 for blk in blocks for p in ((blk[0], blk[1]), (blk[0], blk[2]), (blk[1], blk[2]))}
    for blk in blocks:
        for x in blk:
            for y in blk:
                if x < y:
                    together[frozenset((x, y))] += 1
    assert len(together) == 36 and set(together.values()) == {1}
    gold = [sum(r["is_gold"] for r in rows if r["session_token"] == tok) for tok in tokens]
    assert gold == [control_counts(3, seed=7, session=k, gold_fraction=0.1)["gold"] for k in range(12)]
    assert 0 < sum(gold) < 12                       # x = 1/3 per session: round() gave none at all


def _answer(cond: str, careless: bool, expected: str | None):
    """An attentive rater: the reference is fine, the degraded copy bad, the instructed answer given, outputs by
    method."""
    if careless:
        return 3
    method = cond.split("::")[1]
    if method == "__instructed":
        return int(expected.split("-")[0])          # the answer the image's text names (expected = "c-c")
    return {"__reference": 5, "__degraded": 1, "alpha": 5, "beta": 4, "gamma": 2}[method]


def test_gold_and_attention_ratings_are_hidden_flagged_and_screened(db_url, tmp_path):
    engine = _engine(db_url)
    ds = write_sample_dataset(tmp_path / "ds", images=4)
    spec = load_spec(write_sample_spec(
        tmp_path / "r.toml", ds, protocol="rating", context="lq", dimensions=("overall", "sharpness"),
        study='scale = "acr5"\njudgments_per_session = 20',
        quality="gold_fraction = 0.3\nattention_fraction = 0.1\nrepeat_fraction = 0.05\nrepeat_min_gap = 2"))
    study = create_study(engine, spec)
    svc = StudyService(engine)
    payloads = []
    for k in range(6):
        token = svc.start_session(study, f"p{k}")[0]["session"]
        while (trial := svc.next_trial(token)) is not None:
            with engine.connect() as conn:
                cond, payload = conn.execute(sa.select(schema.trials.c.condition_a, schema.trials.c.payload)
                                             .where(schema.trials.c.id == trial["trial"])).one()
            payloads.append(trial)
            value = _answer(cond, careless=k == 5, expected=payload["expected"])
            svc.record_judgment(token, trial=trial["trial"], answers={"overall": value, "sharpness": value},
                                client_id=uuid.uuid4().hex, elapsed_ms=2000)
    rows = _trials(engine, study)
    with engine.connect() as conn:
        records = list(export.iter_records(conn, study))

    # 11 regular trials a session (20 x 0.55); 0.3 / 0.1 / 0.05 of 20: exactly 6 gold, 2 attention, 1 repeat
    per = pd.DataFrame([dict(r) for r in rows]).groupby("session_token")[["is_gold", "is_attention", "is_repeat"]].sum()
    assert (per["is_gold"] == 6).all() and (per["is_attention"] == 2).all() and (per["is_repeat"] == 1).all()
    expected = {"__reference": {"4-5"}, "__degraded": {"1-2"}, "__instructed": {"2-2", "4-4", "1-1", "5-5"}}
    for r in rows:
        method = r["condition_a"].split("::")[1]
        assert r["condition_b"] is None
        if r["is_gold"] or r["is_attention"]:
            assert r["payload"]["expected"] in expected[method]
            assert method == "__instructed" if r["is_attention"] else method in ("__reference", "__degraded")
        else:
            assert method in ("alpha", "beta", "gamma") and r["payload"]["expected"] is None

    # the rater's screen: every trial built alike, nothing in it naming its role or the stimulus
    assert {frozenset(p) for p in payloads} == {frozenset(payloads[0])}
    for p in payloads:
        text = json.dumps({**p, "stimuli": [], "context": {}, "preload": []}).lower()     # all but the URLs
        assert all(x["url"].count("/") == 2 for x in p["stimuli"] + [p["context"]])        # /img/<token>
        assert not any(w in text for w in ("gold", "attention", "reference", "degraded", "blank", "instruct", "__",
                                              "expected"))
        assert [s["slot"] for s in p["stimuli"]] == ["X"] and p["context"]["slot"] == "LQ"
        assert p["questions"] == payloads[0]["questions"] and not p["training"]

    # flagged in the export, excluded from the MOS
    table = export.rating_table(records, scenarios={}, scale="acr5")
    gold = table[table["is_gold"]]
    assert len(gold) == 2 * 6 * 8 and gold["condition"].str.contains("::__").all()
    assert not table.loc[~table["is_gold"], "condition"].str.contains("::__").any()
    regions = set(zip(gold["gold_low"], gold["gold_high"]))
    assert {(4.0, 5.0), (1.0, 2.0)} <= regions <= {(4.0, 5.0), (1.0, 2.0), (1.0, 1.0), (2.0, 2.0), (4.0, 4.0),
                                                   (5.0, 5.0)}
    assert table.loc[~table["is_gold"], "gold_low"].isna().all()
    scale, notes = rank(table, model="mos", by="dimension")
    assert any("48 gold trial(s) (96 judgments) not scaled" in n for n in notes)   # 2 dimensions per trial
    assert not scale["condition"].str.contains("::__").any()
    first = table[~table["is_gold"] & ~table["is_repeat"] & (table["dimension"] == "overall")]
    got = scale[scale["dimension"] == "overall"].set_index("condition")["score"]
    pd.testing.assert_series_equal(got.sort_index(), first.groupby("condition")["value"].mean().sort_index(),
                                   check_names=False)

    # the export read back (CSV) carries the regions; screening excludes the careless rater for its gold
    path = tmp_path / "e.csv"
    path.write_text("".join(export.to_csv(records, ["overall", "sharpness"])))
    back = read_judgments(path)
    pd.testing.assert_frame_equal(back[["is_gold", "gold_low", "gold_high"]].reset_index(drop=True),
                                  table[["is_gold", "gold_low", "gold_high"]].reset_index(drop=True))
    screen = screen_raters(ratings=back[back["dimension"] == "overall"]).table.set_index("rater")
    careless = rows[-1]["session_token"]
    assert screen.loc[careless, "rating_gold_accuracy"] == 0.0 and screen.loc[careless, "rating_n_gold"] == 8
    assert "gold accuracy 0.00 < 0.70 on 8 gold ratings" in screen.loc[careless, "reasons"]
    others = screen.drop(careless)
    assert (others["rating_gold_accuracy"] == 1.0).all() and not others["reasons"].str.contains("gold").any()
    # 6 gold ratings with regions of 2 categories (chance 0.4) and 2 instructed ones of 1 category (0.2)
    assert screen["rating_gold_chance"].round(6).eq(round((6 * 0.4 + 2 * 0.2) / 8, 6)).all()
    engine.dispose()


@pytest.mark.parametrize("scale,top,bottom", [("dcr5", "4-5", "1-2"), ("continuous100", "60-100", "0-40")])
def test_dcr_hidden_reference_and_continuous_regions(tmp_path, scale, top, bottom):
    engine = _engine(str(tmp_path / "d.sqlite"))
    ds = write_sample_dataset(tmp_path / "ds", images=2)
    study = create_study(engine, load_spec(write_sample_spec(
        tmp_path / "d.toml", ds, protocol="rating", context="gt", study=f'scale = "{scale}"\njudgments_per_session = 10',
        quality="gold_fraction = 0.4\nrepeat_fraction = 0.0")))
    svc = StudyService(engine)
    token = svc.start_session(study, "p")[0]["session"]
    by_id = {r["id"]: r for r in _trials(engine, study)}
    seen = set()
    while (trial := svc.next_trial(token)) is not None:
        row = by_id[trial["trial"]]
        method = row["condition_a"].split("::")[1]
        if row["is_gold"]:
            seen.add(method)
            assert row["payload"]["expected"] == {"__reference": top, "__degraded": bottom}[method]
            shown = _image(engine, trial["stimuli"][0]["url"].rsplit("/", 1)[1])
            beside = _image(engine, trial["context"]["url"].rsplit("/", 1)[1])
            # the hidden reference is the reference itself; the degraded copy is not
            assert (hashlib.sha256(shown).digest() == hashlib.sha256(beside).digest()) == (method == "__reference")
        value = 50.0 if scale == "continuous100" else 3
        svc.record_judgment(token, trial=trial["trial"], answers={"overall": value}, client_id=uuid.uuid4().hex)
    assert seen == {"__reference", "__degraded"}
    engine.dispose()


def _psnr(x, y):
    mse = np.mean((x.astype(float) - y.astype(float)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


def test_degraded_copy_is_made_with_the_projects_manipulations(tmp_path):
    engine = _engine(str(tmp_path / "m.sqlite"))
    ds = write_sample_dataset(tmp_path / "ds", images=2, size=(60, 80))
    study = create_study(engine, load_spec(write_sample_spec(
        tmp_path / "m.toml", ds, protocol="rating", context="none", quality="gold_fraction = 0.2")))
    st = schema.stimuli.c
    with engine.connect() as conn:
        tokens = {(r.image, r.method): r.token for r in conn.execute(
            sa.select(st.image, st.method, st.token).where(st.study_id == study, st.role == "gold"))}
    assert set(tokens) == {(i, m) for i in ("img00", "img01") for m in ("__reference", "__degraded")}
    for k, image in enumerate(("img00", "img01")):
        gt = np.asarray(Image.open(ds / "gt" / f"{image}.png"))
        stored = np.asarray(Image.open(io.BytesIO(_image(engine, tokens[(image, "__degraded")]))))
        ref = np.asarray(Image.open(io.BytesIO(_image(engine, tokens[(image, "__reference")]))))
        np.testing.assert_array_equal(ref, gt)
        # blur (sigma = max(4, 2 % of 80) = 4), noise sd 12 levels, JPEG quality 10: composed here by hand
        rng = np.random.default_rng([7, DEGRADE_STREAM, k])
        by_hand = jpeg(noise(gaussian_blur(gt, data_range=255, strength=4.0), data_range=255, strength=12.0,
                             rng=rng), data_range=255, strength=90.0)
        np.testing.assert_array_equal(stored, by_hand)
        assert _psnr(stored, gt) < 25.0
    engine.dispose()


def test_rating_gold_without_references_checks_the_bottom_only_and_says_so(tmp_path):
    engine = _engine(str(tmp_path / "n.sqlite"))
    ds = write_sample_dataset(tmp_path / "ds", images=2)
    for f in (ds / "gt").iterdir():
        f.unlink()
    notes: list = []
    study = create_study(engine, load_spec(write_sample_spec(
        tmp_path / "n.toml", ds, protocol="rating", study="judgments_per_session = 6",
        quality="gold_fraction = 0.2\nattention_fraction = 0.1")),
        notes=notes)
    assert len(notes) == 3 and "at most 3 gold and attention trial(s)" in notes[0]      # 4 regular trials
    assert "no image has a usable reference" in notes[1] and "gt" in notes[1]
    assert "instructions fit the images only at 6 px: too small to read" in notes[2]      # 48 x 64 images
    with engine.connect() as conn:
        spec = conn.execute(sa.select(schema.studies.c.spec).where(schema.studies.c.id == study)).scalar_one()
    assert spec["rating_controls"] == {
        "gold": [["img00::__degraded", 1.0, 2.0], ["img01::__degraded", 1.0, 2.0]],
        "attention": [["img00::__instructed", 2.0, 2.0], ["img01::__instructed", 4.0, 4.0]]}
    engine.dispose()


def test_answers_are_checked_naming_value_and_dimension_and_categories_stored_as_integers(db_url, tmp_path):
    engine = _engine(db_url)
    ds = write_sample_dataset(tmp_path / "ds", images=2)
    studies = {scale: create_study(engine, load_spec(write_sample_spec(
        tmp_path / f"{scale}.toml", ds, name=scale, protocol="rating", context="gt",
        dimensions=("overall", "sharpness"), study=f'scale = "{scale}"\njudgments_per_session = 3')))
        for scale in ("acr5", "dcr5", "continuous100")}
    svc = StudyService(engine)
    cases = {"acr5": ({"overall": 7, "sharpness": 2}, "answer for 'overall' must be one of [1, 2, 3, 4, 5], got 7",
                      {"overall": 3.0, "sharpness": 5}),
             "dcr5": ({"overall": 4, "sharpness": 2.5}, "answer for 'sharpness' must be one of [1, 2, 3, 4, 5], got 2.5",
                      {"overall": 1.0, "sharpness": 4.0}),
             "continuous100": ({"overall": 170, "sharpness": 2}, "must be a number from 0 to 100, got 170",
                               {"overall": 3, "sharpness": 99.5})}
    for scale, (bad, message, good) in cases.items():
        token = svc.start_session(studies[scale], "p")[0]["session"]
        trial = svc.next_trial(token)["trial"]
        with pytest.raises(Invalid) as err:
            svc.record_judgment(token, trial=trial, answers=bad, client_id=uuid.uuid4().hex)
        assert message in str(err.value.message)
        svc.record_judgment(token, trial=trial, answers=good, client_id=uuid.uuid4().hex)
        with engine.connect() as conn:
            stored = conn.execute(sa.select(schema.judgments.c.answers)
                                  .where(schema.judgments.c.trial_id == trial)).scalar_one()
        if scale == "continuous100":
            assert stored == {"overall": 3.0, "sharpness": 99.5}
        else:
            assert stored == {k: int(v) for k, v in good.items()}
            assert all(type(v) is int for v in stored.values())          # 3, not 3.0
    token = svc.start_session(studies["continuous100"], "q")[0]["session"]
    with pytest.raises(Invalid, match="got nan"):
        svc.record_judgment(token, trial=svc.next_trial(token)["trial"], answers={"overall": float("nan"),
                                                                                 "sharpness": 1},
                            client_id=uuid.uuid4().hex)
    engine.dispose()


def test_rank_report_and_admin_exclude_the_same_raters_of_a_two_question_study(tmp_path):
    """Two questions, "sharpness" asked first: rank, the report and the admin table screen "overall" alike.

    Before: ``eyetest rank --exclude-raters auto`` screened both questions pooled (each gold trial counted
    twice: 3 gold trials passed the ">= 5 gold ratings" rule), the admin table the spec's first question and
    no speed rule (min_ms_per_trial unset = 0), the report "overall" with a 1200 ms speed rule.  Here p4
    answers "sharpness" carelessly (3 throughout) and "overall" attentively; p5 is attentive but answers in
    600 ms: by the documented rules only p5 is excluded, everywhere.
    """
    from click.testing import CliRunner

    from eyetest.cli.main import cli
    from eyetest.report.build import collect
    from eyetest.report.sections import Context
    from eyetest.study import results

    db = str(tmp_path / "x.sqlite")
    engine = _engine(db)
    ds = write_sample_dataset(tmp_path / "ds", images=4)
    spec = load_spec(write_sample_spec(
        tmp_path / "x.toml", ds, protocol="rating", context="none", dimensions=("sharpness", "overall"),
        study='scale = "acr5"\njudgments_per_session = 20',
        quality="gold_fraction = 0.3\nattention_fraction = 0.1\nrepeat_fraction = 0.0"))
    study = create_study(engine, spec)
    svc = StudyService(engine)
    who = {}
    for k in range(6):
        token = svc.start_session(study, f"p{k}")[0]["session"]
        who[token] = f"p{k}"
        while (trial := svc.next_trial(token)) is not None:
            with engine.connect() as conn:
                cond, payload = conn.execute(sa.select(schema.trials.c.condition_a, schema.trials.c.payload)
                                             .where(schema.trials.c.id == trial["trial"])).one()
            value = _answer(cond, careless=False, expected=payload["expected"])
            svc.record_judgment(token, trial=trial["trial"], client_id=uuid.uuid4().hex,
                                answers={"sharpness": 3 if k == 4 else value, "overall": value},
                                elapsed_ms=600 if k == 5 else 2500)
    with engine.connect() as conn:
        records = list(export.iter_records(conn, study))
    path = tmp_path / "e.csv"
    path.write_text("".join(export.to_csv(records, ["sharpness", "overall"])))

    admin = {who[r["rater"]] for r in results.rater_quality(svc, study)["raters"] if r["excluded"]}
    out = CliRunner().invoke(cli, ["rank", str(path), "--by", "dimension", "--exclude-raters", "auto",
                                   "--out", str(tmp_path / "s.csv")])
    assert out.exit_code == 0, out.output
    ranked = {who[line.split(":")[0].strip()] for line in out.output.splitlines()
              if line.startswith("  ") and ":" in line and line.strip().split(":")[0] in who}
    ctx = Context.from_inputs(collect(study=(db, study)), seed=0, compare=None, regime=None, n_boot=20,
                              exclude_raters="auto")
    report = {who[r] for r in ctx.excluded}
    engine.dispose()
    assert admin == ranked == report == {"p5"}, (admin, ranked, report)
    assert ctx.screen.dimension == "overall"
