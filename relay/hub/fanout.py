"""The fast path into python-socketio / python-engineio internals, and nothing else.

Stock ``AsyncServer.emit(to=room)`` creates one asyncio task per recipient and goes through
``AsyncSocket.send`` for each (~30 µs of server CPU per delivery). Here an event is encoded
once and handed to every recipient without a task:

- **websocket sessions** (opened on the websocket transport, deflate not negotiated): the
  websocket frame is built once (``ws_frame``: FIN + text opcode, unmasked as a server's
  frames are, 7/16/64-bit length) and the same bytes are written to each recipient's
  transport, one ``transport.write`` each, as Node's ``ws`` does. aiohttp writes an
  uncompressed frame with synchronous ``transport.write`` calls and never awaits in the middle
  of one, so engine.io's own frames (pings, acks, CONNECT, DISCONNECT) cannot interleave
  with ours; only the ORDER of the hub's frames matters, and :class:`Sink` keeps it:
- **until a websocket session may go direct**, and for polling sessions, the one
  pre-encoded engine.io packet is put on the socket's outgoing queue, which its writer task
  drains as stock would. A websocket session starts queued (its CONNECT must go out first),
  so its welcome is queued as :class:`Handback` packets; when its websocket writer encodes
  the last queued one, everything queued before has been written and the session switches
  to direct. A session upgrading from polling is the same: handbacks that a poll sends
  (``upgraded`` still false; a client sends UPGRADE only once its last poll has returned)
  do not switch it, the first one its websocket writer sends does.
- **a slow reader**: when a direct socket's transport holds more than ``MAX_BUFFER`` bytes,
  the session goes back to queued (the queue holds references to shared packets, and the
  writer waits on aiohttp's drain), and returns to direct when its writer catches up. One
  more than ``MAX_BACKLOG`` frames behind is cut (``transport.abort()``): socket.io-client
  reconnects and resumes from the hub's history with ``lastSeq``.

Internals used (pinned: python-socketio 5.18.x, python-engineio 4.15.x, aiohttp 3.14.x;
``tests/hub/test_fanout_internals.py`` fails loudly if any of them changes, and on any other
installed version ``relay.internals`` picks ``relay.hub.stock_fanout`` at start-up instead):

- ``server.manager.rooms['/'][room]``: a bidict ``sid -> eio_sid``, and the synchronous
  ``manager.basic_enter_room`` / ``basic_leave_room`` / ``eio_sid_from_sid``;
- ``server.eio.sockets[eio_sid]``: the engine.io ``AsyncSocket``, with ``.queue`` (drained by
  its writer, which calls ``pkt.encode()`` right before sending each packet), ``.closing``,
  ``.closed`` and ``.upgraded``;
- ``server.eio.create_queue``: what each socket's constructor calls for its ``.queue``; set on
  this server to ``relay.hub.session_queue.SessionQueue`` (an ``asyncio.Queue`` costs ~3 KB
  per session in empty deques);
- ``server.eio._async['websocket']``: the aiohttp driver's ``WebSocket(handler, server)``
  class, replaced on this server only by a subclass whose ``__call__`` does what the
  driver's does (``._sock``, then the handler; not ``.environ``, which nothing reads, so the
  environ is not kept for the session's life) with ``compress`` set, and keeps
  the session's sink while the handler runs; ``handler.__self__`` is the ``AsyncSocket``.
  For a session opened on the websocket transport it returns the prepared response without
  running the handler: engine.io's ``_handle_connect`` and ``handle_request`` return it as is
  (no await in between), and :meth:`DirectFanout.handle_request` serves the session then,
  six coroutine frames up, and forgets it when closed as ``_handle_connect`` would have;
- aiohttp's ``WebSocketResponse._writer`` (a ``WebSocketWriter``): without deflate, its
  ``get_random_bits`` (read only when masking, which a server never does) and
  ``_background_tasks`` (filled only by a deflated send) are replaced by shared ones;
- the wire format of a Socket.IO EVENT on namespace ``/`` (``2["name",{...}]``, built by
  ``relay.hub.delivery.event_frame``), compared with ``socketio.packet.Packet`` by the guard
  test.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import struct
from collections.abc import Iterable
from functools import partial
from typing import Any, Final

import socketio
from aiohttp import web
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp

from relay.hub.delivery import NAMESPACE
from relay.hub.rooms import is_hub_room
from relay.hub.session_queue import SessionQueue
from relay.hub.sessions import Heartbeat, serve

log = logging.getLogger(__name__)

MAX_BUFFER: Final = 256 * 1024  # bytes in a transport beyond which frames wait in the queue
MAX_BACKLOG: Final = 4096  # queued frames beyond which a slow reader is cut

_LEN16: Final = struct.Struct("!BBH").pack
_LEN64: Final = struct.Struct("!BBQ").pack


_NO_MASK: Final = partial(random.getrandbits, 32)  # what every writer builds for itself
_NO_DEFLATE_TASKS: Final[set[Any]] = set()  # filled only by a deflating writer's sends


def _share_unused(response: web.WebSocketResponse) -> None:
    """A server's websocket writer that does not deflate never masks a frame nor starts a
    send task: its own masking function and task set (~480 bytes) give way to shared ones."""
    writer: Any = response._writer
    if writer is not None and not writer.use_mask and not writer.compress:
        writer.get_random_bits = _NO_MASK
        writer._background_tasks = _NO_DEFLATE_TASKS


def engine_packet(frame: str) -> Any:
    """One engine.io MESSAGE packet, encoded once; every recipient's queue shares it."""
    pkt = eio_packet.Packet(eio_packet.MESSAGE, data=frame)
    pkt.encode()  # fills encode_cache: each writer then sends the cached text
    return pkt


