"""The rater page in a real browser: Debian's chromium driven by Playwright.

The real app (``create_app``) runs under uvicorn on 127.0.0.1 against a
temporary SQLite study made with the backend's importer (three scenes from
scikit-image, three methods, an LQ context at half size).  A rater goes
through consent, training with feedback and every trial by keyboard only;
along the way the tests check that zoom and pan stay synchronised (A's and
B's transforms equal, and the A panel during flicker is pixel for pixel
the B panel before it), that flicker swaps A and B in place, that a reload
resumes the same trial, that a judgment whose acknowledgement was lost is
stored once, and the completion page.  Screenshots go to
``test-artifacts/browser/``.
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

_spec = importlib.util.spec_from_file_location("pages_support", Path(__file__).with_name("pages_support.py"))
support = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("pages_support", support)
_spec.loader.exec_module(support)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    support.need_browser()
    from eyetest.web.app import create_app

    root = tmp_path_factory.mktemp("browser")
    dataset = support.make_dataset(root / "ds")
    db = str(root / "study.sqlite")
    studies = {
        "pairwise": support.make_study(db, dataset, judgments=4, min_ms=400),
        "careful": support.make_study(db, dataset, judgments=1, min_ms=2500, context="none"),
        "board": support.make_study(db, dataset, judgments=6, context="none", dimensions=("overall",)),
        "prolific": support.make_study(db, dataset, judgments=1, platform="prolific", code="PRO-99"),
        "mturk": support.make_study(db, dataset, judgments=1, platform="mturk"),
        "acr": support.make_study(db, dataset, protocol="rating", scale="acr5", context="gt",
                                  dimensions=("overall",), judgments=2),
        "slider": support.make_study(db, dataset, protocol="rating", scale="continuous100", context="none",
                                     dimensions=("overall", "naturalness"), judgments=2),
    }
    served = support.ServedApp(create_app(db, admin_token="admin-secret-token"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(f"sqlite:///{db}")
    yield SimpleNamespace(url=served.url, studies=studies, engine=engine)
    engine.dispose()
    served.stop()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=support.CHROMIUM, args=support.CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 720}, device_scale_factor=1)
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.errors = errors
    yield pg
    context.close()
    # no page script error and nothing blocked by the Content-Security-Policy, in any test
    assert not [e for e in errors if "Content Security Policy" in e or "Error" in e.split(":")[0]], errors


def _rows(server, sql, **params):
    with server.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def _shot(locator) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB")).astype(np.int16)


def _start(page, server, study, participant):
    page.goto(f"{server.url}/study/{server.studies[study]}?participant={participant}")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "agree"
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "start"
    page.keyboard.press("Enter")
    page.wait_for_url("**/s/*")
    _wait_trial(page)
    return page.evaluate("document.body.dataset.session")


def _wait_trial(page, previous=None):
    """Wait until a trial (other than ``previous``) is on screen with its images loaded."""
    page.wait_for_function(
        """prev => document.body.dataset.trial && document.body.dataset.trial !== prev
                  && window.eyetestRater && !window.eyetestRater.busy""",
        arg=previous, timeout=15000)
    return int(page.evaluate("document.body.dataset.trial"))


def _answer_all(page, keys):
    for k in keys:
        page.keyboard.press(k)


def _submit(page, min_ms=400):
    page.wait_for_function("() => !document.getElementById('submit').disabled", timeout=min_ms + 5000)
    page.keyboard.press("Enter")


def _visible_src(page, slot):
    return page.evaluate(
        """slot => { const p = document.getElementById('panel-' + slot);
                     const im = [...p.querySelectorAll('img')].find(i => !i.hidden);
                     return [p.dataset.showing, im.getAttribute('src'), im.dataset.slot]; }""", slot)


def _transforms(page):
    return page.evaluate(
        """() => ['A', 'B', 'context'].map(s => {
              const p = document.getElementById('panel-' + s);
              if (p.hidden) return null;
              const imgs = [...p.querySelectorAll('img')];
              return [getComputedStyle(imgs.find(i => !i.hidden)).transform, ...imgs.map(i => i.style.transform)];
            })""")


def _check_pixel_view(page, server, dpr):
    """After ``P``, A's image is drawn one image pixel per device pixel, unchanged."""
    from PIL import Image

    page.keyboard.press("p")
    info = page.evaluate(
        """() => { const im = [...document.querySelectorAll('#panel-A img')].find(i => !i.hidden);
                   const vp = document.querySelector('#panel-A .viewport').getBoundingClientRect();
                   const m = new DOMMatrix(getComputedStyle(im).transform);
                   return {src: im.getAttribute('src'), x: vp.left + m.e, y: vp.top + m.f, scale: m.a,
                           pixelated: im.classList.contains('pixelated')}; }""")
    assert info["scale"] == pytest.approx(1 / dpr) and not info["pixelated"]
    png = np.asarray(Image.open(io.BytesIO(page.request.get(server.url + info["src"]).body())).convert("RGB"))
    shot = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"))
    x0, y0 = info["x"] * dpr, info["y"] * dpr
    assert x0 == round(x0) and y0 == round(y0)                 # on the device-pixel grid
    crop = shot[int(y0):int(y0) + png.shape[0], int(x0):int(x0) + png.shape[1]]
    assert crop.shape == png.shape
    assert np.abs(crop.astype(int) - png.astype(int)).max() <= 1


