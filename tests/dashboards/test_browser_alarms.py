"""Alarm management in a real headless Chromium against `phm dashboard` on a seeded store (no
live demo needed): priority order, anonymous acknowledge refused, a wrong password refused,
acknowledge and shelve from the cards as a logged-in operator, the acknowledged state on the
fleet page after a reload, and the stale asset flagged there.

Screenshots go to $PHM_SCREENSHOTS (default data/screenshots/): alarms-*.png.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from phm.dashboard.cli import start_dashboard
from phm.store.state import StateStore
from tests.dashboards.alarm_fixture import PASSWORDS, STALE_ASSET, build_alarm_store
from tests.dashboards.test_browser import (
    CHROMIUM,
    ROOT,
    SHOTS,
    _browser_or_skip,
    _free_port,
    _healthy,
    _shoot,
    _wait,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


def settle(page) -> None:
    """Wait until Streamlit's rerun is over: no element marked stale, and each card's form
    drawn once (a card whose title changed is briefly there twice)."""
    page.wait_for_timeout(300)
    _wait("the rerun", lambda: page.locator("[data-stale='true']").count() == 0, 20, 0.2)
    titles = page.locator("[data-testid='stExpander'] summary")
    _wait(
        "one card per alert", lambda: len(set(titles.all_inner_texts())) == titles.count(), 20, 0.2
    )


def test_alarm_handling_in_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _browser_or_skip()
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the dashboard child imports this checkout
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    seeded = build_alarm_store(tmp_path)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "dashboard.out").open("w")
    server = start_dashboard(seeded.root, port, refresh_s=30, users=seeded.users,
                             stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    state = StateStore(seeded.root / "state.sqlite", readonly=True)

    def status(alert_id: int) -> str:
        return next(a.status for a in state.alerts() if a.alert_id == alert_id)

    try:
        _wait("the dashboard server", lambda: _healthy(url) or server.poll() is not None, 60)
        assert server.poll() is None, (tmp_path / "dashboard.out").read_text()[-3000:]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1440, "height": 2400})
            page.goto(url + "/alerts")
            cards = page.locator("[data-testid='stExpander'] summary")
            expect(cards.first).to_contain_text("critical", timeout=30_000)
            titles = [cards.nth(i).inner_text() for i in range(5)]
            ranks = [t.split("·")[0].split()[-1] for t in titles]
            assert ranks == ["critical", "high", "medium", "low", "low"], titles

            def card(alert_id: int):
                return page.locator("[data-testid='stExpander']").filter(
                    has=page.locator("summary", has_text=f"#{alert_id} ·")
                )

            # anonymous: the form is there, the server refuses
            high = card(seeded.high)
            high.get_by_label("Acknowledge: note").fill("sneaky")
            high.get_by_role("button", name="Acknowledge").click()
            expect(page.get_by_text("Refused: acknowledge: not logged in")).to_be_visible(
                timeout=15_000
            )
            assert status(seeded.high) == "open"
            settle(page)

            # a wrong password is refused, the right one logs in
            side = page.locator("[data-testid='stSidebar']")
            side.get_by_label("User", exact=True).fill("ana")
            side.get_by_label("Password", exact=True).fill("not-her-password")
            side.get_by_role("button", name="Log in").click()
            expect(side.get_by_text("Login refused: wrong user name or password")).to_be_visible(
                timeout=15_000
            )
            side.get_by_label("User", exact=True).fill("ana")
            side.get_by_label("Password", exact=True).fill(PASSWORDS["ana"])
            side.get_by_role("button", name="Log in").click()
            expect(side.get_by_text("Logged in as")).to_be_visible(timeout=15_000)
            settle(page)

            # acknowledge and shelve from the cards
            high = card(seeded.high)
            high.get_by_label("Acknowledge: note").fill("impeller checked, valve throttled")
            high.get_by_role("button", name="Acknowledge").click()
            expect(page.get_by_text(f"Alert #{seeded.high} acknowledged by ana.")).to_be_visible(
                timeout=15_000
            )
            assert status(seeded.high) == "acknowledged"
            settle(page)
            critical = card(seeded.critical)
            critical.get_by_label("Shelve: reason").fill("sensor recalibration")
            critical.get_by_role("button", name="Shelve").click()
            expect(page.get_by_text("Shelved (1)")).to_be_visible(timeout=15_000)
            expect(card(seeded.critical).locator("summary")).to_contain_text("shelved until")
            _shoot(page, SHOTS / "alarms-alerts.png")

            # the fleet, after a reload: acknowledged state and the stale asset
            page.goto(url + "/")  # the fleet is the default page
            page.reload()
            grid = page.locator("[data-testid='stDataFrame']").first
            expect(grid).to_be_visible(timeout=30_000)
            # the grid draws on a canvas; its accessible (hidden) table carries the cell texts
            expect(grid).to_contain_text("acknowledged by ana", timeout=30_000)
            stale_row = grid.locator("tr").filter(has_text=STALE_ASSET)
            expect(stale_row).to_contain_text("stale data")
            expect(stale_row).not_to_contain_text("🟢 ok")
            _shoot(page, SHOTS / "alarms-fleet.png")
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
