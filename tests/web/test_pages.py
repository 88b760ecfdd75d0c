"""The HTML pages through httpx's ASGI transport against a real temporary SQLite study.

Checks the rater flow's server side: how a study link is read for each
crowd platform (Prolific, MTurk incl. the HIT preview, plain links), the
consent/instruction page, the trial page's configuration, the completion
page (code, Prolific redirect, MTurk externalSubmit form) only after every
trial is answered, the static files, and that no page carries inline
script or style (the server's CSP forbids them) or unescaped input.
"""

from __future__ import annotations

import asyncio
import html
import importlib.util
import re
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from eyetest.web import pages
from eyetest.web.app import create_app

_spec = importlib.util.spec_from_file_location("pages_support", Path(__file__).with_name("pages_support.py"))
support = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("pages_support", support)
_spec.loader.exec_module(support)


class Client:
    """Synchronous calls over ``httpx.AsyncClient(transport=ASGITransport(app))``."""

    def __init__(self, app):
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")

    def get(self, url, **kw):
        return self.loop.run_until_complete(self.http.get(url, **kw))

    def post(self, url, **kw):
        return self.loop.run_until_complete(self.http.post(url, **kw))

    def close(self):
        self.loop.run_until_complete(self.http.aclose())
        self.loop.close()
        self.app.state.engine.dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("pages")
    dataset = support.make_dataset(root / "ds")
    db = str(root / "study.sqlite")
    studies = {
        "link": support.make_study(db, dataset, judgments=2, min_ms=1500),
        "prolific": support.make_study(db, dataset, platform="prolific", judgments=1, code="PRO-77"),
        "mturk": support.make_study(db, dataset, platform="mturk", judgments=1),
        "rating": support.make_study(db, dataset, protocol="rating", scale="dcr5", context="gt", judgments=1,
                                     dimensions=("overall",)),
        "closing": support.make_study(db, dataset, context="none", judgments=2),
        "slider": support.make_study(db, dataset, protocol="rating", scale="continuous100", context="none",
                                     judgments=1, dimensions=("overall",)),
        "prolific_closing": support.make_study(db, dataset, platform="prolific", judgments=1, code="PRO-CL"),
    }
    client = Client(create_app(db, admin_token="pages-admin", rate_per_address=(0, 0), rate_per_session=(0, 0)))
    client.studies = studies
    yield client
    client.close()


def _start(site, study, participant, meta=None):
    r = site.post(f"/api/v1/studies/{site.studies[study]}/sessions",
                  json={"participant": participant, "meta": meta or {}})
    assert r.status_code in (200, 201), r.text
    return r.json()["session"]


def _finish(site, token):
    """Answer every trial of a session through the API (first choice of every question)."""
    while True:
        r = site.get(f"/api/v1/sessions/{token}/next")
        if r.status_code == 204:
            return
        trial = r.json()
        answers = {q["dimension"]: (q["choices"] or [50])[0] for q in trial["questions"]}
        r = site.post(f"/api/v1/sessions/{token}/judgments",
                      json={"trial": trial["trial"], "answers": answers, "client_id": str(uuid.uuid4()),
                            "elapsed_ms": 2000})
        assert r.status_code == 201, r.text