def test_full_session_by_keyboard(page, server):
    token = _start(page, server, "pairwise", "kb-rater")
    page.screenshot(path=str(ARTIFACTS / "01-training.png"))
    n_trials = _rows(server, "select trial_count from sessions where token=:t", t=token)[0][0]
    assert page.locator("#progress-text").inner_text() == f"Practice 1 of {n_trials}"
    stimuli = page.evaluate("window.eyetestRater.trial.stimuli")
    assert {s["slot"] for s in stimuli} == {"A", "B"}
    urls = {s["slot"]: s["url"] for s in stimuli}
    # the next trial's images are fetched while this one is on screen
    preload = page.evaluate("window.eyetestRater.trial.preload")
    assert len(preload) == 2 and not set(preload) & set(urls.values())
    page.wait_for_function(
        "urls => urls.every(u => performance.getEntriesByName(location.origin + u).length > 0)", arg=preload)

    # -- zoom and pan: every panel follows (keyboard, wheel, drag) ------------
    fit = float(page.evaluate("document.getElementById('viewer').dataset.scale"))
    page.keyboard.press("+")
    page.keyboard.press("+")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowDown")
    page.mouse.move(640, 300)
    page.mouse.wheel(0, -200)
    page.mouse.down()
    page.mouse.move(600, 260, steps=4)
    page.mouse.up()
    state = page.evaluate("({...document.getElementById('viewer').dataset})")
    assert state["mode"] == "zoom" and float(state["scale"]) > 1.5 * fit
    a_tf, b_tf, ctx_tf = _transforms(page)
    # computed transform of the visible image, then the transforms of both images of the panel
    assert a_tf[0] == b_tf[0] != "none"
    assert a_tf[1] == a_tf[2] == b_tf[1] == b_tf[2]
    # the LQ context is half the size: same translation, twice the scale
    ma = [float(x) for x in a_tf[0][7:-1].split(",")]
    mc = [float(x) for x in ctx_tf[0][7:-1].split(",")]
    assert mc[4:] == pytest.approx(ma[4:]) and mc[0] == pytest.approx(2 * ma[0], rel=1e-4)
    assert page.locator("#panel-A img[data-slot=A]").get_attribute("class") == "pixelated"

    # -- flicker: while Space is held, A's panel shows B's image in place ------
    view_a, view_b = page.locator("#panel-A .viewport"), page.locator("#panel-B .viewport")
    a_normal, b_normal = _shot(view_a), _shot(view_b)
    assert _visible_src(page, "A") == ["A", urls["A"], "A"]
    page.keyboard.down(" ")
    assert _visible_src(page, "A") == ["B", urls["B"], "B"]
    assert _visible_src(page, "B") == ["A", urls["A"], "A"]
    a_flicker = _shot(view_a)
    page.screenshot(path=str(ARTIFACTS / "02-zoomed-flicker.png"))
    page.keyboard.up(" ")
    assert _visible_src(page, "A") == ["A", urls["A"], "A"]
    page.screenshot(path=str(ARTIFACTS / "03-zoomed.png"))
    # A's panel while flickering == B's panel before: same region, same transform
    assert a_flicker.shape == b_normal.shape
    inner = (slice(40, -4), slice(4, -4))       # without the "showing B" tag and the flicker outline
    a_flicker, a_normal, b_normal = a_flicker[inner], a_normal[inner], b_normal[inner]
    same = np.abs(a_flicker - b_normal).mean()
    different = np.abs(a_normal - b_normal).mean()
    assert different > 5.0, different
    assert same < 0.01 * different, (same, different)
    assert np.abs(a_flicker - a_normal).mean() > 5.0

    # -- 100% view (pixel for pixel) and back to fit ----------------------------
    _check_pixel_view(page, server, 1)
    assert page.locator("#zoom-level").inner_text() == "100%"
    page.keyboard.press("0")
    assert page.evaluate("document.getElementById('viewer').dataset.mode") == "fit"

    # -- C hides the context (A and B get wider, still in step), ? shows the keys -
    width = page.locator("#panel-A").bounding_box()["width"]
    page.keyboard.press("c")
    assert page.locator("#panel-context").is_hidden()
    assert page.locator("#panel-A").bounding_box()["width"] > 1.4 * width
    a_tf, b_tf, _ = _transforms(page)
    assert a_tf == b_tf
    page.keyboard.press("c")
    assert page.locator("#panel-context").is_visible()
    page.keyboard.press("?")
    assert page.locator("#help").is_visible() and "flicker" in page.locator("#help").inner_text()
    page.keyboard.press("Escape")
    assert page.locator("#help").is_hidden()

    # -- training trial: answer A for both dimensions, get feedback ------------
    _answer_all(page, ["ArrowLeft", "ArrowLeft"])
    assert page.locator(".question.answered").count() == 2
    _submit(page)
    page.wait_for_selector("#feedback:not([hidden])")
    page.screenshot(path=str(ARTIFACTS / "04-feedback.png"))
    expected = _rows(server, "select payload from trials where session_token=:t and position=0", t=token)[0][0]
    verdict = page.locator("#feedback .verdict").inner_text()
    assert verdict.startswith("Correct") == ('"expected": "A"' in expected)
    first = int(page.evaluate("document.body.dataset.trial"))
    page.keyboard.press("Enter")
    trial = _wait_trial(page, str(first))
    assert sorted(s["url"] for s in page.evaluate("window.eyetestRater.trial.stimuli")) == sorted(preload)

    # -- the remaining trials, with a reload and a lost acknowledgement -------
    answered = 1
    lost_ack = {"armed": False, "done": False}

    def drop_first_ack(route):
        if lost_ack["armed"] and not lost_ack["done"]:
            lost_ack["done"] = True
            route.fetch()            # the server stores the judgment ...
            route.abort()            # ... but the browser never hears back
        else:
            route.continue_()

    page.route("**/judgments", drop_first_ack)
    while True:
        if answered == 2:
            # answer one question, reload: same trial, same answer, nothing stored
            page.keyboard.press("ArrowRight")
            page.reload()
            try:
                _wait_trial(page)
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "debug-reload.png"))
                print(page.errors, page.evaluate("[document.body.dataset.trial, window.eyetestRater && window.eyetestRater.busy, document.getElementById('banner').textContent, document.getElementById('status').textContent]"))
                raise
            assert int(page.evaluate("document.body.dataset.trial")) == trial
            assert page.locator(".question.answered").count() == 1
            assert page.locator(".question.active").get_attribute("data-dimension") == "sharpness"
            page.keyboard.press("ArrowDown")
        elif answered == 3:
            lost_ack["armed"] = True
            _answer_all(page, ["x", "ArrowLeft"])
        else:
            _answer_all(page, ["ArrowRight", "ArrowDown"])
        training = page.evaluate("window.eyetestRater.trial.training")
        _submit(page)
        answered += 1
        if training:
            page.wait_for_selector("#feedback:not([hidden])")
            page.keyboard.press("Enter")
        if answered == n_trials:
            break
        trial = _wait_trial(page, str(trial))
    page.wait_for_url("**/done")
    assert lost_ack["done"]
    page.screenshot(path=str(ARTIFACTS / "05-done.png"))
    assert page.locator("#completion-code").inner_text() == "C0DE42"
    assert page.evaluate("localStorage.getItem('eyetest:pending:' + %r)" % token) is None

    rows = _rows(server, "select j.client_id, j.answers, j.elapsed_ms, t.position from judgments j "
                         "join trials t on t.id = j.trial_id where j.session_token=:t order by t.position", t=token)
    assert [r.position for r in rows] == list(range(n_trials))          # one judgment per trial
    assert len({r.client_id for r in rows}) == n_trials
    assert all(r.elapsed_ms >= 400 for r in rows[1:])                       # min_ms_per_trial held
    assert json.loads(rows[2].answers) == {"overall": "B", "sharpness": "tie"}
    assert json.loads(rows[3].answers) == {"overall": "both_bad", "sharpness": "A"}
    assert not [e for e in page.errors if "ERR_FAILED" not in e and "Failed to load" not in e], page.errors


