"""``Reconciler``: correct stored statuses from Evolution's live ``connectionState``.

Run after every (re)subscription of an instance and, for every instance, every
``RELAY_RECONCILE_INTERVAL`` seconds. At most ``concurrency`` reads are in flight. The decision
itself is a business rule, injected as ``rule`` (``handlers.status.intent_for_state``).

The event stream outranks the read API: during Baileys' reconnect loop Evolution emits
``connecting`` many times a second while ``connectionState`` reads ``close`` (docs/upstream.md
§12). So an instance with a live event in the last ``Freshness.window`` seconds over the current
upstream connection is left as the events say. A reconciliation requested at (re)subscription
waits ``settle`` seconds first, so that a looping instance has had the chance to show it.

A read that races an event is dropped: if an event for the instance was queued while the
read was in flight (``StatusWriter.generation`` moved), the event is newer than the read. The
row is compared only after the writes already queued for the instance have landed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from relay.errors import DatabaseUnavailable, RelayError, UpstreamInstanceNotFound
from relay.evolution.client import EvolutionClient
from relay.metrics import Metrics
from relay.store import Instance, QrCode, StatusIntent, Store
from relay.store.writer import StatusWriter

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, Any], str], asyncio.Task[Any]]
# (live connectionState or None for a 404, the stored row, the QR Evolution shows now when
# connecting and the row has none) -> the correction, or None
StateRule = Callable[[str | None, Instance, QrCode | None], StatusIntent | None]


class Reconciler:
    def __init__(
        self,
        evolution: EvolutionClient,
        store: Store,
        writer: StatusWriter,
        *,
        rule: StateRule,
        recent: Callable[[str], bool],
        names: Callable[[], list[str]],
        spawn: Spawn,
        metrics: Metrics,
        concurrency: int = 16,
        settle: float = 1.0,
    ) -> None:
        self._evolution = evolution
        self._store = store
        self._writer = writer
        self._rule = rule
        self._recent = recent
        self._names = names
        self._spawn = spawn
        self._settle = settle
        self._outcomes = {
            outcome: metrics.reconciliations.labels(outcome)
            for outcome in ("live", "failed", "stale", "unchanged", "corrected")
        }
        self._limit = asyncio.Semaphore(concurrency)
        self._queued: set[str] = set()

    def request(self, name: str) -> None:
        """Reconcile ``name`` soon; a request already waiting for its turn covers this one."""
        if name in self._queued:
            return
        self._queued.add(name)
        self._spawn(self._queued_one(name), f"reconcile-{name}")

    def request_all(self) -> None:
        for name in self._names():
            self.request(name)

    async def reconcile_all(self) -> int:
        """Reconcile every recorded instance now; returns how many were corrected."""
        results = await asyncio.gather(*(self.reconcile(name) for name in self._names()))
        return sum(results)

    async def run_periodic(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            corrected = await self.reconcile_all()
            log.info("periodic reconciliation corrected %d instance(s)", corrected)

    async def _queued_one(self, name: str) -> None:
        await asyncio.sleep(self._settle)
        async with self._limit:
            self._queued.discard(name)
            await self._reconcile(name)

    async def _current_qr(self, name: str) -> QrCode | None:
        """The QR a ``connecting`` instance shows now. ``connect`` on a connecting instance
        only reads it (docs/upstream.md §3.2): its first ``qrcode.updated`` may have gone out
        before the relay could hear it (after an Evolution restart, always), and the next one
        comes 60 s later."""
        try:
            found = await self._evolution.connect(name)
        except RelayError as exc:
            log.info("QR of instance %s unknown: %s", name, exc.message)
            return None
        if found.code is None and found.base64 is None:
            return None
        return QrCode(base64=found.base64, code=found.code, pairingCode=found.pairing_code)

    async def reconcile(self, name: str) -> bool:
        async with self._limit:
            return await self._reconcile(name)

    async def _reconcile(self, name: str) -> bool:
        outcome = await self._decide(name)
        self._outcomes[outcome].inc()
        return outcome == "corrected"

    async def _decide(self, name: str) -> str:
        if self._recent(name):
            return "live"  # the event stream spoke recently: it is the truth
        generation = self._writer.generation(name)
        try:
            state: str | None = (await self._evolution.connection_state(name)).state
        except UpstreamInstanceNotFound:
            state = None
        except RelayError as exc:
            log.warning("cannot reconcile instance %s: %s", name, exc.message)
            return "failed"
        # Compare with the row only once the writes queued for it have landed.
        await self._writer.settled(name)
        try:
            current = self._writer.row(name) or await self._store.get_instance(name)
        except DatabaseUnavailable:
            log.warning("cannot reconcile instance %s: database unavailable", name)
            return "failed"
        if current is None or self._writer.generation(name) != generation or self._recent(name):
            return "stale"  # deleted meanwhile, or an event newer than this read arrived
        qrcode = None
        if state == "connecting" and current.qrcode is None:
            qrcode = await self._current_qr(name)
        intent = self._rule(state, current, qrcode)
        if intent is None:
            return "unchanged"
        log.info(
            "reconciled instance %s (tenant %s): upstream %s, %s -> %s",
            name, current.tenant_id, state or "404", current.status, intent.status,
        )  # fmt: skip
        self._writer.submit(name, intent, from_event=False)
        return "corrected"
