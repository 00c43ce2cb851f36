"""The stock upstream path: one public python-socketio ``AsyncClient`` per namespace.

``relay.internals`` picks it at start-up when python-socketio or python-engineio is not the
minor version ``relay.upstream.socket.MultiplexedSocket`` was tested with. python-socketio's
public client connects a fixed list of namespaces in ``connect()`` and fails them all when one
is refused, and Evolution refuses a lazy namespace until its first emit (docs/upstream.md
§6.4). So each namespace gets a client, and a connection, of its own:

- the root client is connected by :meth:`connect` (``/`` is never refused); ``wait_closed``
  returns when it has gone, and then closes every namespace's client too, so that the caller
  starts again from a clean state, as with one shared connection;
- :meth:`join` starts ``connect(namespaces=[namespace])`` in a task and returns; the listener
  hears ``on_joined``, or one ``on_refused`` with Evolution's message (or the connection
  error), after which that client is dropped and a later join builds a new one.

The price is one Engine.IO connection (websocket, ping timer, reader and writer tasks) per
followed instance instead of one in all, and a handshake per retry of a refused namespace.
Only public API is used: ``AsyncClient(...)``, ``on(..., namespace='*')``, ``connect``,
``get_sid``, ``connected``, ``disconnect``, ``shutdown``, and python-engineio's ``wait``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import socketio

from relay.upstream.socket import ROOT, SocketListener

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, Any], str], asyncio.Task[Any]]
JOIN_TIMEOUT = 10.0


def message_of(data: Any) -> str:
    return str(data.get("message") if isinstance(data, dict) else data)


class SocketPerNamespace:
    """``relay.upstream.socket.UpstreamSocket`` with a connection per namespace (stock path)."""

    def __init__(self, url: str, apikey: str, listener: SocketListener, spawn: Spawn) -> None:
        self._url = url
        self._apikey = apikey
        self._listener = listener
        self._spawn = spawn
        self._root = self._client()
        self._root.on("*", self._root_event, namespace=ROOT)
        self._root.on("disconnect", self._root_gone, namespace=ROOT)
        self._clients: dict[str, socketio.AsyncClient] = {}  # namespace -> joining or joined
        self._joining: dict[str, asyncio.Task[Any]] = {}
        self._closed = asyncio.Event()
        self._closed.set()

    @property
    def connected(self) -> bool:
        return bool(self._root.connected) and self._root.get_sid(ROOT) is not None

    def joined(self, namespace: str) -> bool:
        client = self._clients.get(namespace)
        return client is not None and client.get_sid(namespace) is not None

    async def connect(self, wait_timeout: float) -> None:
        self._closed.clear()
        try:
            await self._connect(self._root, ROOT, wait_timeout)
        except (socketio.exceptions.ConnectionError, ValueError) as exc:
            # ValueError: engine.io still tearing the previous connection down.
            self._closed.set()
            raise ConnectionError(str(exc)) from exc

    async def join(self, namespace: str) -> None:
        if self.connected and namespace not in self._clients:
            client = self._clients[namespace] = self._client()
            self._joining[namespace] = self._spawn(
                self._join(namespace, client), f"upstream-connect-{namespace[1:]}"
            )

    async def leave(self, namespace: str) -> None:
        joining = self._joining.pop(namespace, None)
        if joining is not None:
            joining.cancel()
        client = self._clients.pop(namespace, None)
        if client is not None:
            await client.disconnect()

    async def wait_closed(self) -> None:
        await self._closed.wait()
        # Shielded: cancelling the caller must not cancel python-engineio's read loop.
        await asyncio.shield(self._root.eio.wait())
        await self._leave_all()

    async def close(self) -> None:
        await self._leave_all()
        await self._root.disconnect()
        await self._root.shutdown()

    # -- internals ------------------------------------------------------------------------

    async def _leave_all(self) -> None:
        await asyncio.gather(*(self.leave(namespace) for namespace in list(self._clients)))

    def _client(self) -> socketio.AsyncClient:
        # handle_sigint=False: the library's default takes over the process's SIGINT on the
        # first connect and cancels every task on Ctrl-C; the daemon owns its signals.
        return socketio.AsyncClient(
            reconnection=False, logger=False, engineio_logger=False, handle_sigint=False
        )

    async def _connect(self, client: socketio.AsyncClient, namespace: str,
                       wait_timeout: float) -> None:  # fmt: skip
        await client.connect(
            self._url,
            headers={"apikey": self._apikey},
            namespaces=[namespace],
            transports=["websocket"],
            wait=True,
            wait_timeout=wait_timeout,
        )

    async def _join(self, namespace: str, client: socketio.AsyncClient) -> None:
        refusal: list[str] = []  # what connect_error said, if it said anything

        async def refused(data: Any = None, *rest: Any) -> None:
            refusal.append(message_of(data))

        async def event(event: str, *args: Any) -> None:
            await self._listener.on_event(namespace, event, args[0] if args else None)

        async def joined() -> None:
            await self._listener.on_joined(namespace)

        async def left(reason: Any = None) -> None:
            if self._clients.get(namespace) is client:
                del self._clients[namespace]
            await self._listener.on_left(namespace)

        client.on("connect_error", refused, namespace=namespace)
        client.on("*", event, namespace=namespace)
        client.on("connect", joined, namespace=namespace)
        client.on("disconnect", left, namespace=namespace)
        try:
            await self._connect(client, namespace, JOIN_TIMEOUT)
        except (socketio.exceptions.ConnectionError, ValueError) as exc:
            # connect() has disconnected the client already; a later join makes a new one.
            if self._clients.get(namespace) is client:
                del self._clients[namespace]
            await self._listener.on_refused(namespace, refusal[0] if refusal else str(exc))
        finally:
            if self._joining.get(namespace) is asyncio.current_task():
                del self._joining[namespace]

    async def _root_event(self, event: str, *args: Any) -> None:
        await self._listener.on_event(ROOT, event, args[0] if args else None)

    async def _root_gone(self, reason: Any = None) -> None:
        self._closed.set()
        await self._listener.on_left(ROOT)
