"""Server-Sent Events at ``GET /api/events``: the same stream as Socket.IO, for EventSource.

Written on aiohttp's ``StreamResponse`` rather than aiohttp-sse: the fan-out hands every
subscriber the same pre-encoded bytes (one encoding per event, not per subscriber), and
aiohttp-sse's value is formatting each ``send()`` per subscriber, which this path avoids.

Each subscriber has an outbox (a deque and an event); the publisher appends shared bytes and
the subscriber's own request task writes everything queued in one ``write``. A subscriber that
falls more than ``OUTBOX_LIMIT`` frames behind is cut off; it resumes with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable
from typing import Final

from aiohttp import web

from relay.hub.history import Entry
from relay.hub.rooms import ALL_TENANTS

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS: Final = 15.0
LIVENESS_TICK: Final = 1.0  # how often an idle stream checks that its peer is still there
OUTBOX_LIMIT: Final = 10_000
HEARTBEAT: Final = b": ping\n\n"


def frame(event: str, payload_json: str, seq: int | None) -> bytes:
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {event}\ndata: {payload_json}\n\n".encode()


def entry_frame(entry: Entry, *, with_id: bool) -> bytes:
    return frame(entry.event, entry.payload_json, entry.seq if with_id else None)


def parse_last_event_id(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.query.get("lastEventId")
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        return None  # not one of ours: start fresh, as if none was sent


class Subscriber:
    __slots__ = ("closed", "ending", "outbox", "room", "wake", "with_ids")

    def __init__(self, room: str, *, with_ids: bool) -> None:
        self.room = room
        self.with_ids = with_ids  # a SUPERADMIN's stream mixes tenants' seqs: no ids
        self.outbox: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.closed = False
        self.ending = False  # closed by end(): what is queued is still written

    def push(self, data: bytes) -> bool:
        if self.closed:
            return False
        if len(self.outbox) >= OUTBOX_LIMIT:
            log.warning("SSE subscriber in %s is %d frames behind: closing it", self.room,
                        len(self.outbox))  # fmt: skip
            self.close()
            return False
        self.outbox.append(data)
        self.wake.set()
        return True

    def close(self) -> None:
        self.closed = True
        self.wake.set()

    def end(self, last: bytes) -> None:
        """Queue ``last`` and end the stream once everything queued is written."""
        if self.closed:
            return
        self.outbox.append(last)
        self.ending = True
        self.close()

    def drain(self) -> bytes:
        chunk = b"".join(self.outbox)
        self.outbox.clear()
        self.wake.clear()
        return chunk


class SseRooms:
    """Room -> subscribers; the SSE twin of Socket.IO's rooms."""

    def __init__(self) -> None:
        self._rooms: dict[str, set[Subscriber]] = {}

    def add(self, sub: Subscriber) -> None:
        self._rooms.setdefault(sub.room, set()).add(sub)

    def remove(self, sub: Subscriber) -> None:
        members = self._rooms.get(sub.room)
        if members is not None:
            members.discard(sub)
            if not members:
                del self._rooms[sub.room]

    def deliver(self, rooms: Iterable[str], entry: Entry) -> int:
        delivered = 0
        with_id: bytes | None = None
        without_id: bytes | None = None
        for room in rooms:
            for sub in self._rooms.get(room, ()):
                if sub.with_ids:
                    with_id = with_id or entry_frame(entry, with_id=True)
                    delivered += sub.push(with_id)
                else:
                    without_id = without_id or entry_frame(entry, with_id=False)
                    delivered += sub.push(without_id)
        return delivered

    def broadcast(self, data: bytes) -> int:
        """Send ``data`` to every subscriber, in every room."""
        return sum(sub.push(data) for members in self._rooms.values() for sub in members)

    def end_rooms(self, rooms: set[str] | None, last: bytes) -> None:
        """End the streams of ``rooms`` (None: all) with ``last``; browsers reconnect."""
        for room, members in self._rooms.items():
            if rooms is None or room in rooms or room == ALL_TENANTS:
                for sub in list(members):
                    sub.end(last)

    def close_all(self) -> None:
        for members in self._rooms.values():
            for sub in members:
                sub.close()

    def __len__(self) -> int:
        return sum(len(members) for members in self._rooms.values())


async def pump(request: web.Request, response: web.StreamResponse, sub: Subscriber) -> None:
    """Write the subscriber's outbox until it closes or the peer goes away."""
    last_write = time.monotonic()
    while not sub.closed:
        try:
            await asyncio.wait_for(sub.wake.wait(), LIVENESS_TICK)
        except TimeoutError:
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            if time.monotonic() - last_write < HEARTBEAT_SECONDS:
                continue
            await response.write(HEARTBEAT)
            last_write = time.monotonic()
            continue
        chunk = sub.drain()
        if chunk:
            await response.write(chunk)
            last_write = time.monotonic()
    if sub.ending and sub.outbox:
        await response.write(sub.drain())
