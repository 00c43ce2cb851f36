"""The one typed object handlers receive their collaborators through.

Handlers never import asyncpg, aiohttp's client or socketio: they talk to the store, the
Evolution client and the live side through this context. ``LiveEvents`` is implemented by the
hub and the upstream subscription (``relay.hub``, ``relay.upstream``); :class:`NoLiveEvents`
stands in where there is no live side (the ``migrate``/``check`` commands, some tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from relay.config import Settings
    from relay.evolution.client import EvolutionClient
    from relay.metrics import Metrics
    from relay.store import Instance, StatusChange, Store


class LiveEvents(Protocol):
    """What the management side tells the live side. Each call is cheap and never raises."""

    async def status_changed(self, change: StatusChange) -> None:
        """Broadcast ``instance.status`` to the instance's tenant."""

    async def instance_added(self, instance: Instance) -> None:
        """Start following the instance upstream, and map it to its tenant."""

    async def instance_updated(self, instance: Instance) -> None:
        """Its row changed (websocket events, QR): refresh what the live side caches."""

    async def instance_removed(self, instance: Instance) -> None:
        """Stop following it; later events for it (zombies) are ignored."""


class NoLiveEvents:
    async def status_changed(self, change: StatusChange) -> None:
        return None

    async def instance_added(self, instance: Instance) -> None:
        return None

    async def instance_updated(self, instance: Instance) -> None:
        return None

    async def instance_removed(self, instance: Instance) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    store: Store
    evolution: EvolutionClient
    live: LiveEvents
    metrics: Metrics
