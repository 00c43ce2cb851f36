"""Per-tenant sequence numbers and the bounded history that resume replays from.

``seq`` increases by one per event of a tenant. It starts from the microsecond clock when the
tenant's log is created, not from 0: after a relay restart every new seq is larger than any
seq of the previous run, so a client resuming with a ``lastSeq`` from before the restart is
seen as a gap (``recovered: false``) instead of being fed the new run's events as if they were
the ones it missed. Values stay below 2**53, so JavaScript reads them exactly.

An entry keeps the event's JSON once (``payload_json``); both transports build their frames
from it, so the history holds one copy of each event.

In a cluster (``relay.bus``) Redis numbers and keeps the events, and each node's history is a
*mirror*: the bus reader ``receive``s every event in the cluster's order, and a tenant's log
serves welcomes once it is ``primed`` (its seq and kept history read from Redis, joined to what
the reader has appended since). A log the reader created is not primed: it holds only the
events this node saw. ``reset`` empties a tenant's log where the cluster lost its events.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Entry:
    tenant_id: str
    instance_name: str
    event: str
    seq: int
    ordinal: int  # hub-wide arrival order, to merge tenants for a SUPERADMIN
    payload_json: str


class TenantLog:
    __slots__ = ("entries", "primed", "seq")

    def __init__(self, size: int, *, mirror: bool = False) -> None:
        # A mirror's seq comes from the bus: 0 until the first event or the priming.
        self.seq = 0 if mirror else time.time_ns() // 1000
        self.primed = not mirror
        self.entries: deque[Entry] = deque(maxlen=size)

    def since(self, last_seq: int) -> list[Entry] | None:
        """The entries after ``last_seq`` in order, or None when some are no longer here."""
        if last_seq > self.seq:
            return None  # a seq this log never gave out (a previous run's, or made up)
        if last_seq == self.seq:
            return []
        oldest = self.entries[0].seq if self.entries else self.seq + 1
        if last_seq + 1 < oldest:
            return None
        return list(itertools.islice(self.entries, last_seq + 1 - oldest, None))


class History:
    """Every tenant's log; created on first use, so an idle tenant costs nothing."""

    def __init__(self, size: int, *, mirror: bool = False) -> None:
        self._size = size
        self._mirror = mirror
        self._logs: dict[str, TenantLog] = {}
        self._ordinal = itertools.count(1)

    def log(self, tenant_id: str) -> TenantLog:
        log = self._logs.get(tenant_id)
        if log is None:
            log = self._logs[tenant_id] = TenantLog(self._size, mirror=self._mirror)
        return log

    # -- a mirror of the cluster's history (relay.bus) ----------------------------------------

    def receive(self, tenant_id: str, instance_name: str, event: str, seq: int,
                payload_json: str, ordinal: int) -> Entry | None:  # fmt: skip
        """An event from the bus, in the cluster's order; None if the log has it already."""
        log = self.log(tenant_id)
        if seq <= log.seq:
            return None
        entry = Entry(tenant_id, instance_name, event, seq, ordinal, payload_json)
        log.entries.append(entry)
        log.seq = seq
        return entry

    def is_primed(self, tenant_id: str) -> bool:
        log = self._logs.get(tenant_id)
        return log is not None and log.primed

    def prime(self, tenant_id: str, seq: int, kept: list[Entry]) -> None:
        """Join the tenant's kept history (everything up to ``seq``, read once this node's
        reader had passed it) with the events the reader appended after ``seq``."""
        log = self.log(tenant_id)
        newer = [entry for entry in log.entries if entry.seq > seq]
        log.entries.clear()
        log.entries.extend(kept)
        log.entries.extend(newer)
        log.seq = max(seq, newer[-1].seq if newer else seq)
        log.primed = True

    def reset(self, tenant_id: str, seq: int) -> None:
        """The cluster lost some of the tenant's events: nothing before ``seq`` can be replayed."""
        log = self.log(tenant_id)
        log.entries.clear()
        log.seq = seq
        log.primed = True

    def forget_all(self) -> None:
        """Redis lost everything: every log starts again from the bus."""
        self._logs.clear()

    def append(self, tenant_id: str, instance_name: str, event: str, payload_json: str,
               seq: int) -> Entry:  # fmt: skip
        entry = Entry(tenant_id, instance_name, event, seq, next(self._ordinal), payload_json)
        self.log(tenant_id).entries.append(entry)
        return entry

    def next_seq(self, tenant_id: str) -> int:
        log = self.log(tenant_id)
        log.seq += 1
        return log.seq

    def current(self, tenant_id: str) -> int:
        return self.log(tenant_id).seq

    def currents(self, tenant_ids: Iterator[str] | list[str]) -> dict[str, int]:
        return {tenant_id: self.current(tenant_id) for tenant_id in tenant_ids}

    def known_tenants(self) -> list[str]:
        return list(self._logs)

    def since(self, positions: Mapping[str, int]) -> list[Entry] | None:
        """Entries after each tenant's position, merged in arrival order; None on any gap."""
        runs: list[list[Entry]] = []
        for tenant_id, last_seq in positions.items():
            run = self.log(tenant_id).since(last_seq)
            if run is None:
                return None
            runs.append(run)
        if len(runs) == 1:
            return runs[0]
        return list(heapq.merge(*runs, key=lambda entry: entry.ordinal))
