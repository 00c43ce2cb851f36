"""``SnapshotReader``: what a welcome reads before it can be built, once per tenant at a time.

A welcome needs its tenants' positions (their current seqs), then the rows: read in that order,
so that the welcome replays whatever came in between (``relay.hub.welcome``). Clients of one
tenant that connect while its rows are being read share that read: a reconnect storm reads each
tenant once, not once per client. That is exact, because a client that joins a read also takes
the positions read before the read began, and its welcome replays every event since them.

In a cluster (``bus``) the tenant's mirror of the history is primed from Redis first
(``relay.hub.history``). When the bus is down, the welcome is built from what this node has,
and the scope is remembered in ``unprimed`` so that the hub welcomes it again once the bus is
back.
"""

from __future__ import annotations

import asyncio
import functools

from relay.bus import Bus, BusUnavailable, Kept
from relay.hub.history import Entry, History
from relay.hub.welcome import LastSeq
from relay.store import Instance, Store

Read = tuple[dict[str, int], list[Instance]]


class SnapshotReader:
    def __init__(self, store: Store, history: History, bus: Bus | None) -> None:
        self._store = store
        self._history = history
        self._bus = bus
        self._reading: dict[str, asyncio.Future[Read]] = {}
        # scopes welcomed while their history could not be read from the bus (None: SUPERADMIN)
        self.unprimed: set[str | None] = set()

    async def read(self, scope: str | None, last: LastSeq) -> Read:
        """The positions, then the rows, of ``scope`` (None: every tenant)."""
        if scope is None:
            return await self._read(scope, last)
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

    async def _read(self, scope: str | None, last: LastSeq) -> Read:
        if self._bus is not None:
            await self._prime(self._bus, scope, last)
        tenants = [scope] if scope is not None else self._history.known_tenants()
        positions = self._history.currents(tenants)
        return positions, await self._store.list_instances(scope)

    async def _prime(self, bus: Bus, scope: str | None, last: LastSeq) -> None:
        """Make this node's mirror of the client's tenants whole before its welcome."""
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
            return
        for tenant, (seq, kept) in zip(missing, primed, strict=True):
            if not self._history.is_primed(tenant):
                self._history.prime(tenant, seq, [_entry(tenant, k) for k in kept])


def _entry(tenant_id: str, kept: Kept) -> Entry:
    return Entry(tenant_id, kept.instance, kept.event, kept.seq, kept.ordinal, kept.payload_json)
