"""The stock fan-out: python-socketio's public ``AsyncServer.emit``, for untested versions.

``relay.internals`` chooses it at start-up when python-socketio, python-engineio or aiohttp is
not the minor version ``relay.hub.fanout`` was tested with. It uses no library internals:

- each event is decoded from its frame and given to ``await sio.emit(event, payload,
  to=[sid, ...], namespace="/")`` (python-socketio encodes it again, once, then queues it for
  each recipient in a task of its own: about nine times the server CPU of the direct path per
  delivery, docs/performance.md);
- the hub's rooms are kept here, in two dicts, because the hub joins a client to its rooms in
  the same synchronous step as its welcome, and python-socketio's public ``enter_room`` is a
  coroutine. So the recipients of an event are fixed when the hub hands it over, as on the
  direct path;
- every emit goes through one sender task, in the order the hub handed them over: a client
  gets its welcome before any live event, and live events in ``seq`` order. The sender runs
  while there is something to send and ends when the backlog is empty.

``is_connected`` asks the client manager (``AsyncManager.is_connected``, the class
python-socketio documents as replaceable through ``client_manager=``). Deflate is negotiated
as python-engineio's driver does (whenever the client offers it): ``RELAY_WS_COMPRESSION`` is
honoured on the direct path only.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import socketio

from relay.hub.delivery import NAMESPACE, frame_event

Spawn = Callable[[Coroutine[Any, Any, Any], str], asyncio.Task[Any]]
Emit = tuple[str, Any, str | list[str]]  # event, payload, to


class StockFanout:
    def __init__(self, server: socketio.AsyncServer, spawn: Spawn) -> None:
        self._sio = server
        self._spawn = spawn
        self._members: dict[str, set[str]] = {}  # hub room -> sids
        self._rooms: dict[str, set[str]] = {}  # sid -> hub rooms
        self._backlog: deque[Emit] = deque()
        self._sender: asyncio.Task[Any] | None = None

    def deliver(self, rooms: Iterable[str], frame: str) -> int:
        members = self._members
        recipients: set[str] = set()
        for room in rooms:
            recipients.update(members.get(room, ()))
        if not recipients:
            return 0
        event, payload = frame_event(frame)
        self._emit((event, payload, list(recipients)))
        return len(recipients)

    def broadcast(self, frame: str) -> int:
        return self.deliver(list(self._members), frame)

    def send(self, sid: str, frames: Iterable[str]) -> bool:
        if not self.is_connected(sid):
            return False
        for frame in frames:
            event, payload = frame_event(frame)
            self._emit((event, payload, sid))
        return True

    def is_connected(self, sid: str) -> bool:
        return bool(self._sio.manager.is_connected(sid, NAMESPACE))

    def enter(self, sid: str, room: str) -> None:
        self._members.setdefault(room, set()).add(sid)
        self._rooms.setdefault(sid, set()).add(room)

    def leave(self, sid: str, room: str) -> None:
        self._discard(sid, room)
        rooms = self._rooms.get(sid)
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._rooms[sid]

    def gone(self, sid: str) -> None:
        for room in self._rooms.pop(sid, ()):
            self._discard(sid, room)

    async def close_websockets(self, grace: float) -> None:
        """Nothing of its own to close: python-engineio's driver closes its websockets."""

    def _discard(self, sid: str, room: str) -> None:
        members = self._members.get(room)
        if members is not None:
            members.discard(sid)
            if not members:
                del self._members[room]

    def _emit(self, emit: Emit) -> None:
        self._backlog.append(emit)
        if self._sender is None:
            self._sender = self._spawn(self._send_backlog(), "hub-stock-fanout")

    async def _send_backlog(self) -> None:
        try:
            while self._backlog:
                event, payload, to = self._backlog.popleft()
                await self._sio.emit(event, payload, to=to, namespace=NAMESPACE)
        finally:
            self._sender = None
