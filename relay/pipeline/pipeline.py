"""``Pipeline.feed``: the hot path from one raw upstream event to the registered handlers.

Per event: one parse (``apikey`` removed, ``receivedAt`` stamped), one tenant lookup in
:class:`TenantCache`, one timestamp in :class:`Freshness`, then the handlers. Nothing here
queries Postgres. A malformed envelope or an event of an unknown instance (a zombie after
delete, docs/upstream.md §3.5) is dropped and counted in ``relay_events_dropped{reason}``;
drops are logged at most once per ``log_every`` seconds. Nothing raises into
python-socketio's read loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Final

from prometheus_client import Counter
from pydantic import ValidationError

from relay.evolution.names import EVENTS_2_3, REQUIRED_EVENTS, config_name
from relay.metrics import Metrics
from relay.pipeline.models import Event, parse_envelope
from relay.pipeline.registry import Registry
from relay.store.models import Instance

log = logging.getLogger(__name__)

ALL_EVENTS: Final = frozenset(EVENTS_2_3)
# Emitted by Evolution but matching no config name (docs/upstream.md §4); labelled, not "other".
_KNOWN_CONFIG_NAMES: Final = ALL_EVENTS | {"GROUPS_UPDATE"}


def effective_events(instance: Instance) -> frozenset[str]:
    """The config names re-emitted for ``instance``: its websocket list plus the two required.

    An enabled config with an empty list means all 31 names, as Evolution stores it (§4).
    """
    if not instance.websocket_enabled:
        return frozenset(REQUIRED_EVENTS)
    if not instance.websocket_events:
        return ALL_EVENTS
    return frozenset(instance.websocket_events) | frozenset(REQUIRED_EVENTS)


class TenantCache:
    """instance name → tenant, and → its effective events. Updated on every inventory change.

    An instance the relay is creating is known *provisionally* from before the create call
    (:meth:`expect`), so the events Evolution emits while it creates it (``instance.create``,
    which may arrive before the reply) reach its tenant instead of being dropped as unknown.
    """

    def __init__(self) -> None:
        self._tenants: dict[str, str] = {}
        self._events: dict[str, frozenset[str]] = {}

    def expect(self, name: str, tenant_id: str) -> None:
        if name not in self._tenants:
            self._tenants[name] = tenant_id
            self._events[name] = _CREATING_EVENTS

    def load(self, instances: Iterable[Instance]) -> None:
        self._tenants.clear()
        self._events.clear()
        for instance in instances:
            self.put(instance)

    def put(self, instance: Instance) -> None:
        self._tenants[instance.name] = instance.tenant_id
        self._events[instance.name] = effective_events(instance)

    def remove(self, name: str) -> None:
        self._tenants.pop(name, None)
        self._events.pop(name, None)

    def tenant(self, name: str) -> str | None:
        return self._tenants.get(name)

    def events_for(self, name: str) -> frozenset[str]:
        return self._events.get(name, frozenset(REQUIRED_EVENTS))

    def names(self) -> list[str]:
        return list(self._tenants)

    def __contains__(self, name: object) -> bool:
        return name in self._tenants

    def __len__(self) -> int:
        return len(self._tenants)


_CREATING_EVENTS: Final = frozenset({*REQUIRED_EVENTS, "INSTANCE_CREATE"})


class Freshness:
    """When a live event about each instance last arrived over the current upstream connection.

    A reconciliation must not correct a status that the event stream asserted recently
    (docs/live-events.md, "Instance statuses"): during Baileys' reconnect loop the read API
    says ``close`` while the events say ``connecting``. :meth:`reset` forgets everything at
    each upstream (re)connection, since events from before it do not count.
    """

    __slots__ = ("_seen", "window")

    def __init__(self, window: float = 30.0) -> None:
        self.window = window
        self._seen: dict[str, float] = {}

    def saw(self, name: str) -> None:
        self._seen[name] = time.monotonic()

    def recent(self, name: str) -> bool:
        seen = self._seen.get(name)
        return seen is not None and time.monotonic() - seen < self.window

    def reset(self) -> None:
        self._seen.clear()

    def forget(self, name: str) -> None:
        self._seen.pop(name, None)


class DropLog:
    """Counts drops by reason; writes one line per ``every`` seconds at most, with the counts."""

    def __init__(self, metrics: Metrics, every: float = 10.0) -> None:
        self._metrics = metrics
        self._every = every
        self._next_line = 0.0
        self._pending: dict[str, int] = {}

    def drop(self, reason: str, detail: str) -> None:
        self._metrics.events_dropped.labels(reason).inc()
        self._pending[reason] = self._pending.get(reason, 0) + 1
        now = time.monotonic()
        if now < self._next_line:
            return
        self._next_line = now + self._every
        counts = ", ".join(f"{r}={n}" for r, n in sorted(self._pending.items()))
        self._pending.clear()
        log.warning("dropped upstream events (%s); latest: %s", counts, detail)


class Pipeline:
    def __init__(
        self,
        registry: Registry,
        tenants: TenantCache,
        freshness: Freshness,
        metrics: Metrics,
        *,
        elsewhere: Callable[[str], bool] | None = None,
    ) -> None:
        self._registry = registry
        self._elsewhere = elsewhere  # recorded on another Evolution server of the fleet
        self._tenants = tenants
        self._freshness = freshness
        self._metrics = metrics
        self._drops = DropLog(metrics)
        self._received: dict[str, Counter] = {}  # event name -> its labelled child

    async def feed(self, event_name: str, raw: Any) -> Event | None:
        """Handle one upstream event; returns the accepted event, or None when dropped."""
        try:
            envelope, payload = parse_envelope(raw)
        except ValueError as exc:
            self._drops.drop("malformed", f"{event_name!r}: {_first_line(exc)}")
            return None
        if envelope.event != event_name:
            self._drops.drop("malformed", f"{event_name!r} carries event {envelope.event!r}")
            return None
        tenant = self._tenants.tenant(envelope.instance)
        if tenant is None:
            reason = "unknown_instance"
            if self._elsewhere is not None and self._elsewhere(envelope.instance):
                reason = "other_server"  # an event from X about an instance recorded on Y
            self._drops.drop(reason, f"{event_name} of instance {envelope.instance}")
            return None
        self._received_counter(event_name).inc()
        self._freshness.saw(envelope.instance)
        event = Event(event_name, envelope.instance, tenant, envelope.data, payload)
        await self._registry.dispatch(event)
        return event

    def _received_counter(self, name: str) -> Counter:
        """The ``relay_events_received`` child of an event name; ``labels()`` is slow per event."""
        counter = self._received.get(name)
        if counter is None:
            label = name if config_name(name) in _KNOWN_CONFIG_NAMES else "other"
            counter = self._metrics.events_received.labels(label)
            if len(self._received) < 256:  # names come from upstream: bound them
                self._received[name] = counter
        return counter


def _first_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "envelope"
        return f"{where}: {first['msg']} ({exc.error_count()} problem(s))"
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