def test_pixel_view_on_a_hidpi_screen(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 720}, device_scale_factor=2)
    page = context.new_page()
    try:
        _start(page, server, "pairwise", "hidpi-rater")
        _check_pixel_view(page, server, 2)
        assert page.locator("#zoom-level").inner_text() == "100%"
        page.keyboard.press("+")                         # past 1:1: pixelated, never smoothed
        assert page.locator("#panel-B img[data-slot=B]").get_attribute("class") == "pixelated"
    finally:
        context.close()


def test_fit_never_enlarges_a_small_stimulus(page, server):
    # the fixture's stimuli are 160 px; each panel of a 1280 x 720 window is wider and taller, so
    # fitting them to the panel would enlarge them (about 2.4x): fit stops at 1 CSS px per pixel
    _start(page, server, "careful", "fit-rater")
    vp = page.locator("#panel-A .viewport").bounding_box()
    assert min(vp["width"], vp["height"]) > 1.5 * 160
    assert float(page.evaluate("document.getElementById('viewer').dataset.scale")) == pytest.approx(1.0)
    box = page.locator("#panel-A img[data-slot=A]").bounding_box()
    assert box["width"] == pytest.approx(160, abs=0.5) and box["height"] == pytest.approx(160, abs=0.5)
    assert page.locator("#panel-A img[data-slot=A]").get_attribute("class") != "pixelated"
    assert page.locator("#zoom-level").inner_text() == "Fit (100%)"
    page.keyboard.press("+")                             # the rater can still look closer
    assert float(page.evaluate("document.getElementById('viewer').dataset.scale")) > 1.0
    page.keyboard.press("0")
    assert float(page.evaluate("document.getElementById('viewer').dataset.scale")) == pytest.approx(1.0)


