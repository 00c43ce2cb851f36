"""The live side as the rest of the relay sees it: :class:`Live`.

``Live`` wires the upstream subscription, the pipeline, the status writer and the reconciler,
and implements both faces of the live side:

- ``handlers.context.LiveEvents`` for the management handlers (``status_changed``,
  ``instance_added``, ``instance_updated``, ``instance_removed``);
- ``relay.pipeline.EventContext`` for the event handlers (``events_for``, ``submit_status``,
  ``publish``).

Data comes in from Evolution (:class:`relay.upstream.Subscription`) and leaves to the hub
(:class:`HubPort`, implemented by ``relay.hub.Hub``) and to Postgres (:class:`StatusWriter`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

from aiohttp import web

import handlers.events
import handlers.status
from relay.appkeys import EVOLUTION, HUB, LIVE, METRICS, READINESS, SETTINGS, STORE, TASKS
from relay.config import Settings
from relay.evolution.client import EvolutionClient
from relay.evolution.probe import Prober
from relay.metrics import Metrics
from relay.pipeline import (
    Event,
    Pipeline,
    Registry,
    StatusIntent,
    StatusWriter,
    TenantCache,
)
from relay.store import Instance, StatusChange, Store
from relay.tasks import Tasks
from relay.upstream import Reconciler, Subscription

log = logging.getLogger(__name__)

RECONCILE_CONCURRENCY = 16
DIAGNOSE_TIMEOUT = 5.0


class HubPort(Protocol):
    """What the live side needs of the hub (``relay.hub.Hub``)."""

    async def publish(
        self, tenant_id: str, instance_name: str, event: str, payload: dict[str, Any]
    ) -> int: ...

    async def status_changed(self, change: StatusChange) -> int: ...


class Live:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        evolution: EvolutionClient,
        hub: HubPort,
        metrics: Metrics,
        tasks: Tasks,
        *,
        first_retry_delay: float = 0.5,
    ) -> None:
        assert settings.evolution_url is not None and settings.evolution_apikey is not None
        self._settings = settings
        self._store = store
        self._hub = hub
        self._tasks = tasks
        self._metrics = metrics
        self.tenants = TenantCache()
        self.writer = StatusWriter(store, hub.status_changed, metrics)
        self.registry = Registry(self)
        handlers.status.register(self.registry)
        handlers.events.register(self.registry)
        self.pipeline = Pipeline(self.registry, self.tenants, metrics)
        self.upstream = Subscription(
            settings.evolution_url,
            settings.evolution_apikey.get_secret_value(),
            settings.evolution_events_mode,
            feed=self.pipeline.feed,
            on_subscribed=self._subscribed,
            spawn=tasks.spawn,
            metrics=metrics,
            first_delay=first_retry_delay,
            diagnose=self._diagnose,
        )
        self.reconciler = Reconciler(
            evolution, store, self.writer, self.tenants.names, tasks.spawn,
            concurrency=RECONCILE_CONCURRENCY,
        )  # fmt: skip

    async def start(self) -> None:
        """Load the inventory, then connect and follow every recorded instance."""
        self.tenants.load(await self._store.list_instances())
        for name in self.tenants.names():
            self.upstream.subscribe(name)
        self._tasks.spawn(self.writer.run(), "status-writer")
        self._tasks.spawn(self.upstream.run(), "upstream-subscription")
        self._tasks.spawn(
            self.reconciler.run_periodic(self._settings.reconcile_interval), "reconcile-periodic"
        )
        log.info(
            "live side started: %d instances, %s mode",
            len(self.tenants), self._settings.evolution_events_mode,
        )  # fmt: skip

    async def close(self) -> None:
        await self.upstream.close()

    async def ready(self) -> bool:
        return self.upstream.connected

    async def _diagnose(self) -> str:
        """Why the Socket.IO connection to Evolution failed (the subscription logs it)."""
        settings = self._settings
        assert settings.evolution_url is not None and settings.evolution_apikey is not None
        timeout = min(DIAGNOSE_TIMEOUT, settings.evolution_timeout)
        async with Prober(settings.evolution_url, settings.evolution_apikey, timeout,
                          observe=self._metrics.observe_upstream_call) as prober:  # fmt: skip
            found = await prober.diagnose()
        if found.ok:
            return (
                "the Socket.IO connection fails although Evolution answers its API and "
                "handshake: check that a proxy in between passes websockets"
            )
        return found.detail

    def _subscribed(self, name: str | None) -> None:
        if name is None:
            self.reconciler.request_all()
        elif name in self.tenants:
            self.reconciler.request(name)

    # -- LiveEvents (management side) ---------------------------------------------------------

    async def status_changed(self, change: StatusChange) -> None:
        try:
            await self._hub.status_changed(change)
        except Exception:
            # LiveEvents never raise: the management call already succeeded.
            log.exception(
                "broadcasting status of instance %s (tenant %s) failed",
                change.instance_name, change.tenant_id,
            )  # fmt: skip

    async def instance_added(self, instance: Instance) -> None:
        self.tenants.put(instance)
        self.upstream.subscribe(instance.name)
        self.reconciler.request(instance.name)

    async def instance_updated(self, instance: Instance) -> None:
        self.tenants.put(instance)

    async def instance_removed(self, instance: Instance) -> None:
        self.tenants.remove(instance.name)
        self.writer.forget(instance.name)
        self.upstream.unsubscribe(instance.name)

    # -- EventContext (event handlers) --------------------------------------------------------

    def events_for(self, instance: str) -> frozenset[str]:
        return self.tenants.events_for(instance)

    def submit_status(self, instance: str, intent: StatusIntent) -> None:
        self.writer.submit(instance, intent)

    async def publish(self, event: Event) -> None:
        await self._hub.publish(event.tenant_id, event.instance, event.name, event.payload)


async def upstream_ctx(app: web.Application) -> AsyncIterator[None]:
    """After ``hub_ctx``: follow Evolution, and be the app's ``LIVE`` from now on."""
    live = Live(app[SETTINGS], app[STORE], app[EVOLUTION], app[HUB], app[METRICS], app[TASKS])
    await live.start()
    app[LIVE] = live
    app[READINESS]["upstream"] = live.ready
    try:
        yield
    finally:
        await live.close()
