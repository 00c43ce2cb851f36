"""Background tasks: one place creates them, keeps a reference, and logs their failures.

``spawn`` is for work that ends by itself (a welcome, a join, one reconciliation); a failure is
logged. ``supervise`` is for the daemon's long-running loops (the status writer, the upstream
subscription, the periodic reconciliation): a loop that fails is logged once with its
traceback, counted in ``relay_task_restarts_total{task}``, reported by :meth:`Tasks.healthy`
(so ``/readyz`` answers 503) and started again after a capped backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from relay.backoff import Backoff

if TYPE_CHECKING:
    from relay.metrics import Metrics

log = logging.getLogger(__name__)

RESTART_FIRST = 0.5
RESTART_CAP = 30.0
STABLE_AFTER = 60.0  # a loop that ran this long before failing starts again from RESTART_FIRST

LoopFactory = Callable[[], Coroutine[Any, Any, Any]]


class Tasks:
    """Holds the daemon's background tasks; ``close()`` cancels and awaits them all."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._metrics = metrics
        self._down: set[str] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def supervise(self, factory: LoopFactory, name: str) -> asyncio.Task[Any]:
        """Run ``factory()`` for the life of the daemon, restarting it whenever it fails."""
        return self.spawn(self._supervised(factory, name), name)

    def healthy(self) -> bool:
        """True while every supervised loop is running (``/readyz``)."""
        return not self._down

    @property
    def down(self) -> frozenset[str]:
        return frozenset(self._down)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("background task %s failed", task.get_name(), exc_info=exc)

    async def _supervised(self, factory: LoopFactory, name: str) -> None:
        backoff = Backoff(RESTART_FIRST, RESTART_CAP)
        while True:
            started = time.monotonic()
            try:
                await factory()
                log.error("background task %s returned; starting it again", name)
            except Exception:
                # The one place that sees a loop's bug: logged with its traceback, counted,
                # and the loop started again, so the daemon heals instead of silently stopping.
                log.exception("background task %s failed; starting it again", name)
            if time.monotonic() - started > STABLE_AFTER:
                backoff.reset()
            self._mark(name, down=True)
            try:
                await asyncio.sleep(backoff.next())
            finally:
                self._mark(name, down=False)

    def _mark(self, name: str, *, down: bool) -> None:
        if down:
            self._down.add(name)
            if self._metrics is not None:
                self._metrics.task_restarts.labels(name).inc()
        else:
            self._down.discard(name)
        if self._metrics is not None:
            self._metrics.tasks_down.set(len(self._down))

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
