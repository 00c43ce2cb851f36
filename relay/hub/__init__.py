"""The hub: Socket.IO (``/socket.io/``, namespace ``/``) and SSE (``GET /api/events``) for
frontends. ``setup(app)`` adds the routes and the shutdown hook; ``hub_ctx`` creates the
:class:`Hub` at ``app[HUB]`` once the store exists.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from relay.appkeys import BUS, FAST_PATHS, HUB, METRICS, PRINCIPAL, SETTINGS, STORE, TASKS, VERIFIER
from relay.hub.hub import Hub
from relay.hub.sio import PATH

__all__ = ["Hub", "hub_ctx", "setup"]


async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
    app[HUB] = Hub(app[SETTINGS], app[STORE], app[VERIFIER], app[METRICS], app[TASKS],
                   fast=app[FAST_PATHS].fanout, bus=app[BUS])  # fmt: skip
    yield


async def _socketio(request: web.Request) -> web.StreamResponse:
    return await request.app[HUB].handle_socketio(request)


async def _events(request: web.Request) -> web.StreamResponse:
    return await request.app[HUB].handle_sse(request, request[PRINCIPAL])


async def _close_live_connections(app: web.Application) -> None:
    """on_shutdown: long-lived streams end before aiohttp waits for requests in flight."""
    if HUB in app:
        await app[HUB].close()


def setup(app: web.Application) -> None:
    app.router.add_route("GET", PATH, _socketio)
    app.router.add_route("POST", PATH, _socketio)
    app.router.add_route("OPTIONS", PATH, _socketio)
    app.router.add_get("/api/events", _events)
    app.on_shutdown.append(_close_live_connections)
