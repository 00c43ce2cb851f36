"""The fast path's engine.io sessions: one timer for every ping, one task per idle websocket.

Stock python-engineio (4.15) keeps, for each websocket session, the request's task, a writer
task and, inside it, a task for ``wait_for(queue.get())``, a task per received message
(``ensure_future(ws.wait())`` under ``wait_for``), and a task that sleeps ``ping_interval``
before each ping; its service task walks every session once per ``ping_timeout`` with one
``wait_for`` each. At 10,000 idle clients that is ~60,000 tasks and ~900 task start-ups a
second doing nothing. Here, on the tested versions only (``relay.internals``):

- **pings**: :class:`Heartbeat` keeps one timer (a ``call_later`` every :data:`TICK` s, no
  task) and a wheel of sessions by the tick their next ping is due. A PONG files the session
  ``ping_interval`` ahead (engine.io's ``schedule_ping``, same rule: only after a completed
  cycle); at its tick the PING is written (straight to the transport when the session's sink
  is direct, else on its queue) and the session is filed again ``ping_timeout`` ahead; one
  that has not answered by then is closed with engine.io's ``PING_TIMEOUT`` reason, as the
  service task would. The service task is not started.
- **websockets**: the session's reader awaits aiohttp's ``receive`` with no timeout (a
  silent peer misses its ping timeout, and the heartbeat then ends the websocket too, which
  engine.io's read timeout did), and its writer (:class:`_Writer`) is a task only while
  the session's queue has packets (it starts on a put: ``SessionQueue.on_put``, and ends
  when the queue is empty). Anything but a websocket session opened on the websocket
  transport (an upgrade from polling) runs engine.io's own handler.

Internals used (guarded in ``tests/hub/test_sessions_internals.py``): ``AsyncSocket``'s
``schedule_ping``/``last_ping``/``queue``/``closing``/``closed``/``connected``/``upgraded``/
``receive``/``close``, and ``_websocket_handler`` (replaced by giving each session a subclass,
from the engine.io ``connect`` handler, before engine.io schedules its first ping; a session
opened on the websocket is served by :func:`serve`, called from
``relay.hub.fanout.DirectFanout.handle_request``); the server's
``start_service_task``, ``ping_interval``, ``ping_timeout``, ``max_http_buffer_size``,
``reason`` and ``handlers['connect']``; the aiohttp driver's ``_sock``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from aiohttp import WSMsgType
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

from relay.hub.session_queue import SessionQueue

log = logging.getLogger(__name__)

TICK: Final = 1.0  # seconds between the timer's turns: pings go out within a tick of due
PING_FRAME: Final = b"\x81\x012"  # an unmasked websocket text frame holding engine.io's "2"
_DATA: Final = (WSMsgType.TEXT, WSMsgType.BINARY)


class Heartbeat:
    """Every session's pings and ping timeouts, on one timer."""

    def __init__(self, eio: Any, sinks: Mapping[str, Any]) -> None:
        self._eio = eio
        self._sinks = sinks  # eio_sid -> relay.hub.fanout.Sink (direct when it can be)
        self._wheel: dict[int, list[tuple[Any, float | None]]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self.socket_class = _socket_class(self)
        eio.start_service_task = False  # the deadlines below do its work
        original = eio.handlers["connect"]

        async def connect(eio_sid: str, environ: dict[str, Any]) -> Any:
            sock = eio.sockets.get(eio_sid)
            if sock is not None and type(sock) is AsyncSocket:
                sock.__class__ = self.socket_class  # before engine.io's first schedule_ping
            return await original(eio_sid, environ)

        eio.on("connect", connect)

    def _file(self, sock: Any, after: float, pinged_at: float | None) -> None:
        """Look at ``sock`` again ``after`` seconds from now (at most a tick later): to ping
        it (``pinged_at`` None), or to close it if the ping sent at ``pinged_at`` is still
        unanswered."""
        loop = asyncio.get_running_loop()
        slot = math.ceil((loop.time() + after) / TICK)
        self._wheel.setdefault(slot, []).append((sock, pinged_at))
        self._start(loop)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is None:  # turns on tick boundaries of the loop's clock
            self._timer = loop.call_at((math.floor(loop.time() / TICK) + 1) * TICK, self._turn)

    def schedule_ping(self, sock: Any) -> None:
        """engine.io's rule: a new ping only once the previous cycle completed."""
        if sock.last_ping:
            sock.last_ping = None
            self._file(sock, self._eio.ping_interval, None)

    def _turn(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = math.floor(loop.time() / TICK + 1e-6)
        for slot in [slot for slot in self._wheel if slot <= now]:
            for sock, pinged_at in self._wheel.pop(slot):
                if sock.closing or sock.closed:
                    continue
                if pinged_at is None:
                    self._ping(sock)
                elif sock.last_ping == pinged_at:  # no PONG since that ping
                    self._time_out(sock)
        if self._wheel:
            self._start(loop)

    def _ping(self, sock: Any) -> None:
        sock.last_ping = pinged_at = time.time()
        sink = self._sinks.get(sock.sid) if sock.own_writer else None
        if sink is not None and sink.direct and not sink.transport.is_closing():
            sink.transport.write(PING_FRAME)  # a whole frame: hub frames cannot interleave
        else:
            sock.queue.put_nowait(eio_packet.Packet(eio_packet.PING))
        self._file(sock, self._eio.ping_timeout, pinged_at)

    def _time_out(self, sock: Any) -> None:
        log.debug("engine.io session %s did not answer a ping; closing it", sock.sid)
        task = asyncio.ensure_future(self._close(sock))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close(self, sock: Any) -> None:
        # as engine.io's check_ping_timeout: a CLOSE packet updates a half-open socket
        await sock.close(wait=False, abort=False, reason=self._eio.reason.PING_TIMEOUT)
        if sock.own_writer:  # and the websocket ends after it (engine.io's read timeout did)
            sock.queue.put_nowait(None)
        if self._eio.sockets.get(sock.sid) is sock:
            del self._eio.sockets[sock.sid]

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wheel.clear()


def _socket_class(heartbeat: Heartbeat) -> type:
    class KeptSocket(AsyncSocket):  # type: ignore[misc]
        # engine.io's own writer (an upgraded session's) gives up after ping_interval +
        # ping_timeout without a queued packet: its pings must go through the queue
        own_writer = False

        def schedule_ping(self) -> None:
            heartbeat.schedule_ping(self)

        async def _websocket_handler(self, ws: Any) -> None:
            sock: Any = self
            if sock.connected:  # an upgrade from polling: engine.io's own handshake and loop
                await super()._websocket_handler(ws)
            else:
                await serve(sock, ws)

    return KeptSocket


async def serve(sock: Any, ws: Any) -> None:
    """A session opened on the websocket transport: the read loop here (engine.io's, minus a
    task and a ``wait_for`` per message), the writer in its own task. ``ws`` is the session's
    aiohttp driver, its ``WebSocketResponse`` prepared."""
    sock.connected = sock.upgraded = sock.own_writer = True
    if not isinstance(sock.queue, SessionQueue):  # DirectFanout's create_queue makes them
        raise TypeError(f"engine.io session {sock.sid} has no SessionQueue")
    writer = _Writer(sock, ws)
    sock.queue.on_put = writer.wake
    writer.wake()  # engine.io's OPEN (and maybe more) is queued already
    limit = sock.server.max_http_buffer_size
    receive: Callable[[], Any] = ws._sock.receive
    while True:
        try:
            msg = await receive()  # no timeout: a silent peer is closed by its ping timeout
        except (Exception, asyncio.CancelledError):
            # as engine.io's loop: a timeout, a broken connection, or aiohttp cancelling the
            # handler as the connection is lost all end the session (the close runs below)
            break
        if msg.type not in _DATA or len(msg.data) > limit:
            break
        try:
            await sock.receive(eio_packet.Packet(encoded_packet=msg.data))
        except eio_exceptions.UnknownPacketError:
            pass
        except eio_exceptions.SocketIsClosedError:
            break
        except Exception:  # as engine.io: log it, keep the connection
            log.exception("engine.io session %s: error handling a packet", sock.sid)
        msg = None  # an idle session holds no message (its CONNECT, token included)
    sock.queue.put_nowait(None)  # ends the writer, which closes the websocket
    reason = sock.server.reason.TRANSPORT_CLOSE
    try:
        if writer.task is not None:
            await writer.task
    finally:  # cancelled too: aiohttp cancels the handler of a lost connection
        await sock.close(wait=False, abort=True, reason=reason)
        if sock.server.sockets.get(sock.sid) is sock:  # what engine.io does after its handler
            del sock.server.sockets[sock.sid]


class _Writer:
    """engine.io's websocket writer, as a task only while the session's queue has packets:
    an idle session's frames go straight to its transport (relay.hub.fanout), so a writer
    task waiting on its queue would be a task, two coroutine frames and a future per idle
    connection. A put on the queue (``SessionQueue.on_put``) starts one; it sends in queue
    order until the queue is empty, then ends. A ``None`` ends the writing for good and closes
    the websocket (as engine.io's writer), as does a failed send."""

    __slots__ = ("closing", "sock", "task", "ws")

    def __init__(self, sock: Any, ws: Any) -> None:
        self.sock = sock
        self.ws = ws
        self.task: asyncio.Future[None] | None = None  # kept once closing: awaited by serve
        self.closing = False

    def wake(self) -> None:
        if self.task is None and not self.closing:
            self.task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        queue = self.sock.queue
        try:
            while not queue.empty():
                pkt = queue.get_nowait()
                queue.task_done()
                if pkt is None:
                    break
                await self.ws.send(pkt.encode())  # (no await before the queue check: in order)
            else:
                self.task = None  # drained: the next put starts another
                return
        except Exception:  # as engine.io's bare except: the websocket broke; close it below
            log.debug("engine.io session %s: websocket write failed", self.sock.sid)
        finally:
            if self.task is not None:  # not drained: a None, a failed send, or cancelled
                self.closing = True
                await self.ws.close()
