"""``InstanceTracker``: follows every recorded instance on Evolution and keeps its status true.

It owns the live side's moving parts for one Evolution server and wires them in one direction:

    Subscription ─▶ Pipeline ─▶ handlers ─▶ StatusWriter ─▶ Postgres
                                    │              └──▶ hub (instance.status)
                                    └──▶ hub (re-emitted events)
    Reconciler (connectionState) ─────▶ StatusWriter

and it is the one object the two kinds of handlers talk to:

- the management handlers, through ``handlers.context.LiveEvents`` (an instance is being
  created, connected or deleted; a status Evolution agreed to; an instance added or removed);
- the event handlers, through ``relay.pipeline.EventContext`` (``events_for``,
  ``submit_status``, ``instance_gone``, ``publish``).

The business rules are injected by the app factory (the handler registrations and the
reconciliation rule), so nothing here imports ``handlers``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from relay.evolution.client import EvolutionClient
from relay.evolution.probe import Prober
from relay.metrics import Metrics
from relay.pipeline import Event, Freshness, Pipeline, Registry, TenantCache
from relay.servers import DEFAULT_SERVER, EvolutionServer
from relay.store import Instance, StatusChange, StatusIntent, Store
from relay.store.writer import StatusWriter
from relay.tasks import Tasks
from relay.upstream import Reconciler, Subscription
from relay.upstream.reconcile import StateRule

log = logging.getLogger(__name__)

RECONCILE_CONCURRENCY = 16
DIAGNOSE_TIMEOUT = 5.0
REMOVED_BY_API = "api:delete"


class HubPort(Protocol):
    """What the tracker needs of the hub (``relay.hub.Hub``)."""

    async def publish(
        self, tenant_id: str, instance_name: str, event: str, payload: dict[str, Any]
    ) -> int: ...

    async def status_changed(self, change: StatusChange) -> int: ...

    async def instance_added(self, instance: Instance) -> int: ...

    async def instance_removed(self, instance: Instance, reason: str) -> int: ...

    def upstream_status(self, server: str, state: str, since: datetime) -> None: ...


class InstanceTracker:
    def __init__(
        self,
        server: EvolutionServer,
        store: Store,
        evolution: EvolutionClient,
        hub: HubPort,
        metrics: Metrics,
        tasks: Tasks,
        *,
        registrations: Sequence[Callable[[Registry], None]],
        state_rule: StateRule,
        reconcile_interval: float,
        elsewhere: Callable[[str], bool] | None = None,
        first_retry_delay: float = 0.25,
        settle: float = 1.0,
        fast_upstream: bool = True,
    ) -> None:
        """``fast_upstream``: the multiplexed upstream socket may be used (``relay.internals``)."""
        self.server = server
        self._evolution = evolution
        self._store = store
        self._hub = hub
        self._tasks = tasks
        self._metrics = metrics
        self._reconcile_interval = reconcile_interval
        self._deleting: set[str] = set()
        self.upstream_state: tuple[str, datetime] = ("down", datetime.now(UTC))
        self.tenants = TenantCache()
        self.freshness = Freshness()
        self.writer = StatusWriter(store, hub.status_changed, metrics, on_removed=self._removed)
        self.registry = Registry(self)
        for register in registrations:
            register(self.registry)
        self.pipeline = Pipeline(
            self.registry, self.tenants, self.freshness, metrics, elsewhere=elsewhere
        )
        self.upstream = Subscription(
            server.url,
            server.apikey.get_secret_value(),
            server.events_mode,
            feed=self.pipeline.feed,
            on_subscribed=self._subscribed,
            on_state=self._upstream_state,
            spawn=tasks.spawn,
            namespaces=metrics.upstream_namespaces.labels(server.name),
            first_delay=first_retry_delay,
            diagnose=self._diagnose,
            fast=fast_upstream,
        )
        self.reconciler = Reconciler(
            evolution, store, self.writer, rule=state_rule, recent=self.freshness.recent,
            names=self.tenants.names, spawn=tasks.spawn, metrics=metrics,
            concurrency=RECONCILE_CONCURRENCY, settle=settle,
        )  # fmt: skip

    async def start(self) -> None:
        """Load the inventory, then connect and follow every recorded instance."""
        instances = await self._store.list_instances(server=self.server.name)
        self.tenants.load(instances)
        self.writer.known(instances)
        for name in self.tenants.names():
            self.upstream.subscribe(name)
        self._upstream_state(up=False)  # until the first connection says otherwise
        name = self.server.name
        self._tasks.supervise(self.writer.run, f"status-writer[{name}]")
        self._tasks.supervise(self.upstream.run, f"upstream-subscription[{name}]")
        self._tasks.supervise(
            lambda: self.reconciler.run_periodic(self._reconcile_interval),
            f"reconcile-periodic[{name}]",
        )
        log.info(
            "following %d instances on evolution server %s (%s mode)",
            len(self.tenants), self.server.name, self.server.events_mode,
        )  # fmt: skip

    async def close(self) -> None:
        await self.upstream.close()

    async def ready(self) -> bool:
        return self.upstream.connected

    async def _diagnose(self) -> str:
        """Why the Socket.IO connection to this server failed (the subscription logs it)."""
        server = self.server
        async with Prober(server.url, server.apikey, min(DIAGNOSE_TIMEOUT, server.timeout),
                          observe=self._metrics.observe_upstream_call) as prober:  # fmt: skip
            found = await prober.diagnose()
        prefix = "" if server.name == DEFAULT_SERVER else f"server {server.name}: "
        if found.ok:
            return (
                f"{prefix}the Socket.IO connection fails although Evolution answers its API "
                "and handshake: check that a proxy in between passes websockets"
            )
        return prefix + found.detail

    def _subscribed(self, name: str | None) -> None:
        if name is None:
            self.freshness.reset()  # events from before this connection do not count
            self._evolution.forget_server_info()  # it may have been upgraded meanwhile
            self.reconciler.request_all()
        elif name in self.tenants:
            self.reconciler.request(name)

    def _upstream_state(self, up: bool) -> None:
        self._metrics.upstream_up.labels(self.server.name).set(1 if up else 0)
        state = "up" if up else "down"
        log.debug("evolution server %s is %s", self.server.name, state)
        self.upstream_state = (state, datetime.now(UTC))
        self._hub.upstream_status(self.server.name, *self.upstream_state)

    async def _removed(self, instance: Instance, reason: str) -> None:
        """The writer deleted the row (Evolution removed the instance by itself)."""
        self._forget(instance.name)
        await self._hub.instance_removed(instance, reason)

    def _forget(self, name: str) -> None:
        self.tenants.remove(name)
        self.writer.forget(name)
        self.freshness.forget(name)
        self.upstream.unsubscribe(name)
        self._deleting.discard(name)

    # -- LiveEvents (management side) ---------------------------------------------------------

    def generation(self, name: str) -> int:
        return self.writer.generation(name)

    async def apply_status(
        self, name: str, intent: StatusIntent, *, unless_after: int | None
    ) -> Instance | None:
        return await self.writer.apply(name, intent, unless_after=unless_after)

    def creating(self, name: str, tenant_id: str) -> None:
        self.tenants.expect(name, tenant_id)

    def create_failed(self, name: str) -> None:
        if self.writer.row(name) is None:
            self.tenants.remove(name)

    def connecting(self, name: str) -> None:
        self.upstream.hurry(name)

    def deleting(self, name: str) -> None:
        self._deleting.add(name)

    def delete_failed(self, name: str) -> None:
        self._deleting.discard(name)

    async def instance_added(self, instance: Instance) -> None:
        self.tenants.put(instance)
        self.writer.known([instance])
        self.upstream.subscribe(instance.name)
        self.reconciler.request(instance.name)
        await self._hub.instance_added(instance)

    async def instance_updated(self, instance: Instance) -> None:
        self.tenants.put(instance)
        self.writer.known([instance])

    async def instance_removed(self, instance: Instance) -> None:
        self._forget(instance.name)
        await self._hub.instance_removed(instance, REMOVED_BY_API)

    # -- EventContext (event handlers) --------------------------------------------------------

    def events_for(self, instance: str) -> frozenset[str]:
        return self.tenants.events_for(instance)

    def submit_status(self, instance: str, intent: StatusIntent) -> None:
        if instance in self._deleting:
            return  # the relay is deleting it: what Evolution says of it now is its end
        self.writer.submit(instance, intent)

    def instance_gone(self, instance: str, reason: str) -> None:
        if instance in self._deleting or self.writer.row(instance) is None:
            return
        self.writer.remove(instance, reason)

    async def publish(self, event: Event) -> None:
        await self._hub.publish(event.tenant_id, event.instance, event.name, event.payload)
