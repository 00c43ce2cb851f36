"""An engine.io session's outgoing queue at a fraction of ``asyncio.Queue``'s memory.

python-engineio gives every session an ``asyncio.Queue`` (``server.create_queue()``, called
from the socket's constructor): four ``collections.deque`` (items, getters, putters and the
waiters of its ``join`` event), each ~760 bytes even when empty, so ~3.3 KB per idle session,
a tenth of what an idle connection cost the relay. :class:`SessionQueue` is the same FIFO for
the one way engine.io and the relay use it: unbounded (``put`` never waits), one reader at a
time (the websocket writer, or a long poll; a second one is still served in order), and
``task_done``/``join`` for engine.io's ``close(wait=True)``. Its items live in a deque, and
its waiters in a list, only while there are any: an idle session's queue is one small object.
``on_put`` lets a websocket session's writer run only while there is something to send.

``relay.hub.fanout.DirectFanout`` installs it with ``create_queue`` on its server only (the
fast path); the methods engine.io calls on a session's queue are checked against this class by
``tests/hub/test_sessions_internals.py``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any


class SessionQueue:
    """``asyncio.Queue()`` (unbounded) for engine.io's sockets: the same methods, FIFO order,
    ``QueueEmpty`` and cancellation rules, without the per-queue deques."""

    __slots__ = ("_getters", "_items", "_joiners", "_unfinished", "on_put")

    def __init__(self) -> None:
        self._items: deque[Any] | None = None  # only while not empty
        self._getters: list[asyncio.Future[None]] | None = None  # only while someone waits
        self._joiners: list[asyncio.Future[None]] | None = None
        self._unfinished = 0
        # called after each put: a websocket session's writer starts on it (relay.hub.sessions)
        self.on_put: Callable[[], None] | None = None

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        self._unfinished += 1
        if self._getters:
            _wake_first(self._getters)
        if self.on_put is not None:
            self.on_put()

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        items = self._items
        if not items:
            raise asyncio.QueueEmpty
        item = items.popleft()
        if not items:
            self._items = None
        return item

    async def get(self) -> Any:
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            except BaseException:  # as asyncio.Queue.get: cancelled (wait_for's timeout)
                getter.cancel()
                if getter in self._getters:
                    self._getters.remove(getter)
                if self._items and not getter.cancelled():  # woken, then cancelled: pass it on
                    _wake_first(self._getters)
                raise
            finally:
                if not self._getters:
                    self._getters = None
        return self.get_nowait()

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0 and self._joiners is not None:
            for joiner in self._joiners:
                if not joiner.done():
                    joiner.set_result(None)
            self._joiners = None

    async def join(self) -> None:
        if self._unfinished > 0:
            joiner = asyncio.get_running_loop().create_future()
            if self._joiners is None:
                self._joiners = []
            self._joiners.append(joiner)
            await joiner


def _wake_first(waiters: list[asyncio.Future[None]]) -> None:
    while waiters:
        waiter = waiters.pop(0)
        if not waiter.done():
            waiter.set_result(None)
            return
