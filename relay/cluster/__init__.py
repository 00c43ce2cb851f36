"""Several relay nodes as one cluster (``RELAY_REDIS_URL``): the bus carries the live events
(:mod:`relay.bus`), a Postgres lease per Evolution server decides which node follows it
(:mod:`relay.cluster.leadership`), and :mod:`relay.cluster.peers` applies what other nodes did.
``Cluster`` holds the three for the app and describes this node for ``/readyz``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from relay.bus import Bus
from relay.cluster.leadership import Leadership
from relay.cluster.peers import PeerEvents

__all__ = ["Cluster", "Leadership", "PeerEvents"]


class Cluster:
    def __init__(self, bus: Bus, leadership: Leadership) -> None:
        self.bus = bus
        self.leadership = leadership

    def describe(self) -> dict[str, Any]:
        """``/readyz``'s ``cluster``: this node, its bus, and the servers it follows."""
        return {
            "node": self.bus.node,
            "bus": "up" if self.bus.up else "down",
            "since": datetime.fromtimestamp(self.bus.since, UTC).isoformat(),
            "leading": sorted(self.leadership.leading),
        }
