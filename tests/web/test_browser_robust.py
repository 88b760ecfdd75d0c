"""The rater and admin pages in a real browser under failures and for accessibility.

Debian's chromium driven by Playwright against the real app under uvicorn on
127.0.0.1 (as in ``test_browser.py``).  Each test reproduces something a
crowd worker or a researcher runs into:

* images that fail to load (a dropped connection) are loaded again, with a
  message, and no answer can be given before they are all on screen;
* a request with no answer (a stalled connection) is abandoned and retried,
  and the judgment is stored once;
* a phone is told on the study link, before a session is made for it;
* a click on a continuous slider where its thumb already is records that value;
* an answer refused because the screen was answered in another tab is explained;
* an answer to a session that expired meanwhile is refused, and the page says why;
* keys do not answer while the keyboard help covers the images or flicker is held;
* accessible names, alt texts that name the slot only, WCAG AA contrast of
  the filled buttons;
* the admin page downloads the export with the bearer token (not in a URL).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "robust-admin-token-123"

_spec = importlib.util.spec_from_file_location("pages_support", Path(__file__).with_name("pages_support.py"))
support = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("pages_support", support)
_spec.loader.exec_module(support)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    support.need_browser()
    from eyetest.web.app import create_app

    root = tmp_path_factory.mktemp("robust")
    dataset = support.make_dataset(root / "ds")
    db = str(root / "study.sqlite")
    studies = {
        "pairwise": support.make_study(db, dataset, judgments=3, context="lq"),
        "single": support.make_study(db, dataset, judgments=3, context="none", dimensions=("overall",)),
        "acr": support.make_study(db, dataset, protocol="rating", scale="acr5", context="gt",
                                  dimensions=("overall",), judgments=2),
        "slider": support.make_study(db, dataset, protocol="rating", scale="continuous100", context="none",
                                     dimensions=("overall",), judgments=2),
    }
    served = support.ServedApp(create_app(db, admin_token=ADMIN_TOKEN))
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
def context(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 720}, device_scale_factor=1)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    assert not errors, errors                      # no script error in any test


def _rows(server, sql, **params):
    with server.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def _open_study(page, server, study, participant):
    page.goto(f"{server.url}/study/{server.studies[study]}?participant={participant}")
    page.check("#agree")
    page.click("#start")
    page.wait_for_url("**/s/*")


def _wait_trial(page, previous=None, timeout=15000):
    page.wait_for_function(
        """prev => document.body.dataset.trial && document.body.dataset.trial !== prev
                  && window.eyetestRater && !window.eyetestRater.busy""", arg=previous, timeout=timeout)
    return page.evaluate("document.body.dataset.trial")


def _start(page, server, study, participant):
    _open_study(page, server, study, participant)
    _wait_trial(page)
    return page.evaluate("document.body.dataset.session")


def _answers(page):
    return page.evaluate("JSON.stringify(window.eyetestRater.answers)")


# ----------------------------------------------------------------- failing network
def test_images_that_fail_to_load_are_loaded_again(page, server):
    """Before: one failed image load left the page on "Something went wrong: image A failed to load"."""
    attempts: dict[str, int] = {}

    def flaky(route):
        url = route.request.url
        attempts[url] = attempts.get(url, 0) + 1
        if attempts[url] <= 2:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/img/**", flaky)
    _open_study(page, server, "single", "img-retry")
    token = page.evaluate("document.body.dataset.session")
    page.wait_for_function("() => document.getElementById('banner').textContent.includes('did not load')")
    assert page.locator("#banner").is_visible()
    # nothing can be answered or sent while the images are not on screen
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    assert _answers(page) == "{}" and page.locator("#submit").is_disabled()
    trial = _wait_trial(page, timeout=20000)
    assert page.locator("#banner").is_hidden()
    shown = page.evaluate("""() => [...document.querySelectorAll('#viewer .panel:not([hidden]) img')]
                                      .map(i => [i.complete, i.naturalWidth, i.getAttribute('src')])""")
    urls = {s["url"] for s in page.evaluate("window.eyetestRater.trial.stimuli")}
    assert len(shown) == 4 and all(c and w == support.SIZE for c, w, _ in shown)
    assert {src for *_, src in shown} == urls
    assert all(attempts[server.url + u] == 3 for u in urls)           # two failures, then loaded
    assert _rows(server, "select count(*) from judgments where session_token=:t", t=token)[0][0] == 0
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    page.wait_for_selector("#feedback:not([hidden])")
    stored = _rows(server, "select trial_id, answers from judgments where session_token=:t", t=token)
    assert [(r[0], json.loads(r[1])) for r in stored] == [(int(trial), {"overall": "A"})]


def test_a_request_without_answer_is_abandoned_and_retried(context, server):
    """Before: a stalled POST left "Saving…" on screen indefinitely (no timeout, no retry, no message)."""
    context.add_init_script("window.Eyetest = {fetchTimeoutMs: 1200};")
    page = context.new_page()
    token = _start(page, server, "single", "stalled-post")
    trial = page.evaluate("document.body.dataset.trial")
    held, bodies = [], []

    def stall_first(route):
        bodies.append(json.loads(route.request.post_data))
        if len(bodies) == 1:
            held.append(route)                 # never answered
        else:
            route.continue_()

    page.route("**/judgments", stall_first)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('banner').textContent.includes('kept')", timeout=5000)
    page.wait_for_selector("#feedback:not([hidden])", timeout=10000)
    assert len(bodies) >= 2 and len({b["client_id"] for b in bodies}) == 1   # the same answer, resent
    rows = _rows(server, "select client_id, trial_id from judgments where session_token=:t", t=token)
    assert rows == [(bodies[0]["client_id"], int(trial))]
    assert page.evaluate(f"localStorage.getItem('eyetest:pending:' + {token!r})") is None


def test_a_phone_is_told_before_a_session_is_made(browser, server):
    """Before: a phone started a session (its trials booked by the scheduler), then was blocked on the trial page."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, screen={"width": 390, "height": 844},
                                  device_scale_factor=3, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(f"{server.url}/study/{server.studies['single']}?participant=on-a-phone")
        notice = page.locator("#screen-notice")
        assert notice.is_visible() and "390 \u00d7 844" in notice.inner_text()
        assert page.locator("#agree").is_disabled() and page.locator("#start").is_disabled()
        page.locator("#start-form").evaluate("f => f.requestSubmit()")
        page.wait_for_timeout(500)
        assert "/study/" in page.url
        assert _rows(server, "select count(*) from sessions where participant='on-a-phone'")[0][0] == 0
    finally:
        context.close()