def _data(text: str) -> dict:
    """The ``data-*`` attributes of the page's <body>, unescaped."""
    body = re.search(r"<body([^>]*)>", text, re.S).group(1)
    return {k: html.unescape(v) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', body)}


def _no_inline_code(text: str) -> None:
    for tag in re.findall(r"<script[^>]*>", text):
        assert re.search(r'\ssrc="/static/[a-z]+\.js\?v=[0-9a-f]{12}"', tag), tag
    assert "</script>" not in re.sub(r"<script[^>]*></script>", "", text)
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", text, re.I)


# --------------------------------------------------------------- study link parsing
@pytest.mark.parametrize("query, platform, expected", [
    ({"PROLIFIC_PID": "5f1a2b3c4d5e6f7a8b9c0d1e", "STUDY_ID": "s1", "SESSION_ID": "x9"}, "prolific",
     ("prolific", "5f1a2b3c4d5e6f7a8b9c0d1e",
      {"PROLIFIC_PID": "5f1a2b3c4d5e6f7a8b9c0d1e", "STUDY_ID": "s1", "SESSION_ID": "x9"}, False)),
    ({"assignmentId": "A1", "workerId": "W1", "hitId": "H1", "turkSubmitTo": "https://workersandbox.mturk.com/"},
     "mturk", ("mturk", "W1", {"assignmentId": "A1", "workerId": "W1", "hitId": "H1",
                               "turkSubmitTo": "https://workersandbox.mturk.com"}, False)),
    ({"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "H1"}, "mturk", ("mturk", None, {}, True)),
    ({"participant": "p-7"}, "link", ("link", "p-7", {}, False)),
    ({"code": "ab12"}, "link", ("link", "ab12", {}, False)),
    ({}, "link", ("link", None, {}, False)),
])
def test_participant_from_query(query, platform, expected):
    got = pages.participant_from_query(query, platform)
    assert (got["platform"], got["participant"], got["meta"], got["preview"]) == expected


@pytest.mark.parametrize("query, platform, words", [
    ({}, "prolific", "PROLIFIC_PID"),
    ({"participant": "p1"}, "prolific", "PROLIFIC_PID"),
    ({"workerId": "W1"}, "mturk", "assignmentId"),
    ({"assignmentId": "A1"}, "mturk", "workerId"),
    ({"assignmentId": "A1", "workerId": "W1", "turkSubmitTo": "https://evil.example"}, "mturk", "evil.example"),
    ({"participant": "bad\nid"}, "link", "'participant'"),
    ({"participant": "x" * 201}, "link", "'participant'"),
])
def test_participant_from_query_refuses(query, platform, words):
    with pytest.raises(pages.ParticipantError, match=re.escape(words)):
        pages.participant_from_query(query, platform)


# ----------------------------------------------------------------- landing page
def test_study_link_shows_consent_and_instructions(site):
    r = site.get(f"/study/{site.studies['link']}?participant=p-landing")
    assert r.status_code == 200
    assert "content-security-policy" in r.headers and "script-src 'self'" in r.headers["content-security-policy"]
    _no_inline_code(r.text)
    data = _data(r.text)
    assert data["page"] == "start" and data["participant"] == "p-landing" and data["platform"] == "link"
    assert data["study"] == site.studies["link"] and data["preview"] == "false"
    assert 'id="agree"' in r.text and 'id="start"' in r.text
    # the configured dimensions' prompts, the keys, the training notice
    assert "Which image do you prefer overall?" in r.text and "Which image is sharper?" in r.text
    assert "same / not sure" in r.text and "both are bad" in r.text
    assert "The first 2 screens are practice" in r.text


def test_prolific_link(site):
    study = site.studies["prolific"]
    r = site.get(f"/study/{study}")
    assert r.status_code == 400 and "PROLIFIC_PID" in r.text
    r = site.get(f"/study/{study}?PROLIFIC_PID=pp1&STUDY_ID=st&SESSION_ID=se")
    data = _data(r.text)
    assert r.status_code == 200 and data["participant"] == "pp1" and data["platform"] == "prolific"
    import json

    assert json.loads(data["meta"]) == {"PROLIFIC_PID": "pp1", "STUDY_ID": "st", "SESSION_ID": "se"}


def test_mturk_preview_cannot_start(site):
    r = site.get(f"/study/{site.studies['mturk']}?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H9")
    assert r.status_code == 200
    assert _data(r.text)["preview"] == "true" and 'id="preview-notice"' in r.text
    assert re.search(r'<input type="checkbox" id="agree"\s+disabled>', r.text)
    r = site.get(f"/study/{site.studies['mturk']}?assignmentId=A1&workerId=W1&turkSubmitTo=https://evil.example")
    assert r.status_code == 400 and "not an MTurk host" in r.text


def test_input_is_escaped(site):
    evil = '"><script>alert(1)</script>'
    r = site.get(f"/study/{site.studies['link']}", params={"participant": evil})
    assert r.status_code == 200
    _no_inline_code(r.text)
    assert _data(r.text)["participant"] == evil


def test_unknown_closed_and_paused_studies(site):
    assert site.get("/study/nosuchstudy").status_code == 404
    assert site.get("/study/..%2F..%2Fetc").status_code == 404
    admin = {"Authorization": "Bearer pages-admin"}
    study = site.studies["rating"]
    assert site.post(f"/api/v1/admin/studies/{study}/pause", headers=admin).status_code == 200
    r = site.get(f"/study/{study}?participant=late")
    assert r.status_code == 200 and 'id="paused-notice"' in r.text
    assert re.search(r'<input type="checkbox" id="agree"\s+disabled>', r.text)
    assert site.post(f"/api/v1/admin/studies/{study}/resume", headers=admin).status_code == 200
    r = site.get(f"/study/{study}?participant=on-time")
    assert 'id="paused-notice"' not in r.text
    # a closed study: the link says so; a session already started cannot go on
    study = site.studies["closing"]
    token = _start(site, "closing", "c-1")
    assert site.post(f"/api/v1/admin/studies/{study}/close", headers=admin).status_code == 200
    r = site.get(f"/study/{study}?participant=c-2")
    assert r.status_code == 410 and "closed" in r.text
    r = site.get(f"/s/{token}")
    assert r.status_code == 410 and "answers so far are saved" in r.text


def test_closed_study_link_still_leads_participants_to_their_session(site):
    """A Prolific worker who took part finds their completion code (or a message for them) after the close."""
    study = site.studies["prolific_closing"]
    meta = {"PROLIFIC_PID": "pc-done", "STUDY_ID": "s", "SESSION_ID": "e"}
    done = _start(site, "prolific_closing", "pc-done", meta)
    _finish(site, done)
    halfway = _start(site, "prolific_closing", "pc-half", dict(meta, PROLIFIC_PID="pc-half"))
    admin = {"Authorization": "Bearer pages-admin"}
    assert site.post(f"/api/v1/admin/studies/{study}/close", headers=admin).status_code == 200
    r = site.get(f"/study/{study}?PROLIFIC_PID=pc-done&STUDY_ID=s&SESSION_ID=e", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/s/{done}"
    r = site.get(f"/study/{study}?PROLIFIC_PID=pc-done&STUDY_ID=s&SESSION_ID=e", follow_redirects=True)
    assert r.status_code == 200 and "submissions/complete?cc=PRO-CL" in r.text
    r = site.get(f"/study/{study}?PROLIFIC_PID=pc-half&STUDY_ID=s&SESSION_ID=e", follow_redirects=True)
    assert r.status_code == 410 and "answers so far are saved" in r.text and "contact the researcher" in r.text
    assert "Prolific" in site.get(f"/s/{halfway}").text
    for query in ("PROLIFIC_PID=pc-new&STUDY_ID=s&SESSION_ID=e", ""):
        r = site.get(f"/study/{study}?{query}")
        assert r.status_code == 410 and "takes no more participants" in r.text


# ------------------------------------------------------------------- trial page
def test_trial_page_carries_the_study_configuration(site):
    token = _start(site, "link", "p-trial")
    r = site.get(f"/s/{token}")
    assert r.status_code == 200
    _no_inline_code(r.text)
    data = _data(r.text)
    assert data["session"] == token and data["protocol"] == "pairwise" and data["min-ms"] == "1500"
    assert data["ties"] == "true" and data["both-bad"] == "true" and data["context"] == "lq"
    assert int(data["trial-count"]) == site.get(f"/api/v1/sessions/{token}").json()["trial_count"]
    assert data["answered"] == "0" and data["done-url"] == f"/s/{token}/done"
    for panel in ("panel-context", "panel-A", "panel-B"):
        assert f'id="{panel}"' in r.text
    assert 'id="too-small"' in r.text and "Input (low quality)" in r.text
    # not finished yet: the completion page sends the rater back
    r = site.get(f"/s/{token}/done", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/s/{token}"


def test_rating_trial_page(site):
    token = _start(site, "rating", "r-trial")
    data = _data(site.get(f"/s/{token}").text)
    assert data["protocol"] == "rating" and data["scale"] == "dcr5" and data["context"] == "gt"
    r = site.get(f"/study/{site.studies['rating']}?participant=r-trial")
    assert "5 = imperceptible" in r.text and "1 = very annoying" in r.text


def _keys_table(text: str) -> str:
    return re.search(r'<table class="keys">(.*?)</table>', text, re.S).group(1)


def test_keys_shown_are_the_keys_that_work(site):
    """Space flickers A/B (pairwise) or the rated image and its context (rating with context), else nothing."""
    for study, flicker in (("link", "swap A and B"), ("rating", "show the reference (original) in place"),
                           ("slider", None)):
        participant = f"keys-{study}"
        start = site.get(f"/study/{site.studies[study]}?participant={participant}").text
        trial = site.get(f"/s/{_start(site, study, participant)}").text
        hint = re.search(r'<span class="keys-hint">(.*?)</span>\n', trial, re.S).group(1)
        for table in (_keys_table(start), _keys_table(trial)):
            assert (flicker in table) if flicker else ("flicker" not in table and "Space" not in table)
        assert ("flicker" in hint) == bool(flicker)
        assert ("hold <kbd>Space</kbd> to flicker" in start) == bool(flicker)


def test_trial_page_controls_have_names(site):
    text = site.get(f"/s/{_start(site, 'link', 'p-names')}").text
    for button, name in (("zoom-out", "Zoom out"), ("zoom-in", "Zoom in"), ("zoom-fit", "Fit to window"),
                         ("zoom-pixel", "100% view"), ("toggle-context", "Show or hide the input (low quality)")):
        assert re.search(rf'<button [^>]*id="{button}"[^>]*aria-label="{re.escape(name)}"', text), button
    assert re.search(r'role="progressbar" aria-label="Progress"', text)


def test_unknown_session(site):
    for url in ("/s/nosuchtoken", "/s/nosuchtoken/done", "/s/bad%20token"):
        r = site.get(url)
        assert r.status_code == 404 and "Session not found" in r.text


# -------------------------------------------------------------- completion page
def test_completion_link_shows_code(site):
    token = _start(site, "link", "p-done")
    _finish(site, token)
    r = site.get(f"/s/{token}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/s/{token}/done"
    r = site.get(f"/s/{token}/done")
    assert r.status_code == 200
    _no_inline_code(r.text)
    assert '<span class="code" id="completion-code">C0DE42</span>' in r.text
    assert _data(r.text)["redirect"] == ""


def test_completion_prolific_redirects_with_code(site):
    token = _start(site, "prolific", "pp-done", {"PROLIFIC_PID": "pp-done", "STUDY_ID": "s", "SESSION_ID": "e"})
    _finish(site, token)
    r = site.get(f"/s/{token}/done")
    url = "https://app.prolific.com/submissions/complete?cc=PRO-77"
    assert _data(r.text)["redirect"] == url
    assert f'href="{url}"' in r.text and "PRO-77" in r.text


def test_completion_mturk_posts_to_turk_submit_to(site):
    meta = {"assignmentId": "ASG-1", "workerId": "W-done", "hitId": "H-1",
            "turkSubmitTo": "https://workersandbox.mturk.com"}
    token = _start(site, "mturk", "W-done", meta)
    _finish(site, token)
    r = site.get(f"/s/{token}/done")
    form = re.search(r'<form id="mturk-form" method="post" action="([^"]+)">(.*?)</form>', r.text, re.S)
    assert form and form.group(1) == "https://workersandbox.mturk.com/mturk/externalSubmit"
    assert '<input type="hidden" name="assignmentId" value="ASG-1">' in form.group(2)
    # the CSP lets that form be posted
    assert "https://workersandbox.mturk.com" in r.headers["content-security-policy"].split("form-action")[1]


# ----------------------------------------------------------------- admin, static
def test_admin_page_is_a_shell(site):
    r = site.get("/admin")
    assert r.status_code == 200
    _no_inline_code(r.text)
    assert 'id="admin-token"' in r.text and "pages-admin" not in r.text
    # the export is fetched with the bearer token by the page: buttons, not links carrying a token
    assert 'id="btn-export-csv"' in r.text and 'id="btn-export-jsonl"' in r.text and "export?" not in r.text


def test_static_files(site):
    for name, (content, media, digest) in pages.STATIC.items():
        r = site.get(f"/static/{name}")
        assert r.status_code == 200 and r.content == content and r.headers["content-type"] == media
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["etag"] == f'"{digest}"'
    assert {"viewer.js", "questions.js", "rater.js", "common.js", "start.js", "done.js", "admin.js", "eyetest.css"} <= set(pages.STATIC)
    for bad in ("/static/pages.py", "/static/..%2Fpages.py", "/static/%2e%2e/app.py", "/static/nope.js"):
        assert site.get(bad).status_code == 404


def test_every_referenced_static_file_exists():
    for template in (pages.HERE / "templates").glob("*.html"):
        for name in re.findall(r"static_url\('([^']+)'\)", template.read_text()):
            assert name in pages.STATIC, (template.name, name)
