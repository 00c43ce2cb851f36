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

In a cluster (``clustered``), a tracker follows its server only while this node holds the
server's lease (``lead`` / ``step_down``, called by ``relay.cluster.Leadership``): the
subscription and the reconciliation run on one node at a time, and its writes from events are
fenced with the lease's term. Every node still keeps the inventory, serves management calls
(their writes are not fenced) and tells the leader what it is doing through ``signal``
(``connecting``, ``deleting``); what other nodes did reaches it as ``peer_*`` calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from relay.evolution.client import EvolutionClient
from relay.evolution.probe import Prober
from relay.metrics import Metrics
from relay.pipeline import Event, Freshness, Pipeline, Registry, TenantCache
from relay.servers import DEFAULT_SERVER, EvolutionServer
from relay.store import Instance, Status, StatusChange, StatusIntent, Store
from relay.store.writer import StatusWriter
from relay.tasks import Tasks
from relay.upstream import Reconciler, Subscription
from relay.upstream.reconcile import StateRule

log = logging.getLogger(__name__)

RECONCILE_CONCURRENCY = 16
DIAGNOSE_TIMEOUT = 5.0
REMOVED_BY_API = "api:delete"
STARTING = frozenset({Status.STARTING.value, Status.SCAN_QR_CODE.value})

Signal = Callable[[str, str], None]  # (op, instance): to the other nodes of a cluster


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
        signal: Signal | None = None,
    ) -> None:
        """``fast_upstream``: the multiplexed upstream socket may be used (``relay.internals``).
        ``signal``: this node is one of a cluster's (see the module's docstring)."""
        self.server = server
        self.clustered = signal is not None
        self._signal = signal
        self.term: int | None = None  # the lease's term while this node leads (cluster)
        self._following: list[asyncio.Task[object]] = []
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
        self._first_retry_delay = first_retry_delay
        self._fast_upstream = fast_upstream
        self.writer = StatusWriter(
            store, hub.status_changed, metrics, on_removed=self._removed,
            fence=(lambda: self.term) if self.clustered else None,
        )  # fmt: skip
        self.registry = Registry(self)
        for register in registrations:
            register(self.registry)
        self.pipeline = Pipeline(
            self.registry, self.tenants, self.freshness, metrics, elsewhere=elsewhere
        )
        self.upstream = self._subscription()
        self.reconciler = Reconciler(
            evolution, store, self.writer, rule=state_rule, recent=self.freshness.recent,
            names=self.tenants.names, spawn=tasks.spawn, metrics=metrics,
            concurrency=RECONCILE_CONCURRENCY, settle=settle,
        )  # fmt: skip

    def _subscription(self) -> Subscription:
        server = self.server
        return Subscription(
            server.url,
            server.apikey.get_secret_value(),
            server.events_mode,
            feed=self.pipeline.feed,
            on_subscribed=self._subscribed,
            on_state=self._upstream_state,
            spawn=self._tasks.spawn,
            namespaces=self._metrics.upstream_namespaces.labels(server.name),
            first_delay=self._first_retry_delay,
            diagnose=self._diagnose,
            fast=self._fast_upstream,
        )

    @property
    def leading(self) -> bool:
        """Whether this node follows the server (always, outside a cluster)."""
        return not self.clustered or self.term is not None

    async def start(self) -> None:
        """Load the inventory; then (outside a cluster) connect and follow every instance."""
        await self._load()
        self._tasks.supervise(self.writer.run, f"status-writer[{self.server.name}]")
        if self.clustered:
            self.upstream.tried.set()  # nothing to try until this node leads
            return
        self._follow()

    async def _load(self) -> None:
        instances = await self._store.list_instances(server=self.server.name)
        self.tenants.load(instances)
        self.writer.known(instances)

    def _follow(self) -> None:
        for name in self.tenants.names():
            self.upstream.subscribe(name)
        self._upstream_state(up=False)  # until the first connection says otherwise
        name = self.server.name
        self._following = [
            self._tasks.supervise(self.upstream.run, f"upstream-subscription[{name}]"),
            self._tasks.supervise(
                lambda: self.reconciler.run_periodic(self._reconcile_interval),
                f"reconcile-periodic[{name}]",
            ),
        ]
        log.info(
            "following %d instances on evolution server %s (%s mode)",
            len(self.tenants), self.server.name, self.server.events_mode,
        )  # fmt: skip

    async def lead(self, term: int) -> None:
        """Cluster: this node took the server's lease. Read the inventory afresh (other nodes
        changed it), follow every instance, and reconcile them all once subscribed."""
        await self._load()
        self.term = term
        self.freshness.reset()
        self.upstream = self._subscription()
        self._follow()

    async def step_down(self) -> None:
        """Cluster: the lease is gone (or handed over): stop following, write nothing more."""
        self.term = None
        following, self._following = self._following, []
        for task in following:
            task.cancel()
        await asyncio.gather(*following, return_exceptions=True)
        await self.upstream.close()
        self._metrics.upstream_namespaces.labels(self.server.name).set(0)
        log.info("no longer following evolution server %s", self.server.name)

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
        if not self.leading:
            return
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
        self._tell("connecting", name)
        self.upstream.hurry(name)

    def deleting(self, name: str) -> None:
        self._tell("deleting", name)
        self._deleting.add(name)

    def delete_failed(self, name: str) -> None:
        self._tell("delete_failed", name)
        self._deleting.discard(name)

    def _tell(self, op: str, name: str) -> None:
        if self._signal is not None:
            self._signal(op, name)

    async def instance_added(self, instance: Instance) -> None:
        self._know(instance)
        await self._hub.instance_added(instance)

    def _know(self, instance: Instance) -> None:
        self.tenants.put(instance)
        self.writer.known([instance])
        if self.leading:
            self.upstream.subscribe(instance.name)
            self.reconciler.request(instance.name)

    async def instance_updated(self, instance: Instance) -> None:
        self._tell("updated", instance.name)
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

    # -- what other nodes of the cluster did (relay.cluster.peers) ------------------------------

    def peer_signal(self, op: str, name: str) -> None:
        if op == "connecting":
            self.upstream.hurry(name)
        elif op == "deleting":
            self._deleting.add(name)
        elif op == "delete_failed":
            self._deleting.discard(name)
        elif op == "updated":  # its websocket events changed: forward what it asks for now
            self._tasks.spawn(self.peer_added(name), f"peer-updated-{name}")

    async def peer_added(self, name: str) -> None:
        """Another node created, adopted or reconfigured ``name`` on this server."""
        instance = await self._store.get_instance(name)
        if instance is not None and instance.server == self.server.name:
            self._know(instance)

    def peer_removed(self, name: str) -> None:
        if name in self.tenants:
            self._forget(name)

    def peer_status(self, name: str, status: str) -> None:
        """Another node wrote ``name``'s status (a management call)."""
        if name not in self.tenants:
            return
        self.writer.invalidate(name)
        if status in STARTING and self.leading:
            self.upstream.hurry(name)