# ------------------------------------------------------------------------ answers
def test_a_click_on_the_untouched_slider_thumb_records_50(page, server):
    """Before: clicking an untouched slider where its thumb sits (50) changed no value: no answer."""
    token = _start(page, server, "slider", "slider-click")
    slider = page.locator("#questions input[type=range]").first
    box = slider.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert json.loads(_answers(page)) == {"overall": 50}
    assert page.locator("#questions .slider-value").first.inner_text() == "50"
    page.wait_for_function("() => !document.getElementById('submit').disabled")
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.eyetestRater.answered === 1")
    stored = _rows(server, "select answers from judgments where session_token=:t", t=token)
    assert [json.loads(r[0]) for r in stored] == [{"overall": 50}]


def test_an_answer_given_in_another_tab_is_explained(context, server):
    """Before: the second tab's refused answer flashed a banner that next() cleared at once."""
    first = context.new_page()
    token = _start(first, server, "single", "two-tabs")
    second = context.new_page()
    second.goto(first.url)
    trial = _wait_trial(second)
    assert trial == first.evaluate("document.body.dataset.trial")
    first.keyboard.press("ArrowLeft")
    first.keyboard.press("Enter")
    first.wait_for_selector("#feedback:not([hidden])")
    second.bring_to_front()
    second.keyboard.press("ArrowRight")
    second.keyboard.press("Enter")
    _wait_trial(second, trial)
    assert "already been answered" in second.locator("#status").inner_text()
    stored = _rows(server, "select trial_id, answers from judgments where session_token=:t", t=token)
    assert [(r[0], json.loads(r[1])) for r in stored] == [(int(trial), {"overall": "A"})]