def test_next_is_retried_after_a_network_error(page, server):
    calls = []

    def flaky(route):
        calls.append(route.request.url)
        if len(calls) == 1:
            route.abort()
        else:
            route.continue_()

    page.route("**/next", flaky)
    _start(page, server, "pairwise", "flaky-network")
    assert len(calls) >= 2 and page.locator("#panel-A img").count() == 2


def test_answer_sent_while_offline_is_delivered_after_reload(page, server):
    token = _start(page, server, "pairwise", "offline-rater")
    first = page.evaluate("document.body.dataset.trial")
    page.route("**/judgments", lambda route: route.abort("internetdisconnected"))
    _answer_all(page, ["ArrowRight", "ArrowDown"])
    _submit(page)
    page.wait_for_function("() => document.getElementById('banner').textContent.includes('retry')")
    pending = page.evaluate("JSON.parse(localStorage.getItem('eyetest:pending:' + %r))" % token)
    assert pending["trial"] == int(first) and pending["answers"] == {"overall": "B", "sharpness": "tie"}
    assert _rows(server, "select count(*) from judgments where session_token=:t", t=token)[0][0] == 0
    page.unroute("**/judgments")
    page.reload()
    _wait_trial(page, first)
    rows = _rows(server, "select client_id, trial_id from judgments where session_token=:t", t=token)
    assert rows == [(pending["client_id"], int(first))]
    assert page.evaluate("localStorage.getItem('eyetest:pending:' + %r)" % token) is None


