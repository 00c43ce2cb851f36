"""The cluster bus (``RELAY_REDIS_URL``): live events numbered, kept and shared in Redis."""

from relay.bus.bus import Bus, BusUnavailable, Kept, Peers, Receiver

__all__ = ["Bus", "BusUnavailable", "Kept", "Peers", "Receiver"]
