"""The fast path into python-socketio / python-engineio internals, and nothing else.

Stock ``AsyncServer.emit(to=room)`` creates one asyncio task per recipient and goes through
``AsyncSocket.send`` for each; that costs ~30 µs of server CPU per delivery. Here an event is
encoded once, wrapped in ONE engine.io packet, and the same packet object is put on the
outgoing queue of every recipient's engine.io socket. Each socket's own writer (the websocket
writer task, or the next long-poll) sends it as stock would, so framing, ping/pong, upgrades
and disconnect cleanup stay python-engineio's.

Internals used (pinned: python-socketio 5.18.x, python-engineio 4.15.x; checked by
``tests/hub/test_fanout_internals.py``, which fails loudly if any of them changes):

- ``server.manager.rooms['/'][room]``: a bidict ``sid -> eio_sid`` (what ``get_participants``
  reads), and ``manager.basic_enter_room`` / ``basic_leave_room`` / ``eio_sid_from_sid``, which
  are synchronous, so joining a room cannot interleave with a publish;
- ``server.eio.sockets[eio_sid]``: the engine.io ``AsyncSocket``, with ``.queue`` (an
  ``asyncio.Queue`` its writer drains), ``.closing`` and ``.closed``;
- the wire format of a Socket.IO EVENT on namespace ``/`` (``2["name",{...}]``), built here
  from JSON the hub already holds; the guard test compares it with ``socketio.packet.Packet``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

import socketio
from engineio import packet as eio_packet

NAMESPACE: Final = "/"


def event_frame(event: str, payload_json: str) -> str:
    """The Socket.IO EVENT packet text for ``emit(event, payload)`` on namespace ``/``."""
    return "2[" + json.dumps(event) + "," + payload_json + "]"


def engine_packet(frame: str) -> Any:
    """One engine.io MESSAGE packet, encoded once; every recipient's queue shares it."""
    pkt = eio_packet.Packet(eio_packet.MESSAGE, data=frame)
    pkt.encode()  # fills encode_cache: each writer then sends the cached text
    return pkt


class Fanout:
    """Puts pre-encoded packets on engine.io sockets; joins and leaves rooms synchronously."""

    def __init__(self, server: socketio.AsyncServer) -> None:
        self._manager = server.manager
        self._eio = server.eio  # its .sockets dict is replaced on a full disconnect: no caching

    def deliver(self, rooms: Iterable[str], frame: str) -> int:
        """Queue ``frame`` once for every client in any of ``rooms``; returns the count."""
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
        sockets: dict[str, Any] = self._eio.sockets
        delivered = 0
        for eio_sid in targets:
            sock = sockets.get(eio_sid)
            if sock is None or sock.closing or sock.closed:
                continue
            sock.queue.put_nowait(pkt)
            delivered += 1
        return delivered

    def send(self, sid: str, frames: Iterable[str]) -> bool:
        """Queue ``frames`` in order for one client; False if it is gone."""
        eio_sid = self._manager.eio_sid_from_sid(sid, NAMESPACE)
        sock = self._eio.sockets.get(eio_sid) if eio_sid is not None else None
        if sock is None or sock.closing or sock.closed:
            return False
        for frame in frames:
            sock.queue.put_nowait(engine_packet(frame))
        return True

    def is_connected(self, sid: str) -> bool:
        return bool(self._manager.is_connected(sid, NAMESPACE))

    def enter(self, sid: str, room: str) -> None:
        self._manager.basic_enter_room(sid, NAMESPACE, room)

    def leave(self, sid: str, room: str) -> None:
        self._manager.basic_leave_room(sid, NAMESPACE, room)