def test_min_time_is_enforced_softly(page, server):
    token = _start(page, server, "careful", "hasty-rater")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    first = page.evaluate("document.body.dataset.trial")
    assert page.locator("#submit").is_disabled()
    page.keyboard.press("Enter")                     # too early: refused with a message
    assert "take a moment" in page.locator("#hint").inner_text()
    assert page.evaluate("document.body.dataset.trial") == first
    _submit(page, 2500)
    page.wait_for_selector("#feedback:not([hidden])")
    elapsed = _rows(server, "select elapsed_ms from judgments where session_token=:t", t=token)[0][0]
    assert elapsed >= 2500


def test_rating_pages(page, server):
    token = _start(page, server, "acr", "acr-rater")
    labels = page.locator("#questions .choice").all_inner_texts()
    assert [t.split()[-1] for t in labels] == ["Bad", "Poor", "Fair", "Good", "Excellent"]
    assert page.locator("#panel-B").is_hidden() and page.locator("#panel-context").is_visible()
    page.screenshot(path=str(ARTIFACTS / "06-acr.png"))
    # flicker swaps the rated image and the reference in place
    page.keyboard.down("f")
    assert page.evaluate("document.getElementById('panel-A').dataset.showing") == "GT"
    page.keyboard.up("f")
    page.keyboard.press("4")
    _submit(page)
    trial = _wait_trial(page, page.evaluate("document.body.dataset.trial"))
    page.keyboard.press("2")
    _submit(page)
    page.wait_for_url("**/done")
    answers = [json.loads(r[0]) for r in
               _rows(server, "select answers from judgments where session_token=:t order by id", t=token)]
    assert answers == [{"overall": 4}, {"overall": 2}] and trial

    token = _start(page, server, "slider", "slider-rater")
    page.keyboard.press("ArrowRight")                # first touch puts the slider at 50
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Tab")
    page.keyboard.press("PageDown")
    page.keyboard.press("ArrowLeft")
    page.screenshot(path=str(ARTIFACTS / "07-slider.png"))
    _submit(page)
    page.wait_for_function("() => window.eyetestRater.answered === 1")
    stored = _rows(server, "select answers from judgments where session_token=:t", t=token)[0][0]
    assert json.loads(stored) == {"overall": 57.0, "naturalness": 49.0}


def test_too_small_screen_says_so(browser, server):
    # a small window on a large screen: the session starts, the trial page asks for a larger window
    context = browser.new_context(viewport={"width": 900, "height": 500}, screen={"width": 1920, "height": 1080})
    try:
        page = context.new_page()
        page.goto(f"{server.url}/study/{server.studies['pairwise']}?participant=small-screen")
        assert page.locator("#screen-notice").is_hidden()
        page.check("#agree")
        page.click("#start")
        page.wait_for_url("**/s/*")
        page.wait_for_selector("#too-small", state="visible")
        assert "too small" in page.locator("#too-small").inner_text()
        page.screenshot(path=str(ARTIFACTS / "08-too-small.png"))
        page.set_viewport_size({"width": 1280, "height": 720})
        page.wait_for_selector("#too-small", state="hidden")
    finally:
        context.close()



