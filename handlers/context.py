"""The one typed object handlers receive their collaborators through.

Handlers never import asyncpg, aiohttp's client or socketio: they talk to the store and, for
each Evolution server of the fleet, to its HTTP client and its live side, through this context.
``FleetPort`` is implemented by ``relay.fleet.Fleet``, ``LiveEvents`` by
``relay.tracker.InstanceTracker``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from datetime import datetime

    from relay.config import Settings
    from relay.evolution.client import EvolutionClient
    from relay.metrics import Metrics
    from relay.servers import EvolutionServer
    from relay.store import Instance, StatusIntent, Store


class LiveEvents(Protocol):
    """What the management side tells the live side (``relay.tracker.InstanceTracker``).

    Apart from ``apply_status`` (which waits for the write), each call is cheap and never
    raises: the call on Evolution has already succeeded or failed by then.
    """

    def generation(self, name: str) -> int:
        """How many status events of the instance have arrived so far (see ``apply_status``)."""

    async def apply_status(
        self, name: str, intent: StatusIntent, *, unless_after: int | None
    ) -> Instance | None:
        """Write a status Evolution agreed to, in order with the events; an event newer than
        generation ``unless_after`` wins. Returns the row after it (None: no such row)."""

    def creating(self, name: str, tenant_id: str) -> None:
        """Evolution is about to create it: its events belong to ``tenant_id`` already."""

    def create_failed(self, name: str) -> None:
        """The create did not happen after all."""

    def connecting(self, name: str) -> None:
        """A connect or restart is under way: its first events (the first QR) must not be lost."""

    def deleting(self, name: str) -> None:
        """The relay is deleting it: what Evolution emits about it now never turns it FAILED."""

    def delete_failed(self, name: str) -> None:
        """The delete did not happen after all."""

    async def instance_added(self, instance: Instance) -> None:
        """Start following the instance upstream, and tell its tenant (``instance.added``)."""

    async def instance_updated(self, instance: Instance) -> None:
        """Its row changed (websocket events): refresh what the live side caches."""

    async def instance_removed(self, instance: Instance) -> None:
        """Stop following it, tell its tenant (``instance.removed``); later events are zombies."""

    @property
    def upstream_state(self) -> tuple[str, datetime]:
        """``("up" | "down", since)``: the Socket.IO connection to this server."""


class UpstreamPort(Protocol):
    """One Evolution server: its configuration, its HTTP client, its live side."""

    @property
    def server(self) -> EvolutionServer: ...

    @property
    def evolution(self) -> EvolutionClient: ...

    @property
    def live(self) -> LiveEvents: ...


class FleetPort(Protocol):
    """Every Evolution server the relay follows."""

    def of(self, server: str) -> UpstreamPort:
        """The server's upstream (503 ``UPSTREAM_UNAVAILABLE`` when it is not configured)."""

    def __iter__(self) -> Iterator[UpstreamPort]: ...

    def names(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    store: Store
    fleet: FleetPort
    metrics: Metrics
