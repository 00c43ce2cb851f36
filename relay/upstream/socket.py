"""The Socket.IO connection to Evolution, with namespaces joined and left at any time.

python-socketio's ``AsyncClient.connect()`` connects a fixed list of namespaces at once and
gives up on all of them when one is refused. Evolution's per-instance namespaces are lazy
(docs/upstream.md §6.4): ``/{name}`` is refused with "Invalid namespace" until its first emit, and
again after every Evolution restart. So the relay connects the root namespace ``/`` only, and
then joins each ``/{name}`` with its own Socket.IO CONNECT packet over the same Engine.IO
connection (protocol v5 multiplexing). A refusal is reported for that namespace alone.

Joining after connect is not in python-socketio's public API; :class:`_Client` adds it with the
client's own packet class and sender. That is :class:`MultiplexedSocket`, used when
``relay.internals`` finds the tested versions at start-up; on any other version the subscription
uses ``relay.upstream.per_namespace`` (one public ``AsyncClient`` per namespace) instead.

Internals used (pinned: python-socketio 5.18.x, python-engineio 4.15.x;
``tests/upstream/test_socket_internals.py`` checks each of them, shapes and behaviour):

- ``AsyncClient._send_packet(pkt)`` and ``packet_class`` (CONNECT/DISCONNECT for one namespace);
- ``AsyncClient.namespaces``, the ``{namespace: sid}`` dict the client fills on CONNECT and
  reads to route events and to send; :meth:`_Client.leave` removes the namespace it left;
- ``AsyncClient.failed_namespaces``, the list ``connect()`` reads and every CONNECT_ERROR
  appends to; earlier refusals are taken out of it again (:meth:`MultiplexedSocket._refused`).

Public API also relied on: the ``'*'`` namespace handlers, ``connect(namespaces=[ROOT])``, and
``eio.wait()`` (python-engineio's: returns when the connection's read loop has ended).

This module and ``per_namespace`` are the only places that touch python-socketio's untyped API
on the upstream side; everything else sees :class:`UpstreamSocket`.
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


class UpstreamSocket(Protocol):
    """Root namespace plus joined ones. Reconnection is the caller's (with backoff); joins and
    refusals are reported to the :class:`SocketListener`."""

    @property
    def connected(self) -> bool: ...

    def joined(self, namespace: str) -> bool: ...

    async def connect(self, wait_timeout: float) -> None:
        """Connect the root namespace; raises ``ConnectionError`` when that fails."""
        ...

    async def join(self, namespace: str) -> None:
        """Ask for ``namespace``; the answer comes as ``on_joined`` or ``on_refused``."""
        ...

    async def leave(self, namespace: str) -> None: ...

    async def wait_closed(self) -> None:
        """Return when the root namespace, and then its connection, have ended."""
        ...

    async def close(self) -> None: ...


class _Client(socketio.AsyncClient):  # type: ignore[misc]
    """``AsyncClient`` plus joining and leaving one namespace on a live connection."""

    async def join(self, namespace: str) -> None:
        await self._send_packet(self.packet_class(packet.CONNECT, data={}, namespace=namespace))

    async def leave(self, namespace: str) -> None:
        if namespace in self.namespaces:
            await self._send_packet(self.packet_class(packet.DISCONNECT, namespace=namespace))
            del self.namespaces[namespace]


class MultiplexedSocket:
    """:class:`UpstreamSocket` over one connection: every namespace joins it (fast path)."""

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
        # Shielded: cancelling the caller must not cancel python-engineio's read loop.
        await asyncio.shield(self._client.eio.wait())

    async def close(self) -> None:
        await self._client.disconnect()
        await self._client.shutdown()

    # python-socketio callbacks (the '*' namespace handlers receive the namespace first).

    async def _any_event(self, event: str, namespace: str, *args: Any) -> None:
        await self._listener.on_event(namespace, event, args[0] if args else None)

    async def _connected(self, namespace: str) -> None:
        await self._listener.on_joined(namespace)

    async def _refused(self, namespace: str, data: Any = None, *rest: Any) -> None:
        # The client appends every refused name (right after this handler runs) to a list
        # only connect() reads; namespaces retried for hours must not grow it. Dropping the
        # earlier ones here keeps at most one, whichever order the library runs the two in.
        failed: list[str] = self._client.failed_namespaces
        failed[:] = [name for name in failed if name == ROOT]
        message = data.get("message") if isinstance(data, dict) else data
        await self._listener.on_refused(namespace, str(message))

    async def _disconnected(self, namespace: str, reason: Any = None) -> None:
        if namespace == ROOT:
            self._closed.set()
        await self._listener.on_left(namespace)
