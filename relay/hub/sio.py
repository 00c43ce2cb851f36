"""The Socket.IO server for frontends: auth at connect, rooms, subscribe/unsubscribe.

python-socketio's untyped API stays in this module (and the two fan-outs); the rest of the hub
talks to :class:`SocketIoServer` through typed methods.

The fan-out is chosen once, here, from ``relay.internals``' answer at start-up: the direct one
(``relay.hub.fanout``) on the tested library versions, else python-socketio's public path
(``relay.hub.stock_fanout``). Requests go straight to python-engineio's ``handle_request`` on
the direct path, and through python-socketio's on the stock one.

Per-message deflate: python-engineio's aiohttp driver builds its ``WebSocketResponse`` with
aiohttp's default ``compress=True``, so deflate is negotiated whenever the client offers it
(every browser and socket.io-client does), which costs CPU per frame and ~90 KB of zlib state
per connection. ``DirectFanout`` swaps in a driver that passes
``compress=RELAY_WS_COMPRESSION`` (default false), so frames go uncompressed unless that is
set. The stock path keeps the driver as it is.

Unauthenticated sessions: an Engine.IO session is opened before any Socket.IO CONNECT (and
stays open after a refused one), answering pings forever. Each session gets a deadline of
``RELAY_AUTH_TIMEOUT`` seconds (on ``relay.hub.deadlines``' one timer, as the tokens' expiries);
one without an authenticated client on ``/`` by then is closed. The deadline is set by
wrapping python-engineio's ``connect`` handler (the one python-socketio registers,
``eio.handlers['connect']``), as python-socketio's own admin instrumentation does;
tests/hub/test_sessions.py guards it.

The environ kept per session: python-socketio keeps each engine.io session's WSGI environ
(``sio.environ[eio_sid]``, ~1.2 KB: every request header under an ``HTTP_`` key) for as long
as the session lives, only to hand it to a namespace's ``connect`` handler. The same wrapper
replaces it with the two entries ours reads (:data:`ENVIRON_READ`, by :func:`token_from`);
tests/hub/test_fanout_internals.py guards where python-socketio stores and reads it.

Rooms by client: python-socketio's ``BaseManager`` keeps rooms only as room -> members, so a
disconnect (``basic_disconnect``) copies and scans every room of the namespace, one per
connected client (each client has its own room), to find the few the leaving client was in:
a storm of N reconnects costs N² membership checks (py-spy, ``make bench`` storm:
``basic_disconnect`` 14% of the relay's samples). On the direct path :class:`IndexedManager`
also keeps client -> rooms, so a disconnect and ``get_rooms`` touch only that client's rooms;
tests/hub/test_indexed_manager.py checks it against the stock manager.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs

import socketio
from aiohttp import web

from relay.auth import Principal, TokenVerifier
from relay.config import Settings
from relay.errors import Unauthenticated
from relay.hub.deadlines import Deadline, Deadlines
from relay.hub.delivery import NAMESPACE, Fanout
from relay.hub.fanout import DirectFanout
from relay.hub.rooms import default_room
from relay.hub.stock_fanout import Spawn, StockFanout
from relay.hub.welcome import LastSeq

log = logging.getLogger(__name__)

PATH = "/socket.io/"
CLOSE_WAIT: Final = 5.0  # bound on closing one engine.io session (its queue may never drain)
ENVIRON_READ: Final = ("HTTP_AUTHORIZATION", "QUERY_STRING")  # what token_from reads


@dataclass(slots=True)
class Client:
    principal: Principal
    room: str  # the default room; left while the client has narrowed with subscribe
    # the rooms it narrowed to (a set of its own from the first; most clients never narrow)
    subscriptions: AbstractSet[str] = frozenset()
    joined: bool = False  # set by the welcome; until then rooms are only recorded
    expiry: Deadline | None = None  # ends the session when the token expires

    def rooms(self) -> AbstractSet[str]:
        return self.subscriptions or {self.room}

    def subscribe(self, room: str) -> None:
        if isinstance(self.subscriptions, set):
            self.subscriptions.add(room)
        else:
            self.subscriptions = {room}

    def unsubscribe(self, room: str) -> None:
        if isinstance(self.subscriptions, set):
            self.subscriptions.discard(room)

    @property
    def scope(self) -> str | None:
        """The tenant whose events it may see; None for a SUPERADMIN (all of them)."""
        return None if self.principal.is_superadmin else self.principal.tenant


# hub callbacks: welcome(sid, client, lastSeq), gone(sid), subscribe/unsubscribe -> ack
OnConnect = Callable[[str, Client, LastSeq], None]
OnDisconnect = Callable[[str], None]
OnNarrow = Callable[[str, Client, dict[str, Any]], Awaitable[dict[str, Any]]]


def cors_origins(settings: Settings) -> str | list[str] | None:
    """engine.io's reading: None = same origin only, '*' = any; an empty list would mean any."""
    if "*" in settings.cors_origins:
        return "*"
    return list(settings.cors_origins) or None


