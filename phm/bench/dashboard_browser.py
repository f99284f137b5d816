"""Time to full content of every dashboard page in a real headless Chromium (Playwright), and a
screenshot of each: what `phm bench dashboard` reports beside the server render times.

"Full content" is the moment the page's live fragment has drawn everything: its closing
caption ("refreshes every ...") is on screen and every chart it sent (Vega-Lite) has its SVG
drawn.
(A timed refresh that starts later marks the drawn elements stale while it reruns; that is not
waited for, the content is already there.) The clock starts before
`page.goto` (a fresh browser page, so a new Streamlit session; the browser's cache of the
static files is warm after the first visit, as for an operator). Needs Debian's
/usr/bin/chromium and the playwright package (never `playwright install`).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
DONE_TEXT = "refreshes every"
VIEWPORT = {"width": 1440, "height": 1000}
SHOT_MAX_H = 4000  # screenshots end here (pixels)


@dataclass
class PageTiming:
    """Seconds to full content of one page over the runs, and what the browser logged."""

    name: str
    path: str
    seconds: list[float] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def worst(self) -> float:
        return max(self.seconds)


def _full_content(page, timeout_s: float, settled: bool = False) -> None:
    """Wait until the page's fragment finished drawing (see the module doc); `settled` also
    waits for no element to be marked stale (a timed refresh under way), for screenshots."""
    page.get_by_text(DONE_TEXT).first.wait_for(timeout=timeout_s * 1000)
    page.wait_for_function(
        """settled => {
            const charts = document.querySelectorAll('[data-testid="stVegaLiteChart"]');
            const stale = document.querySelectorAll('[data-stale="true"]');
            return (!settled || stale.length === 0) && [...charts].every(
                c => c.querySelector('svg.marks, canvas') !== null);
        }""",
        arg=settled,
        timeout=timeout_s * 1000,
        polling=20,
    )


def screenshot(page, path: Path, timeout_s: float = 60.0) -> None:
    """The page from its top, up to SHOT_MAX_H pixels: Streamlit scrolls inside its main
    block, so the viewport is grown to the block's height first (the content redraws)."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    height = min(max(VIEWPORT["height"], height), SHOT_MAX_H)  # a 50-alert page: its top
    page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    page.wait_for_timeout(1500)
    _full_content(page, timeout_s, settled=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path)


def time_pages(
    url: str,
    pages: dict[str, str],
    repeats: int,
    shots: Path | None = None,
    timeout_s: float = 60.0,
) -> list[PageTiming]:
    """Open each page (`pages`: name -> path after `url`) `repeats` times in a fresh browser
    page, after one untimed warm-up visit each, in rounds (every page once per round);
    screenshot each page (full page) into `shots` in the last round. Console errors of every
    visit are kept."""
    from playwright.sync_api import sync_playwright

    out = [PageTiming(name, path) for name, path in pages.items()]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        context = browser.new_context(viewport=VIEWPORT)
        for run in range(repeats + 1):  # rounds over the pages: each sees every phase of a
            for timing in out:  # demo running beside it, none only its start
                page = context.new_page()
                page.on(
                    "console",
                    lambda m, t=timing: m.type == "error" and t.console_errors.append(m.text),
                )
                t0 = time.perf_counter()
                page.goto(url + timing.path)
                _full_content(page, timeout_s)
                elapsed = time.perf_counter() - t0
                if run > 0:
                    timing.seconds.append(elapsed)
                if run == repeats and shots is not None:
                    name = timing.name.replace(": ", "-")  # `asset: trends` -> asset-trends.png
                    screenshot(page, shots / f"{name}.png", timeout_s)
                page.close()
        browser.close()
    return out
