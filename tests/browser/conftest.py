"""Fixtures for the panel in real Chromium: the demo's wiring on free ports, and a page.

Chromium is Debian's (``/usr/bin/chromium``); Playwright cannot download browsers here. Without
it the tests skip, except under ``CI=true`` where they fail: CI must not pass by skipping.
Each step's screenshot goes to ``artifacts/browser/`` (git-ignored); with
``UPDATE_DOCS_SCREENSHOT=1``, :meth:`Panel.docs_shot` also refreshes ``docs/panel-*.png``.

The tests see the panel as a user and the network do: the DOM, and every Server-Sent Event
the page receives (:attr:`Panel.frames`, read from Chromium's DevTools protocol). The panel
has no JavaScript hook for tests. Accessibility is checked with axe-core from npm
(``tests/node_modules``), evaluated in the page through DevTools (:meth:`Panel.axe`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from relay.demo.wiring import Demo, DemoOptions, running
from relay.store import Status, Store
from tests.browser.netcut import CuttableLink
from tests.conftest import REPO
from tests.support import eventually, missing_tool

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
DOCS = REPO / "docs"
AXE = REPO / "tests" / "node_modules" / "axe-core" / "axe.min.js"
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


@dataclass(frozen=True, slots=True)
class Frame:
    """One Server-Sent Event as the page received it."""

    event: str
    id: int | None
    data: Any

    def names(self) -> set[str]:
        """The instances this event is about."""
        if self.event == "instances.snapshot":
            return {item["instanceName"] for item in self.data["instances"]}
        about = self.data.get("instanceName") or self.data.get("instance")
        if isinstance(about, dict):  # instance.added
            about = about.get("instanceName")
        return {about} if about else set()


class Panel:
    """A page on the panel, plus the test's helpers: screenshots, JS errors, the SSE frames."""

    def __init__(self, page: Page, demo: Demo, test_name: str) -> None:
        self.page = page
        self.demo = demo
        self.name = re.sub(r"[^A-Za-z0-9_-]+", "-", test_name)
        self.errors: list[str] = []
        self.failed_loads: list[str] = []
        self.frames: list[Frame] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console)

    async def watch_stream(self) -> None:
        """Record every SSE frame the page receives, from the DevTools protocol."""
        cdp = await self.page.context.new_cdp_session(self.page)
        cdp.on("Network.eventSourceMessageReceived", self._frame)
        await cdp.send("Network.enable")

    def _frame(self, message: dict[str, Any]) -> None:
        event_id = message.get("eventId") or ""
        seq = int(event_id) if event_id.isdigit() else None
        try:
            data = json.loads(message["data"]) if message["data"] else {}
        except json.JSONDecodeError:
            data = message["data"]
        self.frames.append(Frame(message["eventName"], seq, data))

    def last_id(self) -> int:
        ids = [frame.id for frame in self.frames if frame.id is not None]
        assert ids, "the page has received no event with an id"
        return max(ids)

    def got(self, event: str, name: str) -> bool:
        return any(f.event == event and name in f.names() for f in self.frames)

    def _console(self, message: Any) -> None:
        # Chromium logs every non-2xx fetch as "Failed to load resource"; the tests make
        # some on purpose (a bad token). Anything else logged as an error is a bug.
        if message.type != "error":
            return
        if message.text.startswith("Failed to load resource"):
            self.failed_loads.append(f"{message.text} {message.location.get('url', '')}")
        else:
            self.errors.append(message.text)

    async def open(self, who: str | None = "tenant-a", *, base: str | None = None) -> None:
        """The panel with one of the demo's tokens (None: no token), from ``base`` if given."""
        await self.open_with(self.demo.tokens[who] if who else None, base=base)

    async def open_with(self, token: str | None, *, base: str | None = None) -> None:
        url = (base or self.demo.relay_url) + "/"
        await self.page.goto(url + (f"#token={token}" if token else ""))

    def row(self, name: str) -> Any:
        return self.page.locator(f'li.row[data-instance="{name}"]')

    def badge(self, name: str) -> Any:
        return self.row(name).locator(".badge")

    @property
    def detail(self) -> Any:
        return self.page.locator("#detail")

    async def rows(self) -> list[str]:
        """The names of the rows in the DOM (the list draws only what the window shows)."""
        return sorted(
            await self.page.locator("li.row").evaluate_all(
                "els => els.map(e => e.dataset.instance)"
            )
        )

    async def open_detail(self, name: str) -> Any:
        await self.row(name).locator(".row-open").click()
        await expect(self.detail).to_be_visible()
        await expect(self.detail.locator("#detail-title")).to_have_text(name)
        return self.detail

    async def shot(self, step: str, path: Path | None = None, *, full_page: bool = False) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        target = path or ARTIFACTS / f"{self.name}-{step}.png"
        await self.page.screenshot(path=str(target), full_page=full_page)
        return target

    async def docs_shot(self, name: str, *, full_page: bool = False) -> None:
        """A screenshot for the docs (``docs/panel-<name>.png``), with UPDATE_DOCS_SCREENSHOT=1."""
        await self.shot(name, full_page=full_page)
        if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
            await self.shot(name, DOCS / f"panel-{name}.png", full_page=full_page)

    async def axe(self, context: str = "document") -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the page as it is now."""
        if not AXE.exists():
            missing_tool(f"{AXE} is missing: run `npm ci --prefix tests` (make node)")
        if not await self.page.evaluate("typeof window.axe === 'object'"):
            await self.page.evaluate(AXE.read_text())
        found = await self.page.evaluate(
            """async (context) => {
                const result = await axe.run(context === "document" ? document
                    : document.querySelector(context), {resultTypes: ["violations"]});
                return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5)}));
            }""",
            context,
        )
        return [v for v in found if v["impact"] in ("serious", "critical")]


@asynccontextmanager
async def panel_page(browser: Browser, demo: Demo, name: str) -> AsyncIterator[Panel]:
    """A page in a context of its own (its own sessionStorage), closed and checked after."""
    context = await browser.new_context(viewport=LAPTOP)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    opened = Panel(page, demo, name)
    await opened.watch_stream()
    try:
        yield opened
    finally:
        await context.close()
    assert not opened.errors, f"JavaScript errors on the page: {opened.errors}"


@pytest.fixture
async def panel(
    browser: Browser, demo: Demo, request: pytest.FixtureRequest
) -> AsyncIterator[Panel]:
    async with panel_page(browser, demo, request.node.name) as opened:
        yield opened


@pytest.fixture
async def other_panel(
    browser: Browser, demo: Demo, request: pytest.FixtureRequest
) -> AsyncIterator[Panel]:
    """A second page, as another tab or another user of the same tenant would have."""
    async with panel_page(browser, demo, request.node.name + "-other") as opened:
        yield opened


@pytest.fixture
async def link(demo: Demo) -> AsyncIterator[CuttableLink]:
    """A cuttable network path to the relay: open the page with ``base=link.url``."""
    forwarder = CuttableLink(demo.relay_url)
    await forwarder.start()
    try:
        yield forwarder
    finally:
        await forwarder.close()


async def api(
    http: aiohttp.ClientSession,
    demo: Demo,
    method: str,
    path: str,
    who: str = "tenant-a",
    body: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Call the relay's management API with one of the demo's tokens."""
    headers = {"Authorization": f"Bearer {demo.tokens[who]}"}
    url = demo.relay_url + API + path
    async with http.request(method, url, headers=headers, json=body) as response:
        return response.status, await response.json()


