"""Quality-control stimuli look like the regular ones; rating attention checks carry their answer."""

from __future__ import annotations

import asyncio
import io

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from eyetest.store import schema
from eyetest.store.engine import make_engine
from eyetest.store.migrate import upgrade
from eyetest.study.controls import degraded_ssim, instruction_lines, render_instruction
from eyetest.study.importer import create_study, degrade
from eyetest.study.planning import questions_for
from eyetest.study.sample import write_sample_dataset, write_sample_spec
from eyetest.study.spec import load_spec
from eyetest.web.app import create_app

METHODS = ("alpha", "beta", "gamma")


def _jpeg_dataset(root, *, images=3, size=(96, 128)):
    """The sample dataset with every method output a JPEG (quality 85, 4:2:0; img00 progressive); references
    stay PNG."""
    ds = write_sample_dataset(root, images=images, size=size, mixed_formats=False)
    for method in METHODS:
        for path in (ds / "methods" / method).iterdir():
            Image.open(path).convert("RGB").save(path.with_suffix(".jpg"), quality=85,
                                                 progressive=path.stem == "img00")
            path.unlink()
    return ds


def _study(tmp_path, ds, *, protocol="rating", scale="acr5", context="none", name="s"):
    db = str(tmp_path / f"{name}.sqlite")
    engine = make_engine(db)
    upgrade(engine)
    study = create_study(engine, load_spec(write_sample_spec(
        tmp_path / f"{name}.toml", ds, name=name, protocol=protocol, context=context,
        study=(f'scale = "{scale}"\n' if protocol == "rating" else "") + "judgments_per_session = 10",
        quality="gold_fraction = 0.2\nattention_fraction = 0.1\nrepeat_fraction = 0.0")))
    st = schema.stimuli.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(st.image, st.method, st.role, st.token).where(st.study_id == study)).all()
        spec = conn.execute(sa.select(schema.studies.c.spec).where(schema.studies.c.id == study)).scalar_one()
    engine.dispose()
    return db, study, rows, spec


def _served(db, tokens):
    """``token -> (Content-Type, bytes)`` as the server's ``/img/`` route sends them."""
    app = create_app(db, admin_token="controls-admin", rate_per_address=(0, 0), rate_per_session=(0, 0))

    async def fetch():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            out = {}
            for token in tokens:
                r = await http.get(f"/img/{token}")
                assert r.status_code == 200
                out[token] = (r.headers["content-type"], r.content)
            return out

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(fetch())
    finally:
        loop.close()
        app.state.engine.dispose()


@pytest.mark.parametrize("protocol", ["rating", "pairwise"])
def test_control_stimuli_are_served_like_the_regular_stimuli_of_their_image(tmp_path, protocol):
    """JPEG outputs: every gold and attention stimulus is a JPEG of the outputs' size and quantisation tables.

    Before, they were PNGs (the reference, the degraded copy, the grey image): the Content-Type, and a file
    many times larger (the lossless reference) or smaller (flat grey) than the outputs, told them apart.
    """
    ds = _jpeg_dataset(tmp_path / "ds")
    db, _, rows, _ = _study(tmp_path, ds, protocol=protocol)
    served = _served(db, [r.token for r in rows])
    controls = [r for r in rows if r.role in ("gold", "attention")]
    assert {r.method for r in controls} == ({"__reference", "__degraded", "__instructed"} if protocol == "rating"
                                            else {"__reference", "__degraded", "__blank"})
    for image in {r.image for r in rows}:
        regular = [r for r in rows if r.image == image and r.role == "method"]
        looks = set()
        for r in regular:
            media, content = served[r.token]
            with Image.open(io.BytesIO(content)) as im:
                looks.add((media, im.format, im.size, im.mode, tuple(map(tuple, im.quantization.values())),
                           bool(im.info.get("progressive"))))
        assert len(looks) == 1 and next(iter(looks))[0] == "image/jpeg"
        sizes = [len(served[r.token][1]) for r in regular]
        for r in (c for c in controls if c.image == image):
            media, content = served[r.token]
            with Image.open(io.BytesIO(content)) as im:
                look = (media, im.format, im.size, im.mode, tuple(map(tuple, im.quantization.values())),
                        bool(im.info.get("progressive")))
                assert look in looks, (r.method, media)
            if r.method == "__reference":              # the same encoder and tables: a file of the same order
                assert 0.5 * min(sizes) < len(content) < 2.0 * max(sizes)


def _instructed(rows, spec, db):
    served = _served(db, [r.token for r in rows if r.method == "__instructed"])
    tokens = {r.image: r.token for r in rows if r.method == "__instructed"}
    return [(cond, lo, hi, np.asarray(Image.open(io.BytesIO(served[tokens[cond.split("::")[0]]][1])).convert("RGB")))
            for cond, lo, hi in spec["rating_controls"]["attention"]]


