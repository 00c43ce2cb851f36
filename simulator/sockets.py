"""Socket.IO output (docs/upstream.md §6): global mode, lazy namespaces, handshake auth.

python-socketio is untyped, so all of its use stays in this module.

- The server accepts any namespace (``namespaces='*'``) and a catch-all ``connect`` handler
  refuses ``/{name}`` with ``{"message": "Invalid namespace"}`` until the first per-instance
  emit for that name since this server object was built (§6.4). A simulator restart builds a
  new server, so namespaces are forgotten, as on the real server.
- The apikey check runs on the handshake HTTP request (no ``sid`` in the query), as the real
  ``allowRequest`` does (§6.3), in an aiohttp middleware: polling gets 403
  ``{"code":4,"message":...}``, a websocket upgrade gets 400 with a plain-text body.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import socketio
from aiohttp import web
from aiohttp.typedefs import Handler

from simulator.config import SimConfig
from simulator.state import Store

log = logging.getLogger(__name__)

SOCKET_PATH = "/socket.io"
FLUSH_TIMEOUT = 0.5
"""Longest :meth:`SocketHub.flush` waits (a polling client that stopped polling)."""


class SocketHub:
    """One python-socketio server attached to one aiohttp app; it implements ``Output``."""

    def __init__(self, config: SimConfig, store: Store, app: web.Application) -> None:
        self._config = config
        self._store = store
        self.created: set[str] = set()
        self._sio: Any = socketio.AsyncServer(
            async_mode="aiohttp",
            namespaces="*",
            cors_allowed_origins="*",
            ping_interval=25,
            ping_timeout=20,
            max_http_buffer_size=1_000_000,
            logger=False,
            engineio_logger=False,
        )
        self._sio.on("connect", self._on_connect, namespace="*")
        self._sio.attach(app)
        app.middlewares.append(self.handshake_guard)

    async def _on_connect(
        self, namespace: str, sid: str, environ: dict[str, Any], auth: Any = None
    ) -> None:
        if namespace != "/" and namespace not in self.created:
            log.debug("refusing namespace %s: no event emitted on it yet", namespace)
            raise socketio.exceptions.ConnectionRefusedError("Invalid namespace")

    @property
    def clients(self) -> int:
        """Engine.IO connections open now (each Socket.IO client is one, whatever its
        namespaces)."""
        return sum(1 for socket in self._sio.eio.sockets.values() if not socket.closed)

    async def publish(self, event: str, payload: dict[str, Any], instance_ns: str | None) -> None:
        if self._config.global_events:
            await self._sio.emit(event, payload, namespace="/")
        if instance_ns is not None:
            self.created.add(instance_ns)
            await self._sio.emit(event, payload, namespace=instance_ns)

    async def flush(self) -> None:
        # engine.io queues every packet per client socket and a writer task sends it: wait
        # until the writers took what was queued (the queue's unfinished count). ``queue`` is
        # python-engineio's; tests/simulator/test_sockets.py guards that it is still there.
        queues = [
            queue
            for socket in list(self._sio.eio.sockets.values())
            if not socket.closed and (queue := getattr(socket, "queue", None)) is not None
        ]
        if not queues:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(q.join() for q in queues)), FLUSH_TIMEOUT)
        await asyncio.sleep(0)  # the writers send what they took before this task goes on

    def _key_ok(self, key: str | None) -> bool:
        if not key:
            return False
        return key == self._config.apikey or any(
            i.token == key for i in self._store.instances.values()
        )

    @web.middleware
    async def handshake_guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(SOCKET_PATH) or "sid" in request.query:
            return await handler(request)
        if request.remote in self._config.allowed_hosts and "EIO" in request.query:
            return await handler(request)
        key = request.query.get("apikey") or request.headers.get("apikey")
        if self._key_ok(key):
            return await handler(request)
        message = "Invalid global token" if key else "apiKey is required"
        log.info("socket.io handshake from %s refused: %s", request.remote, message)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return web.Response(status=400, text=message, content_type="text/html")
        return web.json_response({"code": 4, "message": message}, status=403)

    async def close(self) -> None:
        """Disconnect every client and stop python-socketio's background work."""
        # engineio's disconnect() waits for each client to fetch its CLOSE packet, which a
        # polling client that never polls again never does: close without waiting instead.
        for socket in list(self._sio.eio.sockets.values()):
            await socket.close(wait=False)
        self._sio.eio.sockets.clear()
        await self._sio.shutdown()


class NullOutput:
    """``WEBSOCKET_ENABLED=false``: nothing is emitted anywhere."""

    async def publish(self, event: str, payload: dict[str, Any], instance_ns: str | None) -> None:
        return None

    async def flush(self) -> None:
        return None