async def scan(http: aiohttp.ClientSession, demo: Demo, name: str) -> None:
    async with http.post(f"{demo.simulator_url}/_sim/scan/{name}") as response:
        assert response.status == 200, await response.text()


async def stored_status(http: aiohttp.ClientSession, demo: Demo, name: str, want: str) -> None:
    """Poll the API (with a deadline) until the relay has recorded ``want`` for ``name``."""

    async def recorded() -> str | None:
        status, body = await api(http, demo, "GET", "/instances")
        assert status == 200, body
        return {i["instanceName"]: i["status"] for i in body["instances"]}.get(name)

    await eventually(recorded, until=lambda found: found == want, what=f"{name} recorded as {want}")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


STATUS_CYCLE = (Status.WORKING, Status.SCAN_QR_CODE, Status.STOPPED, Status.FAILED, Status.STARTING)
REASON_OF = {
    Status.WORKING: "open", Status.SCAN_QR_CODE: "qrcode", Status.STOPPED: "api:logout",
    Status.FAILED: "closed (403)", Status.STARTING: "connecting",
}  # fmt: skip


async def seed_many(database_url: str, count: int, tenants: int = 10) -> dict[str, tuple[str, str]]:
    """``count`` instances ``load-0001``… written straight into the relay's store, in blocks
    over ``tenants`` tenants ``t-01``…, each block cycling through the statuses, alternately
    on the demo's two Evolution servers. Returns
    name -> (tenant, status). The relay's snapshots read the store, so a panel opened
    afterwards shows them."""
    store = await Store.open(database_url, max_size=8)
    made: dict[str, tuple[str, str]] = {}
    try:
        sem = asyncio.Semaphore(8)

        async def one(i: int) -> None:
            name, tenant = f"load-{i:04d}", f"t-{(i - 1) * tenants // count + 1:02d}"
            status = STATUS_CYCLE[i % len(STATUS_CYCLE)]
            async with sem:
                await store.create_instance(tenant, name, status=status, reason=REASON_OF[status],
                                            server=("evo-1", "evo-2")[i % 2])  # fmt: skip
            made[name] = (tenant, status.value)

        await asyncio.gather(*(one(i) for i in range(1, count + 1)))
    finally:
        await store.close()
    return made
