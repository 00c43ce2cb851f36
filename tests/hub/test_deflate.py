"""Per-message deflate is off by default, on with RELAY_WS_COMPRESSION, for any client offer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from relay.app import create_app
from relay.config import Settings

HANDSHAKE = "/socket.io/?EIO=4&transport=websocket"


async def negotiated(url: str) -> tuple[int, str | None, str]:
    """Offer permessage-deflate like browsers do; return what the server agreed to."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url + HANDSHAKE, compress=15) as ws,
    ):
        extensions = ws._response.headers.get("Sec-WebSocket-Extensions")
        opening = await ws.receive_str(timeout=5)
        return ws.compress, extensions, opening


async def test_deflate_is_declined_by_default(aiohttp_server: Any, settings: Settings) -> None:
    assert settings.ws_compression is False
    server = await aiohttp_server(create_app(settings))
    compress, extensions, opening = await negotiated(str(server.make_url("")).rstrip("/"))
    assert opening.startswith("0{")  # engine.io OPEN: the handshake really reached engine.io
    assert extensions is None
    assert compress == 0


async def test_deflate_is_negotiated_when_enabled(
    aiohttp_server: Any, make_settings: Callable[..., Settings]
) -> None:
    server = await aiohttp_server(create_app(make_settings(ws_compression=True)))
    compress, extensions, _ = await negotiated(str(server.make_url("")).rstrip("/"))
    assert extensions is not None and "permessage-deflate" in extensions
    assert compress == 15
