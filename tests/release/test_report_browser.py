"""report.html in a real browser: headless Chromium opens the demo's report from
a file, with no network, and every section renders (the comparison with the no-DP
baseline among them), every chart loads, the console stays clean and no request
leaves the page.

Chromium is Debian's `chromium` package (`.ci/run` installs it). Without it the
test skips locally and fails when GUARD_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from guard.release import SECTIONS
from tests.release.test_demo import demo_out  # noqa: F401  (the shared demo run)

CHROMIUM = Path(os.environ.get("GUARD_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOT = Path("/tmp/guard_report.png")
COMPARE_SCREENSHOT = Path("/tmp/guard_compare.png")  # the comparison section alone
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The browser, checked before the (slower) demo run is asked for."""
    missing = []
    if not CHROMIUM.is_file() and shutil.which(str(CHROMIUM)) is None:
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[test]')")
    if not missing:
        return CHROMIUM
    message = "no browser for the report test: " + ", ".join(missing)
    if os.environ.get("GUARD_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def test_report_renders_offline_in_headless_chromium(chromium, demo_out):  # noqa: F811
    from playwright.sync_api import sync_playwright

    page_file = (demo_out / "report" / "report.html").resolve()
    url = page_file.as_uri()
    requests: list[str] = []
    failed: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url, wait_until="load")
            page.wait_for_load_state("networkidle")
            sections = page.eval_on_selector_all(
                "section[data-section]",
                "els => els.map(e => ({id: e.id, h: e.getBoundingClientRect().height, text: e.innerText.length}))",
            )
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => ({w: e.naturalWidth, h: e.naturalHeight, done: e.complete, alt: e.alt}))"
            )
            verdict = page.inner_text("#verdict")
            rows = page.eval_on_selector_all(
                "#comparison table.comparison tbody tr",
                "els => els.map(e => ({section: e.dataset.section, significant: e.dataset.significant, "
                "cells: Array.from(e.cells).map(c => c.innerText)}))",
            )
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            page.locator("#comparison").screenshot(path=str(COMPARE_SCREENSHOT))
        finally:
            browser.close()

    at = list(SECTIONS).index("explanations") + 1
    assert [s["id"] for s in sections] == [*SECTIONS[:at], "comparison", *SECTIONS[at:]]
    for s in sections:
        assert s["h"] > 40 and s["text"] > 30, s
    assert len(images) >= 5
    for img in images:
        assert img["done"] and img["w"] > 0 and img["h"] > 0, img
    assert "Release gate:" in verdict and ("PASS" in verdict or "FAIL" in verdict)
    assert not errors, errors
    assert not failed, failed
    # the only request is the page itself: data: images are not fetched over any network
    assert [r for r in requests if r != url and not r.startswith("data:")] == []
    assert SCREENSHOT.stat().st_size > 50_000
    # the comparison: one row per metric, each with both values, a difference and a verdict
    assert {"utility", "privacy", "membership", "fairness"} <= {r["section"] for r in rows}
    for r in rows:
        assert len(r["cells"]) == 8 and r["significant"] in ("yes", "no", "untested"), r
        assert r["cells"][6] == {"yes": "yes", "no": "no", "untested": "-"}[r["significant"]], r
    accuracy = next(r for r in rows if r["cells"][1] == "held-out accuracy")
    assert accuracy["cells"][5].startswith("[") and accuracy["significant"] in ("yes", "no")
    assert any(img["alt"].startswith("Differences (this run minus the baseline)") for img in images)
    assert COMPARE_SCREENSHOT.stat().st_size > 20_000