def test_an_expired_session_says_so_and_keeps_no_late_answer(page, server):
    """A session that expired (eyetest.study.expiry) while its tab stayed open: the answer is refused with
    410 and the page says what happened, on the answer and again after a reload."""
    token = _start(page, server, "single", "went-for-lunch")
    with server.engine.begin() as conn:
        conn.execute(sa.text("update sessions set expired_at = '2026-01-01 00:00:00.000000' where token = :t"),
                     {"t": token})
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('banner').textContent.includes('expired')")
    assert "answers you gave are saved" in page.locator("#banner").inner_text()
    page.reload()
    page.wait_for_function("() => document.getElementById('banner').textContent.includes('expired')")
    assert _rows(server, "select count(*) from judgments where session_token=:t", t=token)[0][0] == 0


def test_keys_do_not_answer_while_the_help_covers_the_images(page, server):
    token = _start(page, server, "single", "help-open")
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    for key in ("ArrowLeft", "x", "Enter", "Enter"):
        page.keyboard.press(key)
    assert _answers(page) == "{}" and "help" in page.locator("#status").inner_text()
    page.keyboard.press("Escape")
    assert page.locator("#help").is_hidden() and page.locator("#status").inner_text() == ""
    page.keyboard.press("ArrowLeft")
    assert json.loads(_answers(page)) == {"overall": "A"}
    assert _rows(server, "select count(*) from judgments where session_token=:t", t=token)[0][0] == 0


def test_no_answer_while_flicker_swaps_the_images(page, server):
    """Before: ← held with Space answered "A" while the left panel showed B."""
    _start(page, server, "single", "flicker-answer")
    page.keyboard.down(" ")
    assert page.evaluate("document.getElementById('panel-A').dataset.showing") == "B"
    page.keyboard.press("ArrowLeft")
    page.locator("#questions .choice.right").click()
    assert _answers(page) == "{}" and "Release Space" in page.locator("#status").inner_text()
    page.keyboard.up(" ")
    assert page.locator("#status").inner_text() == ""
    page.keyboard.press("ArrowLeft")
    assert json.loads(_answers(page)) == {"overall": "A"}


