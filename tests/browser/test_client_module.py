"""The client module (``/client.js``) used as a SaaS frontend would: a plain page on another
origin imports it from the relay, gives it a function that fetches a token from the SaaS's own
backend, and draws the instances it keeps. It must follow every change, resume after a network
drop without missing an event, and come back to the truth after a relay restart.

The page is this test's own (not the panel), so it may keep what it saw in ``window``.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser, Page

from relay.demo.wiring import SEED, TENANT_A, Demo, DemoOptions, running
from tests.browser.conftest import LAPTOP, CuttableLink, api, scan, stored_status
from tests.conftest import REPO, free_port

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

TENANT_A_NAMES = sorted(s.name for s in SEED if s.tenant == TENANT_A)

PAGE = """<!doctype html>
<html lang="pt-BR"><head><meta charset="utf-8"><title>Minha SaaS</title></head>
<body><ul id="list"></ul>
<script type="module">
  import { RelayClient } from "RELAY/client.js";
  window.changes = [];
  window.statusEvents = [];
  window.tokenCalls = 0;
  const client = new RelayClient({
    url: "RELAY",
    token: async () => {
      window.tokenCalls += 1;
      return (await fetch("/token")).text();
    },
    onEvent: (name, e) => {
      if (name === "instance.status") window.statusEvents.push([e.instanceName, e.status, e.seq]);
    },
  });
  client.subscribe((change) => {
    window.changes.push({ type: change.type, name: change.name ?? null,
      status: change.instance ? change.instance.status : null, state: change.state ?? null,
      recovered: change.recovered ?? null });
    document.getElementById("list").replaceChildren(...[...client.instances.values()].map((i) => {
      const li = document.createElement("li");
      li.textContent = `${i.instanceName}: ${i.status}`;
      return li;
    }));
  });
  window.client = client;
  client.start();
</script></body></html>
"""


DOCS_PANEL = REPO / "docs" / "panel.md"
EXAMPLE_RELAY = "https://relay.example.com"


def docs_example() -> str:
    """The plain-page example of docs/panel.md, as written."""
    blocks = re.findall(r"```html\n(.*?)```", DOCS_PANEL.read_text(), re.S)
    (example,) = [b for b in blocks if "RelayClient" in b]
    return example


class Saas:
    """The SaaS's frontend server: its page (and the docs' example), and /token, which its
    backend would mint."""

    def __init__(self) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.relay = ""
        self.demo: Demo | None = None
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self.page)
        app.router.add_get("/example", self.example)
        app.router.add_get("/token", self.token)
        app.router.add_get("/my-backend/relay-token", self.token)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=PAGE.replace("RELAY", self.relay), content_type="text/html")

    async def example(self, request: web.Request) -> web.Response:
        html = "<!doctype html><html lang='pt-BR'><head><meta charset='utf-8'><title>Ex</title>"
        html += (
            "</head><body>" + docs_example().replace(EXAMPLE_RELAY, self.relay) + "</body></html>"
        )
        return web.Response(text=html, content_type="text/html")

    async def token(self, request: web.Request) -> web.Response:
        assert self.demo is not None
        return web.Response(text=self.demo.tokens["tenant-a"])

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def saas() -> AsyncIterator[Saas]:
    server = Saas()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def cors_demo(database_url: str, tmp_path: Path, saas: Saas) -> AsyncIterator[Demo]:
    """The demo, with the SaaS's origin allowed (RELAY_CORS_ORIGINS)."""
    options = DemoOptions(
        port=0, sim_port=0, data_dir=tmp_path / "data", database_url=database_url,
        qr_interval=1.0, token_ttl=600, log_level="INFO", cors_origins=(saas.origin,),
    )  # fmt: skip
    async with running(options) as started:
        saas.demo = started
        yield started


async def read(page: Page, expression: str) -> Any:
    return await page.evaluate(expression)


async def until(page: Page, expression: str, within: float = 15.0) -> None:
    await page.wait_for_function(expression, timeout=within * 1000)


async def truth(http: aiohttp.ClientSession, demo: Demo) -> dict[str, str]:
    status, body = await api(http, demo, "GET", "/instances")
    assert status == 200, body
    return {i["instanceName"]: i["status"] for i in body["instances"]}


async def statuses(page: Page) -> dict[str, str]:
    found: dict[str, str] = await read(
        page, "Object.fromEntries([...client.instances].map(([n, i]) => [n, i.status]))"
    )
    return found


