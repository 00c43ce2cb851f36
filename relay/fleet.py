"""The fleet: every Evolution server the relay follows, each with its own machinery.

One :class:`Upstream` per server: its HTTP client (its own key) and its
:class:`relay.tracker.InstanceTracker` (its own Socket.IO subscription, reconciliation, health,
``upstream.status`` and metrics). A server that is down affects only its own instances.
:class:`Fleet` finds a server's upstream by name, and tells which server records an instance.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from relay.errors import UpstreamUnavailable
from relay.evolution.client import EvolutionClient
from relay.servers import EvolutionServer
from relay.tracker import InstanceTracker


@dataclass(frozen=True, slots=True)
class Upstream:
    server: EvolutionServer
    evolution: EvolutionClient
    live: InstanceTracker


class Fleet:
    def __init__(self) -> None:
        self._upstreams: dict[str, Upstream] = {}

    def add(self, upstream: Upstream) -> None:
        self._upstreams[upstream.server.name] = upstream

    def of(self, server: str) -> Upstream:
        """The server's upstream; 503 when the instance's server is not configured any more."""
        try:
            return self._upstreams[server]
        except KeyError:
            raise UpstreamUnavailable(
                f"O servidor Evolution {server!r} não está configurado neste relay"
            ) from None

    def __iter__(self) -> Iterator[Upstream]:
        return iter(self._upstreams.values())

    def __len__(self) -> int:
        return len(self._upstreams)

    def names(self) -> list[str]:
        return sorted(self._upstreams)

    def recorded_elsewhere(self, server: str, instance: str) -> bool:
        """Whether ``instance`` is followed on a server other than ``server`` (event routing)."""
        return any(
            name != server and instance in upstream.live.tenants
            for name, upstream in self._upstreams.items()
        )

    def states(self) -> list[dict[str, Any]]:
        """``[{server, state, since}]``: what ``/readyz`` and the snapshot report."""
        return [self._state(upstream) for upstream in self]

    @staticmethod
    def _state(upstream: Upstream) -> dict[str, Any]:
        state, since = upstream.live.upstream_state
        return {"server": upstream.server.name, "state": state, "since": _iso(since)}


def _iso(moment: datetime) -> str:
    return moment.isoformat()