# ------------------------------------------------------------------ accessibility
def _contrast(rgb_fg, rgb_bg) -> float:
    """WCAG 2.x contrast ratio (relative luminance of sRGB colours)."""
    def lum(rgb):
        c = [v / 255 for v in rgb]
        c = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    hi, lo = sorted((lum(rgb_fg), lum(rgb_bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _colours(page, selector):
    css = page.eval_on_selector(selector, "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
    return [tuple(int(v) for v in re.findall(r"\d+", c)[:3]) for c in css]


def test_accessibility_basics(page, server):
    page.goto(f"{server.url}/study/{server.studies['pairwise']}?participant=a11y")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.check("#agree")
    assert _contrast(*_colours(page, "#start")) >= 4.5
    page.click("#start")
    page.wait_for_url("**/s/*")
    _wait_trial(page)
    assert page.evaluate("document.documentElement.lang") == "en"
    # every button has a name that says what it does
    for name in ("Zoom in", "Zoom out", "Fit to window", "100% view"):
        assert page.get_by_role("button", name=name, exact=True).count() == 1
    assert page.get_by_role("progressbar", name="Progress").count() == 1
    names = page.evaluate(
        "() => [...document.querySelectorAll('button')].map(b => b.getAttribute('aria-label') || b.textContent.trim())")
    assert all(n and re.search("[A-Za-z]", n) for n in names), names
    # the answer buttons of a question are a group named by its prompt; the choice made is "pressed"
    prompts = page.locator("#questions .prompt").all_inner_texts()
    for prompt in prompts:
        assert page.get_by_role("group", name=prompt, exact=True).count() == 1
    page.keyboard.press("ArrowLeft")
    group = page.get_by_role("group", name=prompts[0], exact=True)
    assert group.get_by_role("button", pressed=True).count() == 1
    assert "A is better" in group.get_by_role("button", pressed=True).inner_text()
    # alt texts name the slot only: nothing about the method, the image or its URL
    alts = page.evaluate("() => [...document.querySelectorAll('#viewer img')].map(i => i.alt)")
    assert set(alts) == {"Image A", "Image B", "Input (low quality)"}
    secret = [*support.METHODS, *support.SCENARIOS, "reference", "degraded", "blurred"]
    assert not [a for a in alts for s in secret if s.lower() in a.lower()]
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => !document.getElementById('submit').disabled")
    assert _contrast(*_colours(page, "#questions .choice.selected")) >= 4.5
    assert _contrast(*_colours(page, "#submit")) >= 4.5


def test_rating_page_documents_its_flicker(page, server):
    """A rating trial with a reference flickers with Space: the help says so; without one it does not offer it."""
    _start(page, server, "acr", "acr-keys")
    assert "flicker" in page.locator("#help").inner_text()
    assert "flicker" in page.locator(".keys-hint").inner_text()
    # the rated image's panel holds the reference too (for flicker), under its own name
    assert sorted(set(page.evaluate("[...document.querySelectorAll('#viewer img')].map(i => i.alt)"))) == \
        ["Image to rate", "Reference (original)"]
    _start(page, server, "slider", "slider-keys")
    assert "flicker" not in page.locator("#help").inner_text()
    assert "flicker" not in page.locator(".keys-hint").inner_text()


# -------------------------------------------------------------------------- admin
def test_admin_downloads_the_export_with_the_token(page, server):
    import httpx

    study = server.studies["pairwise"]
    with httpx.Client(base_url=server.url) as http:
        token = http.post(f"/api/v1/studies/{study}/sessions", json={"participant": "export-rater"}).json()["session"]
        trial = http.get(f"/api/v1/sessions/{token}/next").json()
        http.post(f"/api/v1/sessions/{token}/judgments", json={
            "trial": trial["trial"], "answers": {"overall": "A", "sharpness": "tie"},
            "client_id": "export-judgment-1"}).raise_for_status()
        expected = http.get(f"/api/v1/studies/{study}/export?format=csv",
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).text
    urls = []
    page.on("request", lambda r: urls.append(r.url))
    page.goto(f"{server.url}/admin?study={study}")
    page.fill("#admin-token", ADMIN_TOKEN)
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('study-status').textContent === 'open'")
    summary = page.locator("#progress-summary").inner_text()
    planned = _rows(server, "select count(*) from trials where study_id=:s", s=study)[0][0]
    assert f"judgments of {planned} trials planned" in summary
    # the leaderboard's count is the fit's (every method of the slice), and says so
    page.wait_for_function("() => document.querySelectorAll('#leaderboard thead th').length > 0")
    assert page.locator("#leaderboard thead th").last.inner_text() == "judgments fitted"
    for fmt, button in (("csv", "#btn-export-csv"), ("jsonl", "#btn-export-jsonl")):
        with page.expect_download() as info:
            page.click(button)
        download = info.value
        assert download.suggested_filename == f"{study}.{fmt}"
        content = Path(download.path()).read_text()
        if fmt == "csv":
            assert list(csv.DictReader(io.StringIO(content))) == list(csv.DictReader(io.StringIO(expected)))
            assert any(r["client_id"] == "export-judgment-1" for r in csv.DictReader(io.StringIO(content)))
        else:
            records = [json.loads(line) for line in content.splitlines()]
            assert [r["client_id"] for r in records] == [r["client_id"] for r in csv.DictReader(io.StringIO(expected))]
    assert not [u for u in urls if ADMIN_TOKEN in u]
