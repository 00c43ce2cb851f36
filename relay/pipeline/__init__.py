"""From a raw Socket.IO event to handlers: parse once, strip ``apikey``, stamp, find the tenant.

Data arrives from :mod:`relay.upstream` (``Pipeline.feed``) and leaves to the handler modules
registered in a :class:`Registry` (``handlers.status``, ``handlers.events``). Status writes go
through the :class:`StatusWriter` (per-instance order, coalesced QR floods).
"""

from relay.pipeline.models import Envelope, Event, StatusIntent, parse_envelope
from relay.pipeline.pipeline import Pipeline, TenantCache
from relay.pipeline.registry import EventContext, Handler, Registry
from relay.pipeline.writer import StatusWriter

__all__ = [
    "Envelope",
    "Event",
    "EventContext",
    "Handler",
    "Pipeline",
    "Registry",
    "StatusIntent",
    "StatusWriter",
    "TenantCache",
    "parse_envelope",
]
