"""Re-emitting Evolution's events to the instance's tenant (docs/live-events.md).

An event is re-emitted under its own dotted name when its config name (``messages.upsert`` →
``MESSAGES_UPSERT``, docs/upstream.md §4) is in the instance's configured websocket events.
``CONNECTION_UPDATE`` and ``QRCODE_UPDATED`` are always in that list. The payload is Evolution's
envelope without ``apikey``, with ``receivedAt`` (the hub adds ``seq``).
"""

from __future__ import annotations

from relay.evolution.names import config_name
from relay.pipeline import ANY, Event, EventContext, Registry


def wanted(event: Event, ctx: EventContext) -> bool:
    return config_name(event.name) in ctx.events_for(event.instance)


async def reemit(event: Event, ctx: EventContext) -> None:
    if wanted(event, ctx):
        await ctx.publish(event)


def register(registry: Registry) -> None:
    registry.on(ANY)(reemit)
