"""Drive Debian's Chromium (``/usr/bin/chromium``) with Playwright, offline, for the web pages.

Playwright's own browser download is not used: the tests need no internet. A missing Chromium
FAILS the test (never a skip) with the command that installs it. Every request the page makes to
anything but the service under test is blocked and recorded, so a CDN reference shows up as a
failure, not as a page that happens to work online.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, ViewportSize, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "test-results" / "screenshots"


def require_chromium() -> None:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium. Install it with "
            "`sudo bash scripts/install-test-deps.sh` (or `make deps-test`).",
            pytrace=False,
        )


@dataclass
class Browsing:
    """A page plus what went wrong while it was used."""

    page: Page
    out_dir: Path
    blocked: list[str] = field(default_factory=list)  # requests to other hosts
    errors: list[str] = field(default_factory=list)  # uncaught page errors, console errors

    def screenshot(self, name: str, *, full_page: bool = False) -> Path:
        """Save ``name.png`` in the test's folder and copy it to test-results/screenshots/."""
        path = self.out_dir / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / path.name)
        return path

    def assert_clean(self) -> None:
        assert not self.blocked, f"the page tried to reach other hosts: {self.blocked}"
        assert not self.errors, f"errors in the page: {self.errors}"


@contextmanager
def browsing(base_url: str, out_dir: Path, *, now: datetime | None = None) -> Iterator[Browsing]:
    """A fresh 1280×800 Chromium page allowed to reach ``base_url`` only; its ``Date`` fixed at
    ``now`` when given (feedback timestamps come from the browser)."""
    require_chromium()
    allowed = urlsplit(base_url).netloc
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT, base_url=base_url)
            page = context.new_page()
            if now is not None:
                page.clock.set_fixed_time(now)
            page.set_default_timeout(15_000)
            state = Browsing(page, out_dir)

            def guard(route: Route) -> None:
                parts = urlsplit(route.request.url)
                if parts.scheme in ("http", "https") and parts.netloc != allowed:
                    state.blocked.append(route.request.url)
                    route.abort()
                else:
                    route.continue_()

            context.route("**/*", guard)
            page.on("pageerror", lambda exc: state.errors.append(f"pageerror: {exc}"))
            page.on(
                "console",
                lambda msg: (
                    state.errors.append(f"console: {msg.text}")
                    if msg.type == "error" and "status of 4" not in msg.text
                    else None
                ),
            )
            yield state
        finally:
            browser.close()
