"""The built-in panel: ``GET /`` and its assets under ``/panel/``, served from package data.

The files (``index.html``, ``panel.css``, ``panel.js``) are plain HTML, CSS and JavaScript
with no build step; they are read once through :mod:`importlib.resources`, so the panel works
from a wheel or a zip as well as from a checkout. ``/panel/events.json`` is the list of
Evolution's websocket event names, from :mod:`relay.evolution.names`, so the dialog's
checkboxes and the API's validation share one source.

Both paths are public (the middleware's list): the page holds no data, every call it makes
carries the user's token. A strict Content-Security-Policy keeps the page to its own origin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Final

from aiohttp import web

from relay.evolution.names import EVENTS_2_3, REQUIRED_EVENTS

ASSETS: Final = {
    "index.html": "text/html",
    "panel.css": "text/css",
    "panel.js": "text/javascript",
}

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str

    def response(self) -> web.Response:
        return web.Response(
            body=self.body,
            content_type=self.content_type,
            charset="utf-8",
            headers=SECURITY_HEADERS,
        )


def load_assets() -> dict[str, Asset]:
    """Every file of the panel, read from package data, plus the event list."""
    files = resources.files(__name__)
    assets = {
        name: Asset(files.joinpath(name).read_bytes(), content_type)
        for name, content_type in ASSETS.items()
    }
    events = {"events": list(EVENTS_2_3), "required": list(REQUIRED_EVENTS)}
    assets["events.json"] = Asset(json.dumps(events).encode(), "application/json")
    return assets


def setup(app: web.Application) -> None:
    """Add ``GET /`` and ``GET /panel/{file}`` to ``app``."""
    assets = load_assets()
    index = assets["index.html"]

    async def page(request: web.Request) -> web.Response:
        return index.response()

    async def asset(request: web.Request) -> web.Response:
        found = assets.get(request.match_info["file"])
        if found is None:
            raise web.HTTPNotFound()
        return found.response()

    app.router.add_get("/", page)
    app.router.add_get("/panel/{file}", asset)