@pytest.mark.parametrize("scale", ["acr5", "dcr5"])
def test_rating_attention_checks_name_their_answer_by_the_label_raters_see(tmp_path, scale):
    """An attention check is an image whose text names one category: the one the trial expects.

    The flat grey image before had no unambiguous rating (expected "Bad"/"Poor"; it has no artefact, and
    "how noisy is it?" has the top answer), so attentive raters could fail it.  Here the text of each stored
    image is matched against the instruction rendered for every label the rater's buttons show (the
    question's labels): the best match is the expected category, and the categories vary.
    """
    ds = write_sample_dataset(tmp_path / "ds", images=4, size=(240, 320), mixed_formats=False)
    db, _, rows, spec = _study(tmp_path, ds, scale=scale, context="gt")
    question = questions_for(spec["plan"])[0]
    labels = dict(zip(question["choices"], question["labels"]))
    regions = set()
    for cond, low, high, shown in _instructed(rows, spec, db):
        assert low == high and low in labels                  # one category: a random clicker is right 1 in 5
        regions.add(low)
        h, w = shown.shape[:2]
        err = {c: np.abs(shown.astype(float) - render_instruction(h, w, instruction_lines(scale, label))[0]).mean()
               for c, label in labels.items()}
        assert min(err, key=err.get) == low, (cond, err)
        assert err[low] < 0.5 * sorted(err.values())[1]
    assert len(regions) == 4 and 3 not in regions            # not "Fair", where a rater who does not look lands


def test_continuous_attention_checks_name_an_end_of_the_slider(tmp_path):
    ds = write_sample_dataset(tmp_path / "ds", images=2, size=(240, 320), mixed_formats=False)
    db, _, rows, spec = _study(tmp_path, ds, scale="continuous100")
    got = _instructed(rows, spec, db)
    assert [(lo, hi) for _, lo, hi, _ in got] == [(0.0, 10.0), (90.0, 100.0)]
    for (_, lo, _, shown), anchor in zip(got, ("Bad", "Excellent")):     # the slider's anchors (questions.js)
        h, w = shown.shape[:2]
        mine, other = (np.abs(shown.astype(float) - render_instruction(h, w, instruction_lines("continuous100", a))[0])
                       .mean() for a in (anchor, {"Bad": "Excellent", "Excellent": "Bad"}[anchor]))
        assert mine < 0.5 * other


def test_instructions_are_readable_and_inside_the_image():
    for h, w in ((300, 448), (512, 512), (1080, 1920), (2040, 1356)):
        for lines in (instruction_lines("acr5", "Excellent"), instruction_lines("dcr5", "Perceptible but not annoying"),
                      instruction_lines("continuous100", "Excellent")):
            img, px = render_instruction(h, w, lines)
            assert img.shape == (h, w, 3) and img.dtype == np.uint8
            assert px >= min(h, w) / 25                     # large text: 12 px and more on 300 x 448
            ink = np.argwhere(img[..., 0] < 64)
            assert len(ink) and ink.min(0)[0] > 0.05 * h and ink.max(0)[0] < 0.95 * h
            assert ink.min(0)[1] > 0.03 * w and ink.max(0)[1] < 0.97 * w


def _write(path, array):
    Image.fromarray(array).save(path)


