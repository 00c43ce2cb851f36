"""``StatusWriter``: status and QR writes to Postgres, in arrival order per instance, coalesced.

Each instance has a queue of :class:`StatusIntent`. An instance is in the workers' ready queue
at most once, so one worker at a time writes it, in order. While a write is in flight, a new
intent with the same status as the last queued one replaces it (a QR flood keeps only the newest
QR), but an intent with another status is appended: no transition is lost, and the final state
is always written. Each recorded change is handed to ``on_change`` (the hub's broadcast).

``generation(name)`` counts event-originated intents, so a reconciliation that read Evolution
before a newer event arrived can see that its answer is stale and drop it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from relay.errors import DatabaseUnavailable
from relay.metrics import Metrics
from relay.pipeline.models import StatusIntent
from relay.store import Store
from relay.store.models import StatusChange

log = logging.getLogger(__name__)

OnChange = Callable[[StatusChange], Awaitable[object]]

RETRY_DELAY = 1.0
MAX_ATTEMPTS = 5


class StatusWriter:
    def __init__(
        self, store: Store, on_change: OnChange, metrics: Metrics, *, workers: int = 8
    ) -> None:
        self._store = store
        self._on_change = on_change
        self._metrics = metrics
        self._workers = workers
        self._pending: dict[str, deque[StatusIntent]] = {}
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._scheduled: set[str] = set()
        self._generation: dict[str, int] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._settled: dict[str, list[asyncio.Future[None]]] = {}

    @property
    def backlog(self) -> int:
        """Instances with a write queued or in flight."""
        return len(self._scheduled)

    def generation(self, name: str) -> int:
        return self._generation.get(name, 0)

    def submit(self, name: str, intent: StatusIntent, *, from_event: bool = True) -> None:
        if from_event:
            self._generation[name] = self._generation.get(name, 0) + 1
        queue = self._pending.setdefault(name, deque())
        if queue and queue[-1].status is intent.status:
            intent = intent.merged_after(queue.pop())
        queue.append(intent)
        if name not in self._scheduled:
            self._scheduled.add(name)
            self._ready.put_nowait(name)
            self._idle.clear()
            self._metrics.status_backlog.set(len(self._scheduled))

    def forget(self, name: str) -> None:
        """The instance is gone: drop what is queued (an in-flight write finds no row)."""
        self._pending.pop(name, None)
        self._generation.pop(name, None)

    async def settled(self, name: str) -> None:
        """Return once nothing is queued or in flight for ``name`` (its row is current)."""
        if name not in self._scheduled:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._settled.setdefault(name, []).append(waiter)
        await waiter

    async def wait_idle(self) -> None:
        """Return once nothing is queued or in flight (tests and shutdown)."""
        await self._idle.wait()

    async def run(self) -> None:
        """The workers; run under the app's task set until cancelled."""
        await asyncio.gather(*(self._work() for _ in range(self._workers)))

    async def _work(self) -> None:
        while True:
            name = await self._ready.get()
            queue = self._pending.get(name)
            if queue:
                await self._write(name, queue.popleft(), queue)
            if self._pending.get(name):
                self._ready.put_nowait(name)  # to the back: instances take turns
                continue
            self._pending.pop(name, None)
            self._scheduled.discard(name)
            for waiter in self._settled.pop(name, ()):
                if not waiter.done():
                    waiter.set_result(None)
            self._metrics.status_backlog.set(len(self._scheduled))
            if not self._scheduled:
                self._idle.set()

    async def _write(self, name: str, intent: StatusIntent, queue: deque[StatusIntent]) -> None:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                update = await self._store.update_status(
                    name,
                    intent.status,
                    intent.reason,
                    qrcode=intent.qrcode,
                    clear_qrcode=intent.clear_qrcode,
                    wuid=intent.wuid,
                    profile_name=intent.profile_name,
                )
            except DatabaseUnavailable:
                log.warning(
                    "status write %s of instance %s failed: database unavailable (attempt %d/%d)",
                    intent.status, name, attempt, MAX_ATTEMPTS,
                )  # fmt: skip
                if queue and queue[-1].status is intent.status:
                    return  # a newer intent of the same status supersedes this one
                await asyncio.sleep(RETRY_DELAY)
                continue
            self._metrics.status_writes.inc()
            if update is None:
                log.debug("status write for instance %s skipped: no such instance", name)
            elif update.change is not None:
                await self._broadcast(update.change)
            return
        log.error(
            "status %s of instance %s not written after %d attempts",
            intent.status,
            name,
            MAX_ATTEMPTS,
        )

    async def _broadcast(self, change: StatusChange) -> None:
        log.info(
            "instance %s (tenant %s): %s -> %s (%s)", change.instance_name, change.tenant_id,
            change.previous_status, change.status, change.reason,
        )  # fmt: skip
        try:
            await self._on_change(change)
        except Exception:
            # The row is written; a broadcast failure must not stop the writer.
            log.exception(
                "broadcasting status %s of instance %s (tenant %s) failed",
                change.status, change.instance_name, change.tenant_id,
            )  # fmt: skip
