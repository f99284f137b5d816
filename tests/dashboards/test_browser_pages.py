"""Every page URL of the dashboard in a real headless Chromium: `phm dashboard` on the tests'
synthetic store (no demo), each documented URL opens its own page with its content, the browser
logs no console error and no failed request (no 404 anywhere), and the toolbar is the viewer's:
no Deploy button, no developer entries (Rerun, Clear cache) in the main menu.

Needs /usr/bin/chromium and playwright (skipped without them, failed under CI=true).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from phm.dashboard.cli import serving, start_dashboard
from tests.dashboards.store_fixture import FixtureStore
from tests.dashboards.test_browser import CHROMIUM, _browser_or_skip, _free_port

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

# URL -> a heading or text the page shows once its content is there
PAGES = {
    "/": "Fleet",
    "/fleet": "Fleet",
    "/asset?asset=pump-001": "Asset pump-001",
    "/alerts": "Alerts",
    "/system": "System",
    "/engineer?asset=pump-001": "Engineer: model internals",
}


@pytest.fixture(scope="module")
def dashboard_url(fixture_store: FixtureStore, tmp_path_factory: pytest.TempPathFactory):
    _browser_or_skip()
    port = _free_port()
    log = tmp_path_factory.mktemp("dash") / "dashboard.out"
    proc = start_dashboard(fixture_store.root, port, refresh_s=1.0, stdout=log.open("w"),
                           stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        up = serving(url, 60.0)
        assert up and proc.poll() is None, Path(log).read_text()[-3000:]
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def test_every_page_url_loads_without_console_errors(dashboard_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox"])  # fmt: skip
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        for path, heading in PAGES.items():
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m, e=errors: m.type == "error" and e.append(m.text))
            page.on("response", lambda r, e=errors: r.status >= 400 and e.append(
                f"HTTP {r.status} {r.url}"))  # fmt: skip
            page.goto(dashboard_url + path)
            expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible(
                timeout=30_000
            )
            expect(page.get_by_text("refreshes every").first).to_be_visible(timeout=30_000)
            page.wait_for_timeout(500)
            assert "Page not found" not in page.content(), path
            assert "does not seem to exist" not in " ".join(errors), path
            assert errors == [], (path, errors)
            page.close()
        browser.close()


def test_viewer_toolbar_has_no_deploy_button_or_developer_menu(dashboard_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox"])  # fmt: skip
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(dashboard_url + "/system")
        expect(page.get_by_text("refreshes every").first).to_be_visible(timeout=30_000)
        assert page.get_by_role("button", name="Deploy").count() == 0
        menu = page.locator('[data-testid="stMainMenu"]')
        if menu.count():  # the viewer's menu: theme, print, record; nothing for developers
            menu.first.click()
            expect(page.get_by_text("Print")).to_be_visible(timeout=5_000)
            for entry in ("Rerun", "Clear cache", "Developer options", "Settings"):
                assert page.get_by_text(entry, exact=True).count() == 0, entry
        browser.close()


def test_the_asset_page_refreshes_in_place_without_greying_out(dashboard_url: str) -> None:
    """The dashboard refreshes every 1 s here: over 4 s of refreshes no element of the page
    is ever drawn faded (Streamlit marks a rerunning fragment's elements stale)."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox"])  # fmt: skip
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(dashboard_url + "/asset?asset=pump-001")
        expect(page.get_by_text("refreshes every 1 s").first).to_be_visible(timeout=30_000)
        seen_stale, faded = 0, []
        for _ in range(80):
            found = page.evaluate(
                """() => [...document.querySelectorAll('[data-stale="true"]')].map(
                    e => getComputedStyle(e).opacity)"""
            )
            seen_stale += len(found)
            faded += [o for o in found if float(o) < 1.0]
            page.wait_for_timeout(50)
        browser.close()
    assert seen_stale > 0  # the fragment did rerun while we watched
    assert faded == [], f"{len(faded)} faded elements while refreshing"
