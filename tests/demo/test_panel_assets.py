"""The panel's files are served from package data, publicly, with a strict CSP."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from relay.app import create_app
from relay.config import Settings
from relay.evolution.names import EVENTS_2_3, REQUIRED_EVENTS
from relay.panel import load_assets


async def test_page_and_assets_are_public_with_csp(aiohttp_client: Any, settings: Settings) -> None:
    client: TestClient = await aiohttp_client(create_app(settings))
    page = await client.get("/")
    assert page.status == 200
    assert page.content_type == "text/html"
    html = await page.text()
    assert '<script src="/panel/panel.js" defer></script>' in html
    assert "Tem certeza?" in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]

    for name, kind in (("panel.js", "text/javascript"), ("panel.css", "text/css")):
        asset = await client.get(f"/panel/{name}")
        assert asset.status == 200, name
        assert asset.content_type == kind
        assert len(await asset.read()) > 1000

    events = await (await client.get("/panel/events.json")).json()
    assert events == {"events": list(EVENTS_2_3), "required": list(REQUIRED_EVENTS)}
    assert len(events["events"]) == 31

    missing = await client.get("/panel/../relay/config.py")
    assert missing.status == 404
    assert (await client.get("/panel/__init__.py")).status == 404


def test_assets_load_from_package_data() -> None:
    assets = load_assets()
    assert set(assets) == {"index.html", "panel.css", "panel.js", "events.json"}
    assert b"EventSource" in assets["panel.js"].body
    assert b"http://" not in assets["panel.js"].body  # no CDN, nothing off-origin
