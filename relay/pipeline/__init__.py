"""From a raw Socket.IO event to handlers: parse once, strip ``apikey``, stamp, find the tenant.

Data arrives from :mod:`relay.upstream` (``Pipeline.feed``) and leaves to the handler modules
registered in a :class:`Registry` by the app factory (``handlers.status``, ``handlers.events``).
Handlers act through an :class:`EventContext`: status intents go to the status writer
(``relay.store.writer``), re-emitted events to the hub.
"""

from relay.pipeline.models import Envelope, Event, parse_envelope
from relay.pipeline.pipeline import Freshness, Pipeline, TenantCache
from relay.pipeline.registry import ANY, EventContext, Handler, Registry

__all__ = [
    "ANY",
    "Envelope",
    "Event",
    "EventContext",
    "Freshness",
    "Handler",
    "Pipeline",
    "Registry",
    "TenantCache",
    "parse_envelope",
]
