"""``SnapshotReader``: what a welcome reads before it can be built, once per tenant at a time.

A welcome needs its tenants' positions (their current seqs), then the rows: read in that order,
so that the welcome replays whatever came in between (``relay.hub.welcome``). Clients of one
tenant that connect while its rows are being read share that read: a reconnect storm reads each
tenant once, not once per client. That is exact, because a client that joins a read also takes
the positions read before the read began, and its welcome replays every event since them.

A tenant's last read is kept and given again, with no database read, while it is exact: while
the tenant's position has not moved (no event since) and this process has written none of its
rows since (``Store.written``). Every change to a row the snapshot shows is followed by an event
of its tenant, so a kept read with its position is what a new read would give, and a welcome
built on it replays whatever came after it as usual. On one node both checks see every write.
In a cluster a row may also be written by the node that follows the instance's server, a moment
after the event that caused it (a QR, a profile) or with no event of the tenant (another node's
websocket settings): there a kept read is given again for at most :data:`CLUSTER_KEEP` seconds.
A row changed from outside the relay (SQL by hand) shows in snapshots after :data:`KEEP` seconds
at most, or at the tenant's next event.

In a cluster (``bus``) the tenant's mirror of the history is primed from Redis first
(``relay.hub.history``). When the bus is down, the welcome is built from what this node has,
and the scope is remembered in ``unprimed`` so that the hub welcomes it again once the bus is
back.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Final

from relay.bus import Bus, BusUnavailable, Kept
from relay.hub.history import Entry, History
from relay.hub.welcome import LastSeq, Rows
from relay.store import Store

Read = tuple[dict[str, int], Rows]

KEEP: Final = 30.0  # seconds a tenant's read is kept at most (memory: idle tenants' reads go)
CLUSTER_KEEP: Final = 1.0  # the same in a cluster, where other nodes write rows too


@dataclass(frozen=True, slots=True)
class _Kept:
    position: int  # the tenant's seq, read before its rows
    written: int  # Store.written(tenant), read before its rows
    rows: Rows
    until: float  # loop time


class SnapshotReader:
    def __init__(self, store: Store, history: History, bus: Bus | None) -> None:
        self._store = store
        self._history = history
        self._bus = bus
        self._reading: dict[str, asyncio.Future[Read]] = {}
        self._kept: dict[str, _Kept] = {}  # by tenant, oldest first
        self._keep = KEEP if bus is None else CLUSTER_KEEP
        # scopes welcomed while their history could not be read from the bus (None: SUPERADMIN)
        self.unprimed: set[str | None] = set()

    async def read(self, scope: str | None, last: LastSeq) -> Read:
        """The positions, then the rows, of ``scope`` (None: every tenant)."""
        if scope is None:
            return await self._read(scope, last)
        kept = self._kept.get(scope)
        if kept is not None and self._holds(scope, kept):
            return {scope: kept.position}, kept.rows
        reading = self._reading.get(scope)
        if reading is None:
            # A plain future, not a spawned task: a failed read (the database is down) is each
            # waiter's error to handle, not a background task's failure to log.
            reading = self._reading[scope] = asyncio.ensure_future(self._read(scope, last))
            reading.add_done_callback(functools.partial(self._done, scope))
        return await asyncio.shield(reading)

    def _done(self, scope: str, reading: asyncio.Future[Read]) -> None:
        self._reading.pop(scope, None)
        if not reading.cancelled():
            reading.exception()  # retrieved: every waiter got it already

    def _holds(self, scope: str, kept: _Kept) -> bool:
        return (
            asyncio.get_running_loop().time() < kept.until
            and self._history.current(scope) == kept.position
            and self._store.written(scope) == kept.written
            and (self._bus is None or self._history.is_primed(scope))
        )

    def forget(self) -> None:
        """Keep no read (the history was reset or lost: positions may repeat)."""
        self._kept.clear()

    async def _read(self, scope: str | None, last: LastSeq) -> Read:
        primed = True
        if self._bus is not None:
            primed = await self._prime(self._bus, scope, last)
        if scope is None:
            positions = self._history.currents(self._history.known_tenants())
            return positions, Rows(await self._store.list_instances(None))
        position, written = self._history.current(scope), self._store.written(scope)
        rows = Rows(await self._store.list_instances(scope))
        if primed:
            self._keep_read(scope, position, written, rows)
        return {scope: position}, rows

    def _keep_read(self, scope: str, position: int, written: int, rows: Rows) -> None:
        now = asyncio.get_running_loop().time()
        self._kept.pop(scope, None)
        self._kept[scope] = _Kept(position, written, rows, now + self._keep)
        while self._kept:  # drop what has expired, oldest first
            oldest = next(iter(self._kept))
            if self._kept[oldest].until > now:
                break
            del self._kept[oldest]

    async def _prime(self, bus: Bus, scope: str | None, last: LastSeq) -> bool:
        """Make this node's mirror of the client's tenants whole before its welcome; False if
        the bus could not be read."""
        if scope is not None:
            tenants = {scope}
        else:
            tenants = set(self._history.known_tenants())
            tenants.update(last if isinstance(last, dict) else ())
        missing = [tenant for tenant in tenants if not self._history.is_primed(tenant)]
        try:
            primed = await asyncio.gather(*(bus.prime(tenant) for tenant in missing))
        except BusUnavailable:
            self.unprimed.add(scope)  # welcomed from what this node has; again when back
            return False
        for tenant, (seq, kept) in zip(missing, primed, strict=True):
            if not self._history.is_primed(tenant):
                self._history.prime(tenant, seq, [_entry(tenant, k) for k in kept])
        return True


def _entry(tenant_id: str, kept: Kept) -> Entry:
    return Entry(tenant_id, kept.instance, kept.event, kept.seq, kept.ordinal, kept.payload_json)
