"""The panel's files are served from package data, publicly, with a strict CSP."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from aiohttp.test_utils import TestClient

from relay.app import create_app
from relay.config import Settings
from relay.evolution.names import EVENTS_2_2, EVENTS_2_3, REQUIRED_EVENTS
from relay.panel import load_assets

MODULES = {
    "js/main.js",
    "js/api.js",
    "js/client.js",
    "js/dialogs.js",
    "js/labels.js",
    "js/store/state.js",
    "js/view/detail.js",
    "js/view/list.js",
    "js/view/notices.js",
    "js/view/qr.js",
    "js/view/settings.js",
    "js/view/summary.js",
}
# `import ... from "./x.js"` and `export ... from "../y.js"`: only relative specifiers.
IMPORT = re.compile(r"""^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']""", re.M)


async def test_page_and_assets_are_public_with_csp(aiohttp_client: Any, settings: Settings) -> None:
    client: TestClient = await aiohttp_client(create_app(settings))
    page = await client.get("/")
    assert page.status == 200
    assert page.content_type == "text/html"
    html = await page.text()
    assert '<script type="module" src="/panel/js/main.js"></script>' in html
    assert "Tem certeza?" in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]

    for name in sorted(MODULES):
        asset = await client.get(f"/panel/{name}")
        assert asset.status == 200, name
        assert asset.content_type == "text/javascript", name  # module scripts demand it
        assert asset.headers["X-Content-Type-Options"] == "nosniff"
        assert "script-src 'self'" in asset.headers["Content-Security-Policy"]
    css = await client.get("/panel/panel.css")
    assert css.status == 200 and css.content_type == "text/css"

    icon = await client.get("/panel/favicon.svg")
    assert icon.status == 200 and icon.content_type == "image/svg+xml"
    assert '<link rel="icon" type="image/svg+xml" href="/panel/favicon.svg">' in html

    events = await (await client.get("/panel/events.json")).json()
    assert events == {
        "events": list(EVENTS_2_3),
        "required": list(REQUIRED_EVENTS),
        "byVersion": {"2.2": list(EVENTS_2_2), "2.3": list(EVENTS_2_3)},
    }
    assert len(events["byVersion"]["2.3"]) == 31 and len(events["byVersion"]["2.2"]) == 27

    for path in ("../relay/config.py", "__init__.py", "js/../__init__.py", "panel.js", "js"):
        assert (await client.get(f"/panel/{path}")).status == 404, path


async def test_client_module_is_public_at_its_own_path(
    aiohttp_client: Any, settings: Settings
) -> None:
    client: TestClient = await aiohttp_client(create_app(settings))
    module = await client.get("/client.js")  # no token: a SaaS page imports it as it loads
    assert module.status == 200
    assert module.content_type == "text/javascript"
    body = await module.read()
    assert body == load_assets()["js/client.js"].body  # the very module the panel runs on
    assert b"export class RelayClient" in body
    assert IMPORT.findall(body.decode()) == []  # it depends on nothing


def test_assets_load_from_package_data() -> None:
    assets = load_assets()
    assert set(assets) == {"index.html", "panel.css", "favicon.svg", "events.json"} | MODULES
    assert b"EventSource" in assets["js/client.js"].body
    for name in MODULES:
        assert b"http://" not in assets[name].body, name  # no CDN, nothing off-origin


def test_every_module_import_is_served() -> None:
    """Each relative import resolves to a served module: a missing file would only show in a
    browser, as a page that never starts."""
    assets = load_assets()
    seen: set[str] = set()
    pending = ["js/main.js"]
    while pending:
        name = pending.pop()
        seen.add(name)
        folder = PurePosixPath(name).parent
        for spec in IMPORT.findall(assets[name].body.decode()):
            assert spec.startswith("./") or spec.startswith("../"), (name, spec)
            target = _normalise(folder / spec)
            assert target in assets, f"{name} imports {spec}: /panel/{target} is not served"
            if target not in seen:
                pending.append(target)
    assert seen == MODULES  # every module is reachable from main.js, none is left over


def _normalise(path: PurePosixPath) -> str:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)