def ws_frame(text: str) -> bytes:
    """One unmasked, unfragmented websocket text frame (RFC 6455 §5.2) carrying ``text``."""
    data = text.encode()
    size = len(data)
    if size < 126:
        return bytes((0x81, size)) + data
    if size < 0x10000:
        return _LEN16(0x81, 126, size) + data
    return _LEN64(0x81, 127, size) + data


class Sink:
    """One websocket session's way out: its transport when direct, else its engine.io queue."""

    __slots__ = ("direct", "limits", "queued", "sock", "transport", "ws")

    def __init__(self, sock: Any, ws: web.WebSocketResponse, transport: Any,
                 limits: tuple[int, int]) -> None:  # fmt: skip
        self.sock = sock
        self.ws = ws
        self.transport = transport
        self.limits = limits  # (max_buffer, max_backlog)
        self.direct = False  # set when the writer hands back the last queued frame
        self.queued = 0  # hub frames on the queue not yet taken by the writer

    def push(self, pkt: Any, data: bytes) -> bool:
        """Send one hub frame in order; False if the session is gone (or was just cut)."""
        transport = self.transport
        if self.ws.closed or transport.is_closing() or self.sock.closing or self.sock.closed:
            return False
        if self.direct:
            if transport.get_write_buffer_size() <= self.limits[0]:
                transport.write(data)
                return True
            self.direct = False  # a slow reader: let its writer wait on drain
        if self.queued >= self.limits[1]:
            log.warning("client session %s is %d frames behind; cutting it (it resumes with "
                        "lastSeq)", self.sock.sid, self.queued)  # fmt: skip
            transport.abort()
            return False
        self.queued += 1
        self.sock.queue.put_nowait(Handback(pkt, self))
        return True

    def handed_back(self) -> None:
        self.queued -= 1
        if self.queued == 0 and self.sock.upgraded:  # not a poll's: the websocket writer's
            self.direct = True


class Handback(eio_packet.Packet):  # type: ignore[misc]
    """A queued copy of a shared packet that tells its sink when the writer sends it."""

    def __init__(self, shared: Any, sink: Sink) -> None:  # no super(): a copy, pre-encoded
        self.packet_type = eio_packet.MESSAGE
        self.data = shared.data
        self.binary = False
        self.encode_cache = shared.encode_cache
        self.sink = sink

    def encode(self, b64: bool = False) -> Any:
        """Called by the writer right before it sends this packet, after every earlier one."""
        self.sink.handed_back()
        return self.encode_cache