def test_flat_images_get_no_gold_and_odd_sized_references_are_not_shown(tmp_path):
    """A degraded copy of nearly flat content is no clear "Bad"; a reference of another size stands out.

    img00 is a smooth gradient: its degraded copy keeps an SSIM of ~0.97 to it (natural images 0.4-0.75):
    no gold trials of it, said in a note.  img01's reference is 8 pixels wider than its outputs: not a rating
    gold stimulus, said in a note; pairwise gold then uses the first output as the reference, as without one.
    """
    ds = write_sample_dataset(tmp_path / "ds", images=3, size=(96, 128), mixed_formats=False)
    yy, xx = np.mgrid[0:96, 0:128]
    sky = np.stack([100 + 0.8 * yy, 150 + 0.4 * yy, 230 - 0.2 * xx], -1).round().astype(np.uint8)
    assert degraded_ssim(sky, degrade(sky, rng=np.random.default_rng(0))) > 0.9
    _write(ds / "gt" / "img00.png", sky)
    for m in METHODS:
        _write(ds / "methods" / m / "img00.png", sky)
    wide = np.asarray(Image.open(ds / "gt" / "img01.png"))
    _write(ds / "gt" / "img01.png", np.concatenate([wide, wide[:, :8]], axis=1))
    notes: list = []
    engine = make_engine(str(tmp_path / "f.sqlite"))
    upgrade(engine)
    study = create_study(engine, load_spec(write_sample_spec(
        tmp_path / "f.toml", ds, protocol="rating", context="none", study="judgments_per_session = 10",
        quality="gold_fraction = 0.2")), notes=notes)
    with engine.connect() as conn:
        spec = conn.execute(sa.select(schema.studies.c.spec).where(schema.studies.c.id == study)).scalar_one()
        st = schema.stimuli.c
        stored = {(r.image, r.method) for r in conn.execute(
            sa.select(st.image, st.method).where(st.study_id == study, st.role == "gold"))}
    assert [c for c, _, _ in spec["rating_controls"]["gold"]] == [
        "img01::__degraded", "img02::__reference", "img02::__degraded"]
    assert stored == {("img01", "__degraded"), ("img02", "__reference"), ("img02", "__degraded")}
    assert any("'img00' (SSIM 0.9" in n and "no gold trials" in n for n in notes)
    assert any("'img01' (136 x 96, its outputs 128 x 96)" in n for n in notes)
    pair = create_study(engine, load_spec(write_sample_spec(
        tmp_path / "p.toml", ds, name="p", protocol="pairwise", context="none", quality="gold_fraction = 0.2")))
    with engine.connect() as conn:
        spec = conn.execute(sa.select(schema.studies.c.spec).where(schema.studies.c.id == pair)).scalar_one()
        ims = schema.images.c
        shas = dict(conn.execute(sa.select(st.method, st.sha256).where(st.study_id == pair, st.image == "img01",
                                                                     st.method.in_(["__reference", "alpha"]))).all())
        size = conn.execute(sa.select(ims.width, ims.height).where(ims.sha256 == shas["__reference"])).one()
    assert spec["gold_images"] == ["img01", "img02"] and spec["training_trials"] == 2
    assert shas["__reference"] == shas["alpha"] and tuple(size) == (128, 96)
    engine.dispose()


def test_notes_say_when_control_trials_outnumber_regular_ones_or_the_gold_rule_cannot_apply(tmp_path):
    """10 trials at 0.25 gold + 0.25 attention: 5 regular, x = 2.5 of each kind, each kind 2 or 3 by its own
    seeded offset: with seed 1 both round up together, 6 control trials every other session (noted, and so
    planned); with seed 7 never (no note).  0.02 gold in 20 trials: at most 1 gold trial a session, so the
    ">= 5 gold trials" rule never applies: noted.  Neither for the sketch's 60 trials with 0.08 gold."""
    from eyetest.study.service import StudyService

    ds = write_sample_dataset(tmp_path / "ds", images=20, size=(120, 160), mixed_formats=False)
    engine = make_engine(str(tmp_path / "n.sqlite"))
    upgrade(engine)

    def create(name, study, quality, seed=7):
        notes, path = [], write_sample_spec(tmp_path / f"{name}.toml", ds, name=name, protocol="rating",
                                            context="none", study=study, quality=quality)
        path.write_text(path.read_text().replace("seed = 7\n", f"seed = {seed}\n"))
        return create_study(engine, load_spec(path), notes=notes), notes

    def planned(sid):
        svc, out = StudyService(engine), []
        for k in range(20):
            token = svc.start_session(sid, f"p{k}")[0]["session"]
            with engine.connect() as conn:
                t = schema.trials.c
                rows = conn.execute(sa.select(t.is_gold, t.is_attention).where(t.session_token == token)).all()
            out.append((sum(not (g or a) for g, a in rows), sum(bool(g or a) for g, a in rows)))
        return out

    half = "gold_fraction = 0.25\nattention_fraction = 0.25\nrepeat_fraction = 0.0"
    sid, notes = create("a", "judgments_per_session = 10", half, seed=1)
    assert notes == [("sessions of 5 regular trials get up to 6 control trials (gold, attention and repeat trials "
                      "each rounded up in some sessions: 2.5, 2.5 and 0 on average), more than their regular "
                      "trials: make the sessions longer or lower the quality fractions")]
    counts = planned(sid)
    assert {r for r, _ in counts} == {5} and max(c for _, c in counts) == 6
    sid, notes = create("b", "judgments_per_session = 10", half, seed=7)
    assert notes == [] and {c for _, c in planned(sid)} == {5}
    _, notes = create("c", "judgments_per_session = 20", "gold_fraction = 0.02")
    assert notes == [("sessions of 20 regular trials get at most 1 gold and attention trial(s): the screening's "
                      "gold rule (accuracy on at least 5) never applies to a rater; raise gold_fraction or make the "
                      "sessions longer")]
    _, notes = create("d", "judgments_per_session = 60", "gold_fraction = 0.08\nrepeat_fraction = 0.05")
    assert notes == []
    engine.dispose()
