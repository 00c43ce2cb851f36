"""How the hub's Socket.IO frames reach clients: the :class:`Fanout` interface and the frame.

Two implementations, one chosen at start-up by ``relay.internals`` (never per event):

- ``relay.hub.fanout.DirectFanout``: encodes once and writes the same bytes to every recipient,
  over python-engineio's and aiohttp's internals (tested library versions only);
- ``relay.hub.stock_fanout.StockFanout``: python-socketio's public ``AsyncServer.emit``.

The hub speaks in frames: the text of a Socket.IO EVENT packet on namespace ``/``, built once
per event by :func:`event_frame` from the JSON the history keeps. Room changes are synchronous,
and so is handing a frame over: the hub's welcome relies on both (see ``relay.hub.welcome``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final, Protocol

NAMESPACE: Final = "/"


def event_frame(event: str, payload_json: str) -> str:
    """The Socket.IO EVENT packet text for ``emit(event, payload)`` on namespace ``/``."""
    return "2[" + json.dumps(event) + "," + payload_json + "]"


def frame_event(frame: str) -> tuple[str, Any]:
    """``event_frame``'s inverse: ``(event, payload)``, for paths that emit objects."""
    event, payload = json.loads(frame[1:])
    return event, payload


class Fanout(Protocol):
    """Hands frames to rooms and clients in order; joins and leaves rooms synchronously."""

    def deliver(self, rooms: Iterable[str], frame: str) -> int:
        """Send ``frame`` once to every client in any of ``rooms``; returns the count."""
        ...

    def broadcast(self, frame: str) -> int:
        """Send ``frame`` to every client that has joined a hub room."""
        ...

    def send(self, sid: str, frames: Iterable[str]) -> bool:
        """Send ``frames`` in order to one client; False if it is gone."""
        ...

    def is_connected(self, sid: str) -> bool:
        """True once python-socketio has sent the client its CONNECT."""
        ...

    def enter(self, sid: str, room: str) -> None: ...

    def leave(self, sid: str, room: str) -> None: ...

    def gone(self, sid: str) -> None:
        """The client disconnected (python-socketio has left its rooms already)."""
        ...

    async def close_websockets(self, grace: float) -> None:
        """At shutdown, after the sessions were told to close: end the websockets left."""
        ...
