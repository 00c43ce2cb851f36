"""Shutdown with live clients: SSE streams end and Socket.IO clients are disconnected, so
``serve`` returns without waiting out aiohttp's shutdown timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from relay.app import create_app, serve
from relay.config import Settings
from tests.support import eventually, wait_healthy

from ..conftest import bearer, free_port
from .conftest import DEADLINE, make_recorder


async def test_serve_stops_with_clients_connected(
    make_settings: Callable[..., Settings], token: Callable[..., str]
) -> None:
    port = free_port()
    settings = make_settings(port=port, shutdown_timeout=30)
    url = f"http://127.0.0.1:{port}"
    stop = asyncio.Event()
    app = create_app(settings)
    server = asyncio.create_task(serve(settings, stop=stop, app=app))
    recorder = make_recorder()
    async with aiohttp.ClientSession() as session:
        await wait_healthy(url + "/healthz")
        await recorder.client.connect(url, auth={"token": token("acme")}, transports=["websocket"])
        await recorder.wait_count("instances.snapshot", 1)
        async with session.get(url + "/api/events", headers=bearer(token("acme"))) as stream:
            assert (await stream.content.readline()).startswith(b"id: ")
            stop.set()
            # the stream ends (EOF) instead of hanging until the 30 s shutdown timeout
            rest = await asyncio.wait_for(stream.content.read(), DEADLINE)
            assert b"event: instances.snapshot" in rest
        await asyncio.wait_for(server, DEADLINE)
    await eventually(lambda: not recorder.client.connected, what="the client disconnected")
    await recorder.client.disconnect()