def test_admin_page(page, server):
    study = server.studies["pairwise"]
    page.goto(f"{server.url}/admin?study={study}")
    page.fill("#admin-token", "wrong-token")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('login-status').textContent.includes('not accepted')")
    assert page.evaluate("sessionStorage.getItem('eyetest:admin-token')") is None
    page.fill("#admin-token", "admin-secret-token")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('study-status').textContent === 'open'")
    assert page.locator("#study-select").input_value() == study
    sessions, judgments, expired = _rows(
        server, "select (select count(*) from sessions where study_id=:s), "
                "(select count(*) from judgments where study_id=:s), "
                "(select count(*) from sessions where study_id=:s and expired_at is not null)", s=study)[0]
    summary = page.locator("#progress-summary").inner_text()
    assert f"{sessions} sessions" in summary and f"{judgments} judgments" in summary
    assert f"{expired} expired" in summary
    page.screenshot(path=str(ARTIFACTS / "09-admin.png"), full_page=True)
    # the token survives a reload of the tab (sessionStorage), and pause/resume work
    page.reload()
    page.wait_for_function("() => document.getElementById('study-status').textContent === 'open'")
    page.click("#btn-pause")
    page.wait_for_function("() => document.getElementById('study-status').textContent === 'paused'")
    assert _rows(server, "select status from studies where id=:s", s=study)[0][0] == "paused"
    assert page.locator("#btn-resume").is_enabled() and page.locator("#btn-pause").is_disabled()
    page.click("#btn-resume")
    page.wait_for_function("() => document.getElementById('study-status').textContent === 'open'")
    assert _rows(server, "select status from studies where id=:s", s=study)[0][0] == "open"
    page.click("#btn-logout")
    assert page.evaluate("sessionStorage.getItem('eyetest:admin-token')") is None
    assert page.locator("#login").is_visible()


def _simulate_raters(server, study, n_raters=8, seed=5):
    """Raters answering through the API: the better method (sharp > blurred > noisy) wins 80 % of the time."""
    import httpx

    rng = np.random.default_rng(seed)
    better = {m: k for k, m in enumerate(support.METHODS)}
    with httpx.Client(base_url=server.url) as http:
        for r in range(n_raters):
            token = http.post(f"/api/v1/studies/{study}/sessions", json={"participant": f"sim-{r}"}).json()["session"]
            while True:
                res = http.get(f"/api/v1/sessions/{token}/next")
                if res.status_code == 204:
                    break
                trial = res.json()
                a, b = _rows(server, "select condition_a, condition_b from trials where id=:i", i=trial["trial"])[0]
                a_wins = better.get(a.split("::")[1], -1) < better.get(b.split("::")[1], -1)
                if rng.random() > 0.8:
                    a_wins = not a_wins
                answer = "A" if a_wins else "B"
                res = http.post(f"/api/v1/sessions/{token}/judgments", json={
                    "trial": trial["trial"], "answers": {q["dimension"]: answer for q in trial["questions"]},
                    "client_id": f"simulated-{r}-{trial['trial']}", "elapsed_ms": 2000})
                assert res.status_code == 201, res.text


