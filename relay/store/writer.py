"""``StatusWriter``: status and QR writes to Postgres, in order per instance, durable, coalesced.

Each instance has a queue of jobs (a :class:`StatusIntent`, or a :class:`Removal`). An instance
is in the workers' ready queue at most once, so one worker at a time writes it, in order. While
a write is in flight, a new intent with the same status as the last queued one replaces it (a
QR flood keeps only the newest QR), but an intent with another status is appended: no
transition is lost, and the final state is always written.

Nothing is lost to a database outage: a write that fails because Postgres is unavailable is
retried with capped backoff until it lands, and everything queued behind it waits, in order,
in a per-instance backlog bounded by ``backlog_limit`` (past it the oldest transitions go, and
are counted; the latest state never does). The outage is logged once when it begins and once
when it ends.

An intent that would change nothing in the row (an identical ``connecting`` repeated by
Baileys' reconnect loop) writes nothing: the writer keeps the last row it wrote or was shown.

In a cluster, writes from events and reconciliations are fenced (``fence`` gives the term of the
server's lease this node holds, None when it holds none): a node that lost its lease writes
nothing, even before it knows. A caller's ``apply`` (a management reply) is not fenced: any
node may serve the API. ``invalidate`` marks a row another node has written, so the next
intent is written rather than compared with what this node last saw.

``generation(name)`` counts event-originated intents, so that a reconciliation or a management
reply that read Evolution before a newer event arrived can see that its answer is stale.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from relay.backoff import Backoff
from relay.errors import DatabaseUnavailable
from relay.metrics import Metrics
from relay.store.models import Instance, Removal, StatusChange, StatusIntent
from relay.store.store import LeaseLost, Store

log = logging.getLogger(__name__)

OnChange = Callable[[StatusChange], Awaitable[object]]
OnRemoved = Callable[[Instance, str], Awaitable[object]]
Fence = Callable[[], int | None]

BACKLOG_LIMIT = 1000
RETRY_FIRST = 0.1
RETRY_CAP = 1.0
APPLY_TIMEOUT = 10.0  # how long a caller of apply() waits for the database


@dataclass(slots=True)
class _Job:
    what: StatusIntent | Removal
    # Skip the intent when an event newer than this generation has been queued since.
    unless_after: int | None = None
    done: asyncio.Future[Instance | None] | None = None

    def coalescable(self) -> bool:
        return isinstance(self.what, StatusIntent) and self.done is None


class StatusWriter:
    def __init__(
        self,
        store: Store,
        on_change: OnChange,
        metrics: Metrics,
        *,
        on_removed: OnRemoved | None = None,
        workers: int = 8,
        backlog_limit: int = BACKLOG_LIMIT,
        retry: tuple[float, float] = (RETRY_FIRST, RETRY_CAP),
        fence: Fence | None = None,
    ) -> None:
        self._store = store
        self._fence = fence
        self._stale: set[str] = set()
        self._on_change = on_change
        self._on_removed = on_removed
        self._metrics = metrics
        self._workers = workers
        self._backlog_limit = backlog_limit
        self._retry = retry
        self._pending: dict[str, deque[_Job]] = {}
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._scheduled: set[str] = set()
        self._generation: dict[str, int] = {}
        self._rows: dict[str, Instance] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._settled: dict[str, list[asyncio.Future[None]]] = {}
        self._outage_since: float | None = None

    @property
    def backlog(self) -> int:
        """Instances with a write queued or in flight."""
        return len(self._scheduled)

    def generation(self, name: str) -> int:
        return self._generation.get(name, 0)

    def known(self, instances: Iterable[Instance]) -> None:
        """Rows as they are in the database (at start, or just created)."""
        for instance in instances:
            self._rows[instance.name] = instance

    def invalidate(self, name: str) -> None:
        """Another node wrote the row: compare the next intent with the database, not with
        what this node saw last."""
        if name in self._rows:
            self._stale.add(name)

    def row(self, name: str) -> Instance | None:
        """The row as last written or shown; None when the writer has not seen it."""
        return self._rows.get(name)

    def submit(self, name: str, intent: StatusIntent, *, from_event: bool = True) -> None:
        if from_event:
            self._generation[name] = self._generation.get(name, 0) + 1
        self._enqueue(name, _Job(intent))

    def remove(self, name: str, reason: str) -> None:
        """Delete the row once what is queued before has been written."""
        self._enqueue(name, _Job(Removal(reason)))

    async def apply(
        self, name: str, intent: StatusIntent, *, unless_after: int | None = None
    ) -> Instance | None:
        """Write ``intent`` in order with the events, and return the row after it (None: no
        row). With ``unless_after``, an event queued since that generation wins: the intent is
        dropped and the current row returned (a management reply never overwrites a fresher
        event)."""
        done: asyncio.Future[Instance | None] = asyncio.get_running_loop().create_future()
        self._enqueue(name, _Job(intent, unless_after, done))
        try:
            return await asyncio.wait_for(asyncio.shield(done), APPLY_TIMEOUT)
        except TimeoutError:
            # Still queued: it is written, in order, when the database is back.
            raise DatabaseUnavailable() from None

    def forget(self, name: str) -> None:
        """The instance is gone: drop what is queued (an in-flight write finds no row)."""
        queue = self._pending.pop(name, None) or deque()
        for job in queue:
            if job.done is not None and not job.done.done():
                job.done.set_result(None)
        queue.clear()  # a worker retrying its head sees it gone
        self._generation.pop(name, None)
        self._rows.pop(name, None)
        self._stale.discard(name)

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
        """The workers; run under the app's supervisor until cancelled.

        A worker that fails (a bug: database outages are retried, not raised) takes the others
        down with it, and the supervisor starts ``run`` again: every instance still scheduled
        is queued again, so nothing waits forever.
        """
        self._ready = asyncio.Queue()
        for name in self._scheduled:
            self._ready.put_nowait(name)
        async with asyncio.TaskGroup() as group:
            for number in range(self._workers):
                group.create_task(self._work(), name=f"status-writer-{number}")

    # -- internals -------------------------------------------------------------------------

    def _enqueue(self, name: str, job: _Job) -> None:
        queue = self._pending.setdefault(name, deque())
        if queue and job.coalescable() and queue[-1].coalescable():
            last, new = queue[-1].what, job.what
            assert isinstance(last, StatusIntent) and isinstance(new, StatusIntent)
            if last.status is new.status:
                queue[-1] = _Job(new.merged_after(last))
                return
        queue.append(job)
        if len(queue) > self._backlog_limit:
            self._shed(name, queue)
        if name not in self._scheduled:
            self._scheduled.add(name)
            self._ready.put_nowait(name)
            self._idle.clear()
            self._metrics.status_backlog.set(len(self._scheduled))

    def _shed(self, name: str, queue: deque[_Job]) -> None:
        """Over the limit: the oldest plain transition goes (never a caller's, never the last)."""
        for index, job in enumerate(queue):
            if job.done is None and isinstance(job.what, StatusIntent) and index < len(queue) - 1:
                del queue[index]
                self._metrics.status_shed.inc()
                log.warning(
                    "instance %s: more than %d status changes waiting for the database; "
                    "the oldest (%s) is dropped from history, the latest state is kept",
                    name, self._backlog_limit, job.what.status,
                )  # fmt: skip
                return

    async def _work(self) -> None:
        while True:
            name = await self._ready.get()
            queue = self._pending.get(name)
            if queue:
                await self._write(name, queue)
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

    async def _write(self, name: str, queue: deque[_Job]) -> None:
        """Write the job at the head of ``queue``, retrying while the database is down."""
        backoff = Backoff(*self._retry)
        while True:
            job = queue[0]
            try:
                result = await self._apply(name, job)
            except LeaseLost:
                self._metrics.status_fenced.inc()
                log.warning("instance %s: status write dropped: this node no longer follows its "
                            "server (another node does)", name)  # fmt: skip
                result = None
            except DatabaseUnavailable:
                self._outage_begins(name)
                await asyncio.sleep(backoff.next())
                if not queue or queue[0] is not job:
                    return  # forgotten (deleted) meanwhile
                continue
            self._outage_ends()
            if queue and queue[0] is job:
                queue.popleft()
            if job.done is not None and not job.done.done():
                job.done.set_result(result)
            return

    def _term(self, job: _Job) -> int | None:
        """The fence for ``job``: a caller's write is not fenced; else the lease's term."""
        if self._fence is None or job.done is not None:
            return None
        term = self._fence()
        if term is None:
            raise LeaseLost("this node holds no lease")
        return term

    async def _apply(self, name: str, job: _Job) -> Instance | None:
        what = job.what
        term = self._term(job)
        if isinstance(what, Removal):
            await self._remove(name, what.reason, term)
            return None
        row = None if name in self._stale else self._rows.get(name)
        if job.unless_after is not None and self.generation(name) > job.unless_after:
            row = row or await self._store.get_instance(name)
            if row is None or not what.still_news_after(row):
                return row
        if row is not None and not what.changes(row):
            self._metrics.status_unchanged.inc()
            return row
        update = await self._store.update_status(
            name, what.status, what.reason, qrcode=what.qrcode, clear_qrcode=what.clear_qrcode,
            wuid=what.wuid, profile_name=what.profile_name, term=term,
        )  # fmt: skip
        self._stale.discard(name)
        self._metrics.status_writes.inc()
        if update is None:
            log.debug("status write for instance %s skipped: no such instance", name)
            return None
        self._rows[name] = update.instance
        if update.change is not None:
            await self._broadcast(update.change)
        return update.instance

    async def _remove(self, name: str, reason: str, term: int | None) -> None:
        row = self._rows.get(name) or await self._store.get_instance(name)
        await self._store.delete_instance(name, term=term)
        self._rows.pop(name, None)
        self._generation.pop(name, None)
        if row is not None and self._on_removed is not None:
            log.info("instance %s (tenant %s) removed: %s", name, row.tenant_id, reason)
            await self._on_removed(row, reason)

    def _outage_begins(self, name: str) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            log.warning(
                "database unavailable: status writes (from instance %s on) are held in memory, "
                "in order, and retried until it is back", name,
            )  # fmt: skip

    def _outage_ends(self) -> None:
        if self._outage_since is not None:
            log.info(
                "database available again after %.1f s: writing %d instance(s) held back",
                time.monotonic() - self._outage_since, len(self._scheduled),
            )  # fmt: skip
            self._outage_since = None

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
