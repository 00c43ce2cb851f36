"""The one Socket.IO connection to Evolution, with namespaces joined and left at any time.

python-socketio's ``AsyncClient.connect()`` connects a fixed list of namespaces at once and
gives up on all of them when one is refused. Evolution's per-instance namespaces are lazy
(docs/upstream.md §6.4): ``/{name}`` is refused with "Invalid namespace" until its first emit, and
again after every Evolution restart. So the relay connects the root namespace ``/`` only, and
then joins each ``/{name}`` with its own Socket.IO CONNECT packet over the same Engine.IO
connection (protocol v5 multiplexing). A refusal is reported for that namespace alone.

Joining after connect is not in python-socketio's public API; :class:`_Client` adds it with the
client's own packet class and sender. This module is the only place that touches
python-socketio's untyped API on the upstream side; everything else sees :class:`UpstreamSocket`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import socketio
from socketio import packet

log = logging.getLogger(__name__)

ROOT = "/"


class SocketListener(Protocol):
    """What the subscription is told; each method is called from python-socketio's tasks."""

    async def on_event(self, namespace: str, event: str, data: Any) -> None: ...

    async def on_joined(self, namespace: str) -> None: ...

    async def on_refused(self, namespace: str, message: str) -> None: ...

    async def on_left(self, namespace: str) -> None: ...


class _Client(socketio.AsyncClient):  # type: ignore[misc]
    """``AsyncClient`` plus joining and leaving one namespace on a live connection."""

    async def join(self, namespace: str) -> None:
        await self._send_packet(self.packet_class(packet.CONNECT, data={}, namespace=namespace))

    async def leave(self, namespace: str) -> None:
        if namespace in self.namespaces:
            await self._send_packet(self.packet_class(packet.DISCONNECT, namespace=namespace))
            del self.namespaces[namespace]


class UpstreamSocket:
    """Root connection plus joined namespaces. Reconnection is the caller's (with backoff)."""

    def __init__(self, url: str, apikey: str, listener: SocketListener) -> None:
        self._url = url
        self._apikey = apikey
        self._listener = listener
        # handle_sigint=False: the library's default takes over the process's SIGINT on the
        # first connect and cancels every task on Ctrl-C; the daemon owns its signals.
        self._client = _Client(
            reconnection=False, logger=False, engineio_logger=False, handle_sigint=False
        )
        self._client.on("*", self._any_event, namespace="*")
        self._client.on("connect", self._connected, namespace="*")
        self._client.on("connect_error", self._refused, namespace="*")
        self._client.on("disconnect", self._disconnected, namespace="*")
        self._closed = asyncio.Event()
        self._closed.set()

    @property
    def connected(self) -> bool:
        return bool(self._client.connected) and ROOT in self._client.namespaces

    def joined(self, namespace: str) -> bool:
        return namespace in self._client.namespaces

    async def connect(self, wait_timeout: float) -> None:
        """Connect the root namespace; raises ``ConnectionError`` when that fails."""
        self._closed.clear()
        try:
            await self._client.connect(
                self._url,
                headers={"apikey": self._apikey},
                namespaces=[ROOT],
                transports=["websocket"],
                wait=True,
                wait_timeout=wait_timeout,
            )
        except (socketio.exceptions.ConnectionError, ValueError) as exc:
            # ValueError: engine.io still tearing the previous connection down.
            self._closed.set()
            raise ConnectionError(str(exc)) from exc

    async def join(self, namespace: str) -> None:
        if self.connected and namespace not in self._client.namespaces:
            await self._client.join(namespace)

    async def leave(self, namespace: str) -> None:
        if self.connected:
            await self._client.leave(namespace)

    async def wait_closed(self) -> None:
        """Return when the root namespace, and then the Engine.IO connection, have ended."""
        await self._closed.wait()
        reader = self._client.eio.read_loop_task
        if reader is not None and not reader.done():
            # Shielded: cancelling the caller must not cancel python-engineio's own task.
            await asyncio.shield(reader)

    async def close(self) -> None:
        await self._client.disconnect()
        await self._client.shutdown()

    # python-socketio callbacks (the '*' namespace handlers receive the namespace first).

    async def _any_event(self, event: str, namespace: str, *args: Any) -> None:
        await self._listener.on_event(namespace, event, args[0] if args else None)

    async def _connected(self, namespace: str) -> None:
        await self._listener.on_joined(namespace)

    async def _refused(self, namespace: str, data: Any = None, *rest: Any) -> None:
        # The client keeps every refused name in a list used only by connect(); a namespace
        # retried for hours must not grow it.
        failed: list[str] = self._client.failed_namespaces
        if namespace != ROOT and namespace in failed:
            failed.remove(namespace)
        message = data.get("message") if isinstance(data, dict) else data
        await self._listener.on_refused(namespace, str(message))

    async def _disconnected(self, namespace: str, reason: Any = None) -> None:
        if namespace == ROOT:
            self._closed.set()
        await self._listener.on_left(namespace)
