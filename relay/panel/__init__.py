"""The built-in panel: ``GET /`` and its assets under ``/panel/``, and the live client at
``GET /client.js``, served from package data.

The files are plain HTML, CSS and JavaScript with no build step: ``index.html``, ``panel.css``,
``favicon.svg`` and the ES modules under ``js/`` (``js/main.js`` imports the others by relative
path, so they are served at ``/panel/js/...``). Every file of this package with a known suffix
is read once through :mod:`importlib.resources`, so the panel works from a wheel or a zip as
well as from a checkout, and a new module needs no change here. ``js/client.js`` is also served
at ``/client.js``: the module a SaaS frontend imports to follow its instances (docs/panel.md).
``/panel/events.json`` lists Evolution's event names, all of them and per server version,
from :mod:`relay.evolution.names`, so the editors' checkboxes and the API's validation share
one source.

These paths are public (the middleware's list): the page holds no data, every call it makes
carries the user's token. A strict Content-Security-Policy keeps the page to its own origin.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import PurePosixPath
from typing import Final

from aiohttp import web

from relay.evolution.names import EVENTS_2_2, EVENTS_2_3, REQUIRED_EVENTS

# By suffix. Module scripts need a JavaScript type: browsers refuse others under nosniff.
CONTENT_TYPES: Final = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
}
CLIENT: Final = "js/client.js"

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


def _panel_files(folder: Traversable, prefix: str = "") -> Iterator[tuple[str, Traversable]]:
    """``(path under /panel/, file)`` for each file with a known suffix, in sub-folders too."""
    for entry in folder.iterdir():
        if entry.is_dir():
            if entry.name != "__pycache__":
                yield from _panel_files(entry, f"{prefix}{entry.name}/")
        elif PurePosixPath(entry.name).suffix in CONTENT_TYPES:
            yield prefix + entry.name, entry


def load_assets() -> dict[str, Asset]:
    """Every file of the panel, read from package data, plus the event list."""
    assets = {
        path: Asset(file.read_bytes(), CONTENT_TYPES[PurePosixPath(path).suffix])
        for path, file in _panel_files(resources.files(__name__))
    }
    events = {
        "events": list(EVENTS_2_3),
        "required": list(REQUIRED_EVENTS),
        "byVersion": {"2.2": list(EVENTS_2_2), "2.3": list(EVENTS_2_3)},
    }
    assets["events.json"] = Asset(json.dumps(events).encode(), "application/json")
    return assets


def setup(app: web.Application) -> None:
    """Add ``GET /``, ``GET /client.js`` and ``GET /panel/{path}`` to ``app``: only the files
    loaded above."""
    assets = load_assets()
    index = assets["index.html"]
    client = assets[CLIENT]

    async def page(request: web.Request) -> web.Response:
        return index.response()

    async def client_module(request: web.Request) -> web.Response:
        return client.response()

    async def asset(request: web.Request) -> web.Response:
        found = assets.get(request.match_info["path"])
        if found is None:
            raise web.HTTPNotFound()
        return found.response()

    app.router.add_get("/", page)
    app.router.add_get("/client.js", client_module)
    app.router.add_get("/panel/{path:.+}", asset)
