"""IndexedManager keeps python-socketio's rooms exactly as the stock manager does.

It only adds a client -> rooms index so that a disconnect does not scan every room; each step
below runs on both managers and compares their ``rooms`` (and ``get_rooms``) afterwards.
"""

from __future__ import annotations

from typing import Any

import socketio

from relay.hub.sio import IndexedManager

NS = "/"


def _steps(manager: Any) -> list[Any]:
    seen: list[Any] = []

    def snap() -> None:
        rooms = {ns: {room: dict(members) for room, members in by.items()}
                 for ns, by in manager.rooms.items()}  # fmt: skip
        seen.append((rooms, sorted(manager.get_rooms("a", NS)), sorted(manager.get_rooms("b", NS))))

    for sid, eio in (("a", "ea"), ("b", "eb"), ("c", "ec")):
        manager.basic_enter_room(sid, NS, None, eio_sid=eio)
        manager.basic_enter_room(sid, NS, sid, eio_sid=eio)
    snap()
    manager.basic_enter_room("a", NS, "tenant:1")
    manager.basic_enter_room("b", NS, "tenant:1")
    manager.basic_enter_room("b", NS, "tenant:2")
    manager.basic_enter_room("c", NS, "tenant:2")
    snap()
    manager.basic_leave_room("b", NS, "tenant:2")
    manager.basic_leave_room("b", NS, "no-such-room")
    snap()
    manager.callbacks["a"] = {1: print}
    manager.basic_disconnect("a", NS)
    snap()
    manager.basic_close_room("tenant:1", NS)
    snap()
    manager.basic_disconnect("b", NS)
    manager.basic_disconnect("b", NS)  # twice: nothing left to do
    manager.basic_disconnect("c", NS)
    snap()
    seen.append(dict(manager.callbacks))
    return seen


def test_rooms_match_the_stock_manager_at_every_step() -> None:
    indexed = IndexedManager()
    assert _steps(indexed) == _steps(socketio.AsyncManager())
    assert indexed.rooms == {} and indexed._rooms_of == {}
