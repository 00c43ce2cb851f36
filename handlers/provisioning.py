"""Bringing an instance under the relay: create it on Evolution, or adopt one already there.

Either way its websocket output must carry ``CONNECTION_UPDATE`` and ``QRCODE_UPDATED``, the
two events the relay keeps statuses from. A new instance gets them inline at create time; an
adopted one keeps its own config when it already delivers them, and has them merged in
otherwise. Only then is the row written, so a failure on Evolution leaves no row behind.
"""

from __future__ import annotations

import logging

from relay.evolution.models import UpstreamInstance
from relay.evolution.names import REQUIRED_EVENTS
from relay.store.models import Instance, Status

from .audit import Operation
from .context import Context

log = logging.getLogger(__name__)

# Evolution's connection state -> the panel's status (docs/live-events.md "Instance statuses").
_STATUS_OF_STATE = {"open": Status.WORKING, "connecting": Status.STARTING}


async def create_or_adopt(
    ctx: Context, op: Operation, tenant: str, name: str
) -> tuple[Instance, bool]:
    found = await ctx.evolution.fetch_instances(name)
    if found:
        return await _adopt(ctx, op, tenant, found[0]), True
    return await _create(ctx, op, tenant, name), False


async def _create(ctx: Context, op: Operation, tenant: str, name: str) -> Instance:
    events = list(REQUIRED_EVENTS)
    created = await ctx.evolution.create(name, events=events)
    op.upstream_status = created.upstream_status
    log.info("instance %s created on evolution for tenant %s", name, tenant)
    return await ctx.store.create_instance(
        tenant, name, status=Status.STOPPED, reason="api:create",
        websocket_enabled=True, websocket_events=events,
    )  # fmt: skip


def _delivers_required(row: UpstreamInstance) -> bool:
    events = row.websocket_events
    if not row.websocket_enabled or events is None:
        return False
    return not events or all(event in events for event in REQUIRED_EVENTS)  # [] means all


async def _adopt(ctx: Context, op: Operation, tenant: str, row: UpstreamInstance) -> Instance:
    name = row.name
    op.upstream_status = row.upstream_status
    op.detail["adopted"] = True
    enabled, events = bool(row.websocket_enabled), list(row.websocket_events or [])
    if not _delivers_required(row):
        wanted = list(dict.fromkeys([*events, *REQUIRED_EVENTS]))
        config = await ctx.evolution.set_websocket(name, True, wanted)
        op.upstream_status = config.upstream_status
        enabled, events = config.enabled, list(config.events)
        log.info("adopted instance %s (tenant %s): websocket events merged", name, tenant)
    status = _STATUS_OF_STATE.get(row.connection_status or "", Status.STOPPED)
    instance = await ctx.store.create_instance(
        tenant, name, status=status, reason="api:adopt",
        websocket_enabled=enabled, websocket_events=events,
    )  # fmt: skip
    if row.owner_jid or row.profile_name:
        update = await ctx.store.update_status(
            name, status, "api:adopt", wuid=row.owner_jid, profile_name=row.profile_name
        )
        if update is not None:
            instance = update.instance
    log.info("instance %s adopted from evolution for tenant %s (state %s)", name, tenant,
             row.connection_status)  # fmt: skip
    return instance
