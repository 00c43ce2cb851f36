"""``Leadership``: which Evolution servers this node follows, decided with its peers.

Every ``interval`` the node checks that its lease session is alive and tries to take the lease
of one server nobody holds (``relay.store.leases``). A node that already leads ``k`` servers
tries only every ``k + 1``-th round, so idle nodes take servers first and a fleet's ingest work
spreads over the cluster. When the session fails (the database restarted, the connection was
cut), the node steps down from everything at once: Postgres has released its locks, another
node may already hold them, and fenced writes would be refused anyway.

``on_lead(server, term)`` starts following a server; ``on_lose(server)`` stops it. Both are the
tracker's (``InstanceTracker.lead`` / ``step_down``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import Gauge

from relay.errors import DatabaseUnavailable
from relay.store import Store
from relay.store.leases import LeaseKeeper

log = logging.getLogger(__name__)

OnLead = Callable[[str, int], Awaitable[None]]
OnLose = Callable[[str], Awaitable[None]]


class Leadership:
    def __init__(self, store: Store, node: str, servers: list[str], *, interval: float,
                 on_lead: OnLead, on_lose: OnLose, gauge: Gauge) -> None:  # fmt: skip
        self._store = store
        self._node = node
        self._servers = servers
        self._interval = interval
        self._on_lead = on_lead
        self._on_lose = on_lose
        self._gauge = gauge
        self._keeper: LeaseKeeper | None = None
        self._round = 0
        self.leading: dict[str, int] = {}  # server -> term
        self.tried = asyncio.Event()  # the first round is over (READY=1 waits for it)
        for server in servers:
            gauge.labels(server).set(0)

    async def run(self) -> None:
        """Until cancelled (runs supervised); steps down from everything when it ends."""
        try:
            while True:
                await self._round_once()
                self.tried.set()
                await asyncio.sleep(self._interval)
        finally:
            await asyncio.shield(self._step_down_all(release=True))

    async def _round_once(self) -> None:
        self._round += 1
        try:
            if self._keeper is None:
                self._keeper = await self._store.lease_keeper()
            else:
                await self._keeper.check()
            if self._round % (len(self.leading) + 1) == 0:
                await self._take_one(self._keeper)
        except DatabaseUnavailable:
            if self.leading:
                log.warning("lost the lease session to Postgres: no longer following %s; "
                            "another node (or this one, later) takes over",
                            ", ".join(sorted(self.leading)))  # fmt: skip
            await self._step_down_all(release=False)

    async def _take_one(self, keeper: LeaseKeeper) -> None:
        for server in self._servers:
            if server in self.leading:
                continue
            term = await keeper.take(server, self._node)
            if term is None:
                continue
            self.leading[server] = term
            self._gauge.labels(server).set(1)
            log.info("node %s now follows evolution server %s (term %d)", self._node, server,
                     term)  # fmt: skip
            await self._on_lead(server, term)
            return

    async def _step_down_all(self, *, release: bool) -> None:
        servers, self.leading = list(self.leading), {}
        for server in servers:
            self._gauge.labels(server).set(0)
            try:
                await self._on_lose(server)
            except Exception:
                # Stepping down must finish for every server: log a failing one and go on.
                log.exception("stepping down from evolution server %s failed", server)
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            if release and servers:
                log.info("node %s hands over %s", self._node, ", ".join(sorted(servers)))
            await keeper.close()
