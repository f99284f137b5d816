"""End to end in a real headless Chromium: `phm demo` feeds a store, `phm dashboard` serves it,
Playwright opens the fleet, an asset, waits for an alert, logs in, acknowledges it on its card,
reloads, sees it acknowledged (an empty note's refusal: test_alarm_pages.py),
and screenshots every page.

Screenshots go to $PHM_SCREENSHOTS (default data/screenshots/). Needs /usr/bin/chromium
(Debian packages chromium and chromium-driver): skipped without it, except under CI=true,
where a missing browser fails the test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from phm.dashboard.auth import add_user
from phm.store.state import StateStore
from tests.demo_models import place_demo_models

ROOT = Path(__file__).parents[2]
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(os.environ.get("PHM_SCREENSHOTS", ROOT / "data" / "screenshots"))

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


def _browser_or_skip() -> None:
    missing = not Path(CHROMIUM).exists()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = True
    if missing:
        why = f"needs {CHROMIUM} (apt-get install chromium chromium-driver) and playwright"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why + ": CI must have them (.ci/run installs chromium)")
        pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check, timeout: float, every: float = 1.0):
    end = time.time() + timeout
    while time.time() < end:
        got = check()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _shoot(page, path: Path) -> None:
    """Screenshot once the page is not mid-refresh (Streamlit marks elements of a running
    rerun stale and fades them)."""
    for _ in range(40):
        if page.locator("[data-stale='true']").count() == 0:
            break
        page.wait_for_timeout(250)
    page.screenshot(path=path, full_page=True)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def test_operator_acknowledges_a_live_alert_in_chromium(tmp_path: Path) -> None:
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    place_demo_models(tmp_path)  # untrained tiny models: the demo skips its training
    live = tmp_path / "live"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    logs = tmp_path / "logs"
    logs.mkdir()
    users = tmp_path / "users.toml"  # the dashboard's logins (phm.dashboard.auth)
    add_user(users, "e2e-operator", "operator", "e2e-password")
    # the demo serves the dashboard itself (phm.dashboard.cli.start_dashboard)
    demo = subprocess.Popen(
        [sys.executable, "-m", "phm", "demo", "--store", str(tmp_path), "--duration", "90",
         "--speed", "20000", "--dashboard-port", str(port)],
        cwd=ROOT, stdout=(logs / "demo.out").open("w"), stderr=subprocess.STDOUT,
        env=dict(os.environ, PHM_DASHBOARD_REFRESH="2", PHM_DASHBOARD_USERS=str(users)),
    )  # fmt: skip
    try:
        _wait("the dashboard server", lambda: _healthy(url) or demo.poll() is not None, 60)
        assert demo.poll() is None, (logs / "demo.out").read_text()[-3000:]

        def scored() -> list[str]:
            if not (live / "state.sqlite").exists():
                return []
            latest = StateStore(live / "state.sqlite").latest_predictions()
            return [p.asset_id for p in latest if p.asset_id.startswith("pump-")]  # spectra

        assets = _wait("the first predictions", scored, 80)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            # fleet: data arrives without a reload
            page.goto(url + "/")  # the fleet is the default page
            expect(page.get_by_text("most urgent first")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("No predictions yet")).to_have_count(0, timeout=30_000)
            page.wait_for_timeout(1500)
            _shoot(page, SHOTS / "fleet.png")

            # asset: every chart of a scored pump
            page.set_viewport_size({"width": 1440, "height": 3600})
            page.goto(f"{url}/asset?asset={assets[0]}")
            expect(page.get_by_role("heading", name=f"Asset {assets[0]}")).to_be_visible(
                timeout=30_000
            )
            expect(page.get_by_text("Vibration severity").first).to_be_visible(timeout=30_000)
            _wait("the overview charts", lambda: page.locator("svg.marks").count() >= 3, 40)
            page.wait_for_timeout(2000)
            _shoot(page, SHOTS / "asset.png")
            assert "Unknown asset" not in page.content()
            page.get_by_role("tab", name="Spectra").click()  # the tab is computed once opened
            expect(page.get_by_text("Spectrum channel").first).to_be_visible(timeout=30_000)
            _wait("the spectra", lambda: "view=Spectra" in page.url, 10)

            # alerts: wait for one, log in, refuse an empty note, then acknowledge on its card
            state = StateStore(live / "state.sqlite")
            opened = _wait(
                "an alert", lambda: [a for a in state.alerts() if a.status == "open"], 80
            )
            target = opened[0].alert_id
            page.set_viewport_size({"width": 1440, "height": 1800})
            page.goto(url + "/alerts")
            side = page.locator("[data-testid='stSidebar']")
            side.get_by_label("User", exact=True).fill("e2e-operator")
            side.get_by_label("Password", exact=True).fill("e2e-password")
            side.get_by_role("button", name="Log in").click()
            expect(side.get_by_text("Logged in as")).to_be_visible(timeout=30_000)
            for _ in range(40):  # the rerun after the login is over
                if page.locator("[data-stale='true']").count() == 0:
                    break
                page.wait_for_timeout(250)
            card = (
                page.locator("[data-testid='stExpander']")
                .filter(has=page.locator("summary", has_text=f"#{target} ·"))
                .first  # a refresh can briefly leave the old card beside the new one
            )
            # (an empty note's refusal: tests/dashboards/test_alarm_pages.py)
            expect(card).to_be_visible(timeout=15_000)
            if card.get_by_label("Acknowledge: note").count() == 0:  # beyond the first five
                card.locator("summary").click()  # a closed card is computed once opened
            card.get_by_label("Acknowledge: note").fill("checked on site; bearing ordered")
            card.get_by_role("button", name="Acknowledge").click()
            expect(
                page.get_by_text(f"Alert #{target} acknowledged by e2e-operator.")
            ).to_be_visible(timeout=15_000)
            acked = [
                a for a in state.alerts() if any(k.by == "e2e-operator" for k in a.acknowledgements)
            ]
            assert len(acked) == 1 and acked[0].alert_id == target
            assert acked[0].acknowledgements[-1].note == "checked on site; bearing ordered"
            page.reload()
            expect(page.get_by_text("acknowledged by e2e-operator").first).to_be_visible(
                timeout=30_000
            )
            expect(page.get_by_text("Active (").first).to_be_visible()
            # the monitor attaches the knowledge graph's ranked causes to each alert
            expect(page.get_by_text("Ranked root causes").first).to_be_visible(timeout=15_000)
            status = next(a for a in state.alerts() if a.alert_id == acked[0].alert_id).status
            assert status in ("acknowledged", "cleared"), status  # the monitor may clear it
            page.wait_for_timeout(1000)
            _shoot(page, SHOTS / "alerts.png")

            # system: broker, rate, model
            page.set_viewport_size({"width": 1440, "height": 1400})
            page.goto(url + "/system")
            expect(page.get_by_text("Ingest rate")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("connected").first).to_be_visible(timeout=30_000)
            page.wait_for_timeout(1500)
            _shoot(page, SHOTS / "system.png")
            browser.close()
    finally:
        for proc in (demo,):
            proc.terminate()
        for proc in (demo,):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.copytree(logs, SHOTS / "logs", dirs_exist_ok=True)
    for name in ("fleet", "asset", "alerts", "system"):
        assert (SHOTS / f"{name}.png").stat().st_size > 20_000