async def same_as_truth(page: Page, http: aiohttp.ClientSession, demo: Demo) -> None:
    deadline = time.monotonic() + 15
    while (seen := await statuses(page)) != (want := await truth(http, demo)):
        assert time.monotonic() < deadline, f"the page keeps {seen}, the relay says {want}"
        await page.wait_for_timeout(100)


async def test_a_saas_page_follows_resumes_and_survives_a_relay_restart(
    browser: Browser, cors_demo: Demo, saas: Saas, http: aiohttp.ClientSession
) -> None:
    demo = cors_demo
    link = CuttableLink(demo.relay_url)
    await link.start()
    context = await browser.new_context(viewport=LAPTOP)
    errors: list[str] = []
    try:
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        saas.relay = link.url
        await page.goto(saas.origin + "/")
        await until(page, "window.client && client.state === 'live' && client.instances.size === 3")
        assert sorted(await read(page, "[...client.instances.keys()]")) == TENANT_A_NAMES
        assert await read(page, "tokenCalls") == 1  # the token came from the SaaS's backend
        await same_as_truth(page, http, demo)
        # Live QR with no protocol knowledge: client.qr() says what may be shown.
        await until(page, "client.qr(client.instances.get('a-vendas')).qrcode !== undefined")
        image = await read(page, "client.qr(client.instances.get('a-vendas')).qrcode.base64")
        assert image.startswith("data:image/png;base64,")

        # 1. The network drops; a status changes meanwhile; the event is replayed, not lost.
        before = await read(page, "client.lastSeq")
        link.cut()
        await until(page, "client.state === 'reconnecting'")
        await scan(http, demo, "a-vendas")
        await stored_status(http, demo, "a-vendas", "WORKING")
        assert (await statuses(page))["a-vendas"] != "WORKING"  # really cut off
        link.restore()
        await until(page, "client.instances.get('a-vendas').status === 'WORKING'")
        events = await read(page, "statusEvents")
        replayed = [e for e in events if e[0] == "a-vendas" and e[1] == "WORKING"]
        assert replayed and replayed[0][2] > before, events  # the event itself, after lastSeq
        await same_as_truth(page, http, demo)

        # 2. The relay restarts (its history is gone); a-suporte is logged out meanwhile.
        seq_before_restart = await read(page, "client.lastSeq")
        snapshots = await read(page, "changes.filter((c) => c.type === 'snapshot').length")
        await demo.relay.stop()
        await until(page, "client.state === 'reconnecting'")
        async with http.post(f"{demo.simulator_url}/_sim/drop/a-suporte?code=401") as response:
            assert response.status == 200
        await demo.relay.start()
        await until(page, "client.state === 'live'", within=20)
        await until(
            page, f"changes.filter((c) => c.type === 'snapshot').length > {snapshots}", within=20
        )
        # Then a change made through the API after the restart arrives live.
        status, body = await api(http, demo, "POST", "/connect/a-financeiro")
        assert status == 200, body
        await until(page, "client.instances.get('a-financeiro').status !== 'STOPPED'")
        await stored_status(http, demo, "a-suporte", "STOPPED")  # reconciled after the restart
        await same_as_truth(page, http, demo)

        seqs = [e[2] for e in await read(page, "statusEvents")]
        assert seqs == sorted(set(seqs)), seqs  # no event applied twice, none out of order
        assert await read(page, "client.lastSeq") > seq_before_restart
        changes = await read(page, "changes")
        restart_snapshot = [c for c in changes if c["type"] == "snapshot"][snapshots]
        assert restart_snapshot["recovered"] is False  # told to redraw from the snapshot
        assert not errors, errors
    finally:
        await context.close()
        await link.close()


async def test_the_docs_plain_page_example_runs_as_written(
    browser: Browser, cors_demo: Demo, saas: Saas
) -> None:
    saas.relay = cors_demo.relay_url
    context = await browser.new_context(viewport=LAPTOP)
    errors: list[str] = []
    try:
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(saas.origin + "/example")
        items = page.locator("#instances li")
        # a-vendas is pairing: its QR shows up (a data: URL image) once the relay has one.
        await page.wait_for_function(
            "() => [...document.querySelectorAll('#instances img')].some("
            "(img) => img.src.startsWith('data:image/png;base64,'))"
        )
        texts = sorted(await items.all_text_contents())
        assert texts == ["a-financeiro: STOPPED", "a-suporte: WORKING", "a-vendas: SCAN_QR_CODE"]
        assert await items.filter(has_text="a-vendas").locator("img").count() == 1
        assert not errors, errors
    finally:
        await context.close()