def test_admin_leaderboard_and_rater_table(page, server):
    import httpx

    study = server.studies["board"]
    _simulate_raters(server, study)
    auth = {"Authorization": "Bearer admin-secret-token"}
    board = httpx.get(f"{server.url}/api/v1/admin/studies/{study}/leaderboard", headers=auth).json()
    raters = httpx.get(f"{server.url}/api/v1/admin/studies/{study}/raters", headers=auth).json()["raters"]
    page.goto(f"{server.url}/admin?study={study}")
    page.fill("#admin-token", "admin-secret-token")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('#leaderboard tbody tr').length > 0")
    page.screenshot(path=str(ARTIFACTS / "10-admin-leaderboard.png"), full_page=True)

    def shown():
        return [[td.strip() for td in row] for row in page.evaluate(
            "() => [...document.querySelectorAll('#leaderboard tbody tr')].map(tr => [...tr.cells].map(td => td.textContent))")]

    def expected(rows):
        rows = sorted(rows, key=lambda r: -r["score"])
        return [[r["condition"], f"{r['score']:.3f}", f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"] for r in rows]

    assert page.locator("#dimension-select").input_value() == "overall"
    assert page.locator("#scenario-select").input_value() == "(all)"
    assert [r[1:4] for r in shown()] == expected(board["overall"])
    assert shown()[0][1] == "sharp"
    scenarios = sorted({r["scenario"] for r in board["by_scenario"]})
    assert page.locator("#scenario-select option").all_inner_texts() == ["(all)", *scenarios]
    page.select_option("#scenario-select", "food")
    assert [r[1:4] for r in shown()] == expected([r for r in board["by_scenario"] if r["scenario"] == "food"])
    # one row per rater, participant ids as in the API
    names = page.evaluate("() => [...document.querySelectorAll('#raters tbody tr')].map(tr => tr.cells[0].textContent)")
    assert sorted(names) == sorted(r["participant"] for r in raters) and len(names) == 8


def test_admin_page_needs_no_token_on_an_insecure_local_server(browser, tmp_path):
    """``eyetest serve --insecure-local``: the admin page works without asking for a token."""
    from eyetest.web.app import create_app

    db = str(tmp_path / "local.sqlite")
    study = support.make_study(db, support.make_dataset(tmp_path / "ds"), judgments=1)
    served = support.ServedApp(create_app(db, admin_token=None, insecure_local=True))
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = context.new_page()
        page.goto(f"{served.url}/admin")
        page.wait_for_function("() => document.getElementById('study-status').textContent === 'open'")
        assert page.locator("#login").is_hidden() and page.locator("#study-select").input_value() == study
    finally:
        context.close()
        served.stop()


def _finish_by_api(server, token):
    import httpx

    with httpx.Client(base_url=server.url) as http:
        while (res := http.get(f"/api/v1/sessions/{token}/next")).status_code == 200:
            trial = res.json()
            res = http.post(f"/api/v1/sessions/{token}/judgments", json={
                "trial": trial["trial"], "answers": {q["dimension"]: "A" for q in trial["questions"]},
                "client_id": f"finish-{trial['trial']}-{token[:8]}", "elapsed_ms": 2000})
            assert res.status_code == 201


def test_prolific_and_mturk_hand_back(page, server):
    # Prolific: participant from the link, redirect with the completion code at the end
    hits = []
    page.route("https://app.prolific.com/**", lambda route: (hits.append(route.request.url),
                                                               route.fulfill(body="ok", content_type="text/plain")))
    page.goto(f"{server.url}/study/{server.studies['prolific']}?PROLIFIC_PID=5f00aa&STUDY_ID=st1&SESSION_ID=se1")
    page.check("#agree")
    page.keyboard.press("Enter")
    page.wait_for_url("**/s/*")
    token = page.evaluate("document.body.dataset.session")
    participant, meta = _rows(server, "select participant, meta from sessions where token=:t", t=token)[0]
    meta = json.loads(meta)
    assert participant == "5f00aa" and (meta["STUDY_ID"], meta["SESSION_ID"], meta["consent"]) == ("st1", "se1", True)
    assert meta["window_width"] == 1280 and meta["device_pixel_ratio"] == 1
    _finish_by_api(server, token)
    page.reload()
    page.wait_for_url("https://app.prolific.com/**")
    assert hits == ["https://app.prolific.com/submissions/complete?cc=PRO-99"]

    # MTurk: the preview cannot start; after accepting, the HIT is submitted to turkSubmitTo
    posts = []
    page.route("https://workersandbox.mturk.com/**", lambda route: (posts.append(route.request),
                                                                      route.fulfill(body="ok", content_type="text/plain")))
    base = f"{server.url}/study/{server.studies['mturk']}"
    page.goto(f"{base}?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H7")
    assert page.locator("#preview-notice").is_visible() and page.locator("#agree").is_disabled()
    page.goto(f"{base}?assignmentId=AS7&workerId=WK7&hitId=H7&turkSubmitTo=https%3A%2F%2Fworkersandbox.mturk.com")
    page.check("#agree")
    page.click("#start")
    page.wait_for_url("**/s/*")
    token = page.evaluate("document.body.dataset.session")
    _finish_by_api(server, token)
    page.reload()
    page.wait_for_url("https://workersandbox.mturk.com/**")
    assert [(r.method, r.url) for r in posts] == [("POST", "https://workersandbox.mturk.com/mturk/externalSubmit")]
    assert "assignmentId=AS7" in posts[0].post_data
