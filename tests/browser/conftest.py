"""Fixtures for the panel in real Chromium: the demo's wiring on free ports, and a page.

Chromium is Debian's (``/usr/bin/chromium``); Playwright cannot download browsers here. Without
it the tests skip, except under ``CI=true`` where they fail: CI must not pass by skipping.
Each step's screenshot goes to ``artifacts/browser/`` (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright

from relay.demo.wiring import Demo, DemoOptions, running
from tests.conftest import REPO
from tests.support import missing_tool

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO / "artifacts" / "browser"
API = "/api/instance-management"
LAPTOP = {"width": 1180, "height": 760}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
        missing_tool(reason)
    return CHROMIUM


@pytest.fixture
async def demo(database_url: str, tmp_path: Path) -> AsyncIterator[Demo]:
    """The demo, as ``evo-relay demo`` wires it, on free ports and the test's schema."""
    options = DemoOptions(
        port=0, sim_port=0, data_dir=tmp_path / "data", database_url=database_url,
        qr_interval=1.0, token_ttl=600, log_level="INFO",
    )  # fmt: skip
    async with running(options) as started:
        yield started


@pytest.fixture
async def browser(chromium_path: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


class Panel:
    """A page on the panel, plus the test's helpers: screenshots, JS errors, the API."""

    def __init__(self, page: Page, demo: Demo, test_name: str) -> None:
        self.page = page
        self.demo = demo
        self.name = re.sub(r"[^A-Za-z0-9_-]+", "-", test_name)
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        # Chromium logs every non-2xx fetch as "Failed to load resource"; the tests make
        # some on purpose (a bad token). Anything else logged as an error is a bug.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    async def open(self, who: str | None = "tenant-a") -> None:
        url = self.demo.panel_url(who) if who else self.demo.relay_url + "/"
        await self.page.goto(url)

    def card(self, name: str) -> Any:
        return self.page.locator(f'li.card[data-instance="{name}"]')

    def badge(self, name: str) -> Any:
        return self.card(name).locator(".badge")

    async def cards(self) -> list[str]:
        return sorted(
            await self.page.locator("li.card").evaluate_all(
                "els => els.map(e => e.dataset.instance)"
            )
        )

    async def shot(self, step: str, path: Path | None = None, *, full_page: bool = False) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        target = path or ARTIFACTS / f"{self.name}-{step}.png"
        await self.page.screenshot(path=str(target), full_page=full_page)
        return target


@pytest.fixture
async def panel(
    browser: Browser, demo: Demo, request: pytest.FixtureRequest
) -> AsyncIterator[Panel]:
    context = await browser.new_context(viewport=LAPTOP)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    opened = Panel(page, demo, request.node.name)
    try:
        yield opened
    finally:
        await context.close()
    assert not opened.errors, f"JavaScript errors on the page: {opened.errors}"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session
