"""Every session's deadlines on one loop timer: a heap, instead of a ``call_later`` each.

A Socket.IO session has two: its authentication deadline (``RELAY_AUTH_TIMEOUT`` after the
engine.io session opens) and its token's expiry (for the session's life); an SSE stream has
the latter. ``loop.call_later`` costs a ``TimerHandle`` with its arguments' tuple, and under
uvloop a ``UVTimer`` and its libuv handle besides: ~0.7 KB each. Here a deadline is one small
:class:`Deadline` in a heap, and the loop's one timer is set for the earliest of them.

A cancelled deadline stays in the heap until it is due, unless cancelled ones are over half of
it (then it is rebuilt without them), as asyncio's own scheduler does with its timers. A
callback that raises is logged, and the deadlines after it still run.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable
from typing import Any, Final

log = logging.getLogger(__name__)

COMPACT_AT: Final = 64  # cancelled deadlines below which the heap is never rebuilt


class Deadline:
    """``callback(arg)`` at loop time ``when``, unless cancelled first."""

    __slots__ = ("arg", "callback", "owner", "when")

    def __init__(self, owner: Deadlines, when: float, callback: Callable[[Any], None],
                 arg: Any) -> None:  # fmt: skip
        self.owner: Deadlines | None = owner
        self.when = when
        self.callback: Callable[[Any], None] | None = callback
        self.arg = arg

    def __lt__(self, other: Deadline) -> bool:
        return self.when < other.when

    def cancel(self) -> None:
        if self.owner is not None:
            self.owner._cancelled += 1
            self.owner = self.callback = self.arg = None

    def cancelled(self) -> bool:
        return self.callback is None


class Deadlines:
    def __init__(self) -> None:
        self._heap: list[Deadline] = []
        self._timer: asyncio.TimerHandle | None = None
        self._cancelled = 0  # cancelled deadlines still in the heap

    def __len__(self) -> int:
        return len(self._heap) - self._cancelled

    def call_later(self, delay: float, callback: Callable[[Any], None], arg: Any) -> Deadline:
        """``callback(arg)`` in ``delay`` seconds (as ``loop.call_later``, one argument)."""
        loop = asyncio.get_running_loop()
        deadline = Deadline(self, loop.time() + max(0.0, delay), callback, arg)
        heapq.heappush(self._heap, deadline)
        if self._heap[0] is deadline:
            self._arm(loop)
        if self._cancelled >= COMPACT_AT and self._cancelled * 2 > len(self._heap):
            self._heap = [d for d in self._heap if d.owner is not None]
            heapq.heapify(self._heap)
            self._cancelled = 0
        return deadline

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(self._heap[0].when, self._run) if self._heap else None

    def _run(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        heap = self._heap
        while heap and heap[0].when <= loop.time():
            deadline = heapq.heappop(heap)
            callback, arg = deadline.callback, deadline.arg
            if callback is None:
                self._cancelled -= 1
                continue
            deadline.owner = deadline.callback = deadline.arg = None  # done: cancel is a no-op
            try:
                callback(arg)
            except Exception:  # as the loop does for a call_later's callback: log, go on
                log.exception("deadline callback %r failed", callback)
        if heap and self._timer is None:
            self._arm(loop)

    def stop(self) -> None:
        """Cancel every deadline (at shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for deadline in self._heap:
            deadline.owner = deadline.callback = deadline.arg = None
        self._heap = []
        self._cancelled = 0
