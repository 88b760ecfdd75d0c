"""The report in headless Chromium: every section renders, no console error, no request leaves the page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("EYETEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SECTIONS = ("summary", "methods", "metrics", "audit", "human", "alignment", "scenarios", "families",
            "gallery", "raters", "provenance")

pytestmark = pytest.mark.slow


def test_report_renders_offline_in_chromium(demo_results):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (set EYETEST_CHROMIUM)")
    url = demo_results.report.resolve().as_uri()
    console, requests, failed = [], [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: console.append((m.type, m.text)))
            page.on("pageerror", lambda e: console.append(("pageerror", str(e))))
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.goto(url, wait_until="load")
            for sid in SECTIONS:
                sec = page.locator(f"section#{sid}")
                assert sec.get_attribute("data-present") == "yes", sid
                assert sec.locator("h2").is_visible(), sid
            # every inline image decoded (a broken data: URI has naturalWidth 0)
            widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
            assert widths and min(widths) > 0
            assert page.locator(".badge.sim").count() >= 5
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert [c for c in console if c[0] in ("error", "pageerror", "warning")] == []
    assert requests == [url], f"requests other than the page itself: {requests}"
    assert failed == []
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