def token_from(auth: Any, environ: dict[str, Any]) -> str | None:
    if isinstance(auth, dict) and isinstance(auth.get("token"), str) and auth["token"]:
        return str(auth["token"])
    scheme, _, value = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    values = query.get("token")
    return values[0] if values else None


def last_seq_from(auth: Any) -> LastSeq:
    raw = auth.get("lastSeq") if isinstance(auth, dict) else None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, dict) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in raw.values()
    ):
        return {str(k): int(v) for k, v in raw.items()}
    return None


class IndexedManager(socketio.AsyncManager):  # type: ignore[misc]
    """``AsyncManager`` with an index of each client's rooms (python-socketio 5.18's
    ``basic_*`` bookkeeping, version-gated with the fan-out by ``relay.internals``)."""

    def __init__(self) -> None:
        super().__init__()
        # namespace -> sid -> its rooms, in the order it entered them (None: "connected");
        # a list: a client is in a few rooms (~100 bytes, where a dict and a key tuple
        # were ~300 per client)
        self._rooms_of: dict[str, dict[str, list[Any]]] = {}

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        by_sid = self._rooms_of.get(namespace)
        if by_sid is None:
            by_sid = self._rooms_of[namespace] = {}
        rooms = by_sid.get(sid)
        if rooms is None:
            by_sid[sid] = [room]
        elif room not in rooms:
            rooms.append(room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        by_sid = self._rooms_of.get(namespace)
        rooms = by_sid.get(sid) if by_sid is not None else None
        if by_sid is not None and rooms is not None and room in rooms:
            rooms.remove(room)
            if not rooms:
                del by_sid[sid]
                if not by_sid:
                    del self._rooms_of[namespace]

    def _rooms(self, sid: str, namespace: str) -> list[Any]:
        return self._rooms_of.get(namespace, {}).get(sid, [])

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        if namespace not in self.rooms:
            return
        for room in list(self._rooms(sid, namespace)):
            self.basic_leave_room(sid, namespace, room)
        by_sid = self._rooms_of.get(namespace)
        if by_sid is not None:
            by_sid.pop(sid, None)
            if not by_sid:
                del self._rooms_of[namespace]
        # the rest as python-socketio's own basic_disconnect
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            if namespace in pending and sid in pending[namespace]:
                pending[namespace].remove(sid)
                if not pending[namespace]:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        return [r for r in self._rooms(sid, namespace) if r is not None]


class SocketIoServer:
    def __init__(
        self,
        settings: Settings,
        verifier: TokenVerifier,
        spawn: Spawn,
        on_unauthenticated: Callable[[], None] | None = None,
        *,
        fast: bool = True,
        deadlines: Deadlines | None = None,
    ) -> None:
        self._verifier = verifier
        self._deadlines = Deadlines() if deadlines is None else deadlines
        self._spawn = spawn
        self._auth_timeout = settings.auth_timeout
        self._on_unauthenticated = on_unauthenticated
        self.sio = socketio.AsyncServer(
            client_manager=IndexedManager() if fast else None,
            async_mode="aiohttp",
            cors_allowed_origins=cors_origins(settings),
            logger=False,
            engineio_logger=False,
        )
        self.fanout: Fanout
        self.clients: dict[str, Client] = {}
        self.handle_request: Callable[[web.Request], Awaitable[web.StreamResponse]]
        if fast:
            direct = DirectFanout(self.sio, compression=settings.ws_compression)
            self.fanout = direct
            # python-socketio's handle_request only awaits engine.io's, which DirectFanout's
            # calls (guarded in tests/hub/test_fanout_internals.py)
            self.handle_request = direct.handle_request
        else:
            self.fanout = StockFanout(self.sio, spawn)
            self.handle_request = self.sio.handle_request
        self._deadline_on_engine_connect()

    def _deadline_on_engine_connect(self) -> None:
        eio = self.sio.eio
        original = eio.handlers.get("connect")
        if original is None:  # python-socketio changed how it listens: say so, loudly
            log.warning("python-engineio has no 'connect' handler to wrap: sessions that never "
                        "authenticate will not be closed after RELAY_AUTH_TIMEOUT")  # fmt: skip
            return

        async def connect(eio_sid: str, environ: dict[str, Any]) -> Any:
            result = await original(eio_sid, environ)
            if result is None or result is True:
                kept = self.sio.environ  # eio_sid -> environ, for the namespace's connect
                if eio_sid in kept:
                    kept[eio_sid] = {k: environ[k] for k in ENVIRON_READ if k in environ}
                self._deadlines.call_later(self._auth_timeout, self._check_authenticated, eio_sid)
            return result

        eio.on("connect", connect)

    def _check_authenticated(self, eio_sid: str) -> None:
        """At the deadline: close the engine.io session unless a client authenticated on it."""
        if eio_sid not in self.sio.eio.sockets:
            return
        sid = self.sio.manager.sid_from_eio_sid(eio_sid, NAMESPACE)
        if sid is not None and sid in self.clients:
            return
        log.debug("closing engine.io session %s: not authenticated within %.0f s",
                  eio_sid, self._auth_timeout)  # fmt: skip
        if self._on_unauthenticated is not None:
            self._on_unauthenticated()
        self._spawn(self.close_engine_session(eio_sid), f"hub-unauthenticated-{eio_sid}")

    async def close_engine_session(self, eio_sid: str) -> None:
        """Close one engine.io session, its websocket included.

        python-engineio's close sends an engine.io CLOSE and leaves closing the websocket to
        the client; one that ignores it (a raw client, Node's socket.io-client) would keep it
        open until the ping timeout. A ``None`` on the session's queue ends its websocket
        writer, which then closes the websocket (the same unlock engine.io does itself when
        the client goes away); for a polling session it is an empty poll.
        """
        sock = self.sio.eio.sockets.get(eio_sid)
        try:
            await asyncio.wait_for(self.sio.eio.disconnect(eio_sid), CLOSE_WAIT)
        except TimeoutError:
            log.debug("engine.io session %s did not close within %.0f s", eio_sid, CLOSE_WAIT)
        if sock is not None:
            sock.queue.put_nowait(None)

    async def end_session(self, sid: str, frame: str) -> None:
        """Send ``frame`` (after what is queued), a Socket.IO DISCONNECT, then close the
        engine.io session too (a raw client would otherwise keep it open)."""
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, NAMESPACE)
        self.fanout.send(sid, [frame])
        await self.disconnect(sid)
        if eio_sid is not None:
            await self.close_engine_session(eio_sid)

    def bind(self, on_connect: OnConnect, on_disconnect: OnDisconnect, on_subscribe: OnNarrow,
             on_unsubscribe: OnNarrow) -> None:  # fmt: skip
        async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
            principal = self._authenticate(auth, environ)
            # one string per tenant, not per client: the room's name lives as long as it does
            room = sys.intern(default_room(principal.tenant, superadmin=principal.is_superadmin))
            client = Client(principal, room)
            self.clients[sid] = client
            on_connect(sid, client, last_seq_from(auth))

        async def disconnect(sid: str, reason: Any = None) -> None:
            self.fanout.gone(sid)
            client = self.clients.pop(sid, None)
            if client is not None:
                if client.expiry is not None:
                    client.expiry.cancel()
                on_disconnect(sid)

        def narrowing(handler: OnNarrow) -> Callable[[str, Any], Awaitable[dict[str, Any]]]:
            async def handle(sid: str, data: Any = None) -> dict[str, Any]:
                client = self.clients.get(sid)
                if client is None:
                    return {"ok": False, "error": "not connected"}
                if not isinstance(data, dict):
                    return {"ok": False, "error": "invalid"}
                return await handler(sid, client, data)

            return handle

        self.sio.on("connect", connect)
        self.sio.on("disconnect", disconnect)
        self.sio.on("subscribe", narrowing(on_subscribe))
        self.sio.on("unsubscribe", narrowing(on_unsubscribe))

    def _authenticate(self, auth: Any, environ: dict[str, Any]) -> Principal:
        token = token_from(auth, environ)
        try:
            if token is None:
                raise Unauthenticated()
            return self._verifier.verify(token)
        except Unauthenticated:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized") from None

    async def disconnect(self, sid: str) -> None:
        await self.sio.disconnect(sid, namespace=NAMESPACE)

    async def close_all(self, grace: float) -> None:
        """At shutdown: tell every client (socket.io DISCONNECT, so it does not reconnect),
        close every engine.io session, and stop python-socketio's background task.

        Each step is bounded by ``grace``: python-engineio's close waits for the session's
        queue to drain (forever, if its writer is already gone), and then for the client to
        close its websocket, which Node's socket.io-client does not do on an engine.io CLOSE.
        Websockets still open after that are closed from this side (queued bytes flushed).
        """
        eio = self.sio.eio
        steps = [self.sio.disconnect(sid, namespace=NAMESPACE) for sid in list(self.clients)]
        steps += [eio.disconnect(eio_sid) for eio_sid in list(eio.sockets)]
        tasks = [asyncio.ensure_future(step) for step in steps]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.fanout.close_websockets(grace)
        await self.sio.shutdown()