class DirectFanout:
    """``relay.hub.delivery.Fanout`` with pre-encoded frames written straight to transports."""

    def __init__(self, server: socketio.AsyncServer, *, compression: bool) -> None:
        self._manager = server.manager
        self._eio = server.eio  # its .sockets dict is replaced on a full disconnect: no caching
        self._sinks: dict[str, Sink] = {}
        self._websockets: dict[int, web.Request] = {}  # every websocket session, by id(driver)
        # id(request) -> (driver, sink) of a session opened on the websocket, between its
        # driver's return and handle_request (no await in between)
        self._opened: dict[int, tuple[Any, Sink | None]] = {}
        self._no_websockets = asyncio.Event()
        self._no_websockets.set()
        self.max_buffer = MAX_BUFFER  # read when a session opens
        self.max_backlog = MAX_BACKLOG
        self._eio._async = {**self._eio._async, "websocket": self._websocket_class(compression)}
        self._eio.create_queue = SessionQueue  # each session's queue, ~3 KB lighter
        self.heartbeat = Heartbeat(self._eio, self._sinks)  # one timer for every ping

    def _websocket_class(self, compression: bool) -> type:
        """engine.io's aiohttp driver, but its ``WebSocketResponse`` negotiates per-message
        deflate only if ``compression`` (the driver leaves aiohttp's default, on), every
        session is known until it ends (for the shutdown), and gets a sink if it can."""
        fanout = self

        class SinkWebSocket(eio_aiohttp.WebSocket):  # type: ignore[misc]
            async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
                request: web.Request = environ["aiohttp.request"]
                fanout._websockets[id(self)] = request
                fanout._no_websockets.clear()
                sink = None
                served_above = False
                try:
                    self._sock = response = web.WebSocketResponse(
                        max_msg_size=self.server.max_http_buffer_size, compress=compression
                    )
                    await response.prepare(request)  # (no .environ: nothing reads it)
                    _share_unused(response)
                    sock: Any = getattr(self.handler, "__self__", None)
                    sink = fanout._open(sock, response, request)
                    kept = type(sock) is fanout.heartbeat.socket_class
                    if kept and not sock.connected:
                        # opened on the websocket: served by handle_request, once engine.io
                        # has returned this response (its frames then end)
                        fanout._opened[id(request)] = (self, sink)
                        served_above = True
                        return response
                    await self.handler(self)
                finally:
                    if not served_above:
                        fanout._closed(self, sink)
                return response

        return SinkWebSocket

    def _closed(self, driver: Any, sink: Sink | None) -> None:
        if sink is not None and self._sinks.get(sink.sock.sid) is sink:
            del self._sinks[sink.sock.sid]
        del self._websockets[id(driver)]
        if not self._websockets:
            self._no_websockets.set()

    async def handle_request(self, request: web.Request) -> web.StreamResponse:
        """python-engineio's ``handle_request``; a session opened on the websocket transport is
        then served here, not at the bottom of engine.io's calls (seven coroutine frames less
        for each connection's lifetime: engine.io's ``handle_request``, ``_handle_connect``,
        ``handle_get_request``, ``_upgrade_websocket``, the driver's ``__call__``,
        ``_websocket_handler`` and the read loop's own). Engine.io returns the driver's response
        as is; after the session, what it does after its handler is done here too."""
        opened = None
        try:
            response: web.StreamResponse = await self._eio.handle_request(request)
            opened = self._opened.pop(id(request), None)
            if opened is not None:
                await serve(opened[0].handler.__self__, opened[0])
        finally:
            if opened is None:  # engine.io failed after the driver returned: nothing served
                opened = self._opened.pop(id(request), None)
            if opened is not None:
                self._closed(*opened)
        return response

    def _open(self, sock: Any, response: web.WebSocketResponse,
              request: web.Request) -> Sink | None:  # fmt: skip
        """A sink for a websocket session (opened on it, or upgrading to it), without deflate."""
        if sock is None or response.compress or request.transport is None:
            return None  # deflate negotiated: the queued path
        sink = Sink(sock, response, request.transport, (self.max_buffer, self.max_backlog))
        self._sinks[sock.sid] = sink
        return sink

    def deliver(self, rooms: Iterable[str], frame: str) -> int:
        """Send ``frame`` once to every client in any of ``rooms``; returns the count."""
        namespace = self._manager.rooms.get(NAMESPACE)
        if not namespace:
            return 0
        members = [namespace[room] for room in rooms if room in namespace]
        if not members:
            return 0
        if len(members) == 1:
            targets: Iterable[str] = members[0].values()
        else:  # a client in two of the rooms still gets the event once
            merged: dict[str, str] = {}
            for member in members:
                merged.update(member.items())
            targets = merged.values()
        pkt = engine_packet(frame)
        data = ws_frame(pkt.encode_cache)
        sinks = self._sinks
        sockets: dict[str, Any] = self._eio.sockets
        delivered = 0
        for eio_sid in targets:
            sink = sinks.get(eio_sid)
            if sink is not None:
                delivered += sink.push(pkt, data)
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closing or sock.closed:
                continue
            sock.queue.put_nowait(pkt)
            delivered += 1
        return delivered

    def broadcast(self, frame: str) -> int:
        """Send ``frame`` once to every client that has joined a hub room (not to sessions
        still connecting: their CONNECT and welcome come first)."""
        namespace = self._manager.rooms.get(NAMESPACE) or {}
        return self.deliver([room for room in namespace if is_hub_room(room)], frame)

    def send(self, sid: str, frames: Iterable[str]) -> bool:
        """Send ``frames`` in order to one client; False if it is gone."""
        eio_sid = self._manager.eio_sid_from_sid(sid, NAMESPACE)
        sock = self._eio.sockets.get(eio_sid) if eio_sid is not None else None
        if sock is None or sock.closing or sock.closed:
            return False
        sink = self._sinks.get(eio_sid)
        for frame in frames:
            pkt = engine_packet(frame)
            if sink is None:
                sock.queue.put_nowait(pkt)
            elif not sink.push(pkt, ws_frame(pkt.encode_cache) if sink.direct else b""):
                return False
        return True

    async def close_websockets(self, grace: float) -> None:
        """At shutdown: wait up to ``grace`` for the websockets to end, then close the rest
        from this side (their queued bytes are flushed first)."""
        self.heartbeat.stop()
        if self._websockets:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._no_websockets.wait(), grace)
        for request in list(self._websockets.values()):
            if request.transport is not None:
                request.transport.close()

    def is_connected(self, sid: str) -> bool:
        return bool(self._manager.is_connected(sid, NAMESPACE))

    def enter(self, sid: str, room: str) -> None:
        self._manager.basic_enter_room(sid, NAMESPACE, room)

    def leave(self, sid: str, room: str) -> None:
        self._manager.basic_leave_room(sid, NAMESPACE, room)

    def gone(self, sid: str) -> None:
        """Nothing to do: the rooms read here are python-socketio's, which it cleans."""
