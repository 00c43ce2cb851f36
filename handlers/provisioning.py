"""Bringing an instance under the relay: create it on Evolution, or adopt one already there.

Either way its websocket output must carry ``CONNECTION_UPDATE`` and ``QRCODE_UPDATED``, the
two events the relay keeps statuses from. A new instance gets them inline at create time; an
adopted one keeps its own config when it already delivers them, and has them merged in
otherwise. Only then is the row written, so a failure on Evolution leaves no row behind.

With a fleet, every server is asked whether it already holds the name (adoption finds it
wherever it is); a new instance goes to the server a SUPERADMIN named, or else to the one with
the most free capacity.
"""

from __future__ import annotations

import asyncio
import logging

from relay.errors import UpstreamError, ValidationFailed
from relay.evolution.models import UpstreamInstance
from relay.evolution.names import REQUIRED_EVENTS
from relay.servers import EvolutionServer
from relay.store.models import Instance, Status

from .audit import Operation
from .context import Context, UpstreamPort

log = logging.getLogger(__name__)

# Evolution's connection state -> the panel's status (docs/live-events.md "Instance statuses").
_STATUS_OF_STATE = {"open": Status.WORKING, "connecting": Status.STARTING}


async def create_or_adopt(
    ctx: Context, op: Operation, tenant: str, name: str, server: str | None
) -> tuple[Instance, bool]:
    """Adopt ``name`` from whichever server holds it, or create it where placement says (or
    on ``server``, a SUPERADMIN's choice). Returns (row, adopted)."""
    found = await _find_anywhere(ctx, name)
    if found is not None:
        upstream, row = found
        if server is not None and server != upstream.server.name:
            raise ValidationFailed(
                problems=[f"server: a instância já existe no servidor {upstream.server.name}"]
            )
        return await _adopt(ctx, op, tenant, upstream, row), True
    target = ctx.fleet.of(server) if server is not None else await _placed(ctx)
    op.detail["server"] = target.server.name
    return await _create(ctx, op, tenant, name, target), False


async def _find_anywhere(ctx: Context, name: str) -> tuple[UpstreamPort, UpstreamInstance] | None:
    """The server that already holds ``name``, asked of every server at once. A server that
    cannot answer is skipped (logged): it must not block creating elsewhere."""
    upstreams = list(ctx.fleet)
    answers = await asyncio.gather(
        *(upstream.evolution.fetch_instances(name) for upstream in upstreams),
        return_exceptions=True,
    )
    for upstream, answer in zip(upstreams, answers, strict=True):
        if isinstance(answer, UpstreamError):
            if len(upstreams) == 1:
                raise answer
            log.warning("evolution server %s did not say whether it holds %s: %s",
                        upstream.server.name, name, answer.code)  # fmt: skip
        elif isinstance(answer, BaseException):
            raise answer
        elif answer:
            return upstream, answer[0]
    return None


async def _placed(ctx: Context) -> UpstreamPort:
    """The server with the most free capacity (capacity minus instances recorded there);
    servers without a capacity come last; ties go to the first name."""
    counts = await ctx.store.count_by_server()
    return min(ctx.fleet, key=lambda upstream: placement_key(upstream.server, counts))


def placement_key(server: EvolutionServer, counts: dict[str, int]) -> tuple[int, int, str]:
    if server.capacity is None:
        return (1, 0, server.name)
    return (0, -(server.capacity - counts.get(server.name, 0)), server.name)


async def _create(
    ctx: Context, op: Operation, tenant: str, name: str, upstream: UpstreamPort
) -> Instance:
    events = list(REQUIRED_EVENTS)
    upstream.live.creating(name, tenant)
    try:
        created = await upstream.evolution.create(name, events=events)
        op.upstream_status = created.upstream_status
        log.info("instance %s created on evolution server %s for tenant %s", name,
                 upstream.server.name, tenant)  # fmt: skip
        return await ctx.store.create_instance(
            tenant, name, status=Status.STOPPED, reason="api:create",
            websocket_enabled=True, websocket_events=events, server=upstream.server.name,
        )  # fmt: skip
    except BaseException:
        upstream.live.create_failed(name)
        raise


def _delivers_required(row: UpstreamInstance) -> bool:
    events = row.websocket_events
    if not row.websocket_enabled or events is None:
        return False
    return not events or all(event in events for event in REQUIRED_EVENTS)  # [] means all


async def _adopt(
    ctx: Context, op: Operation, tenant: str, upstream: UpstreamPort, row: UpstreamInstance
) -> Instance:
    name = row.name
    op.upstream_status = row.upstream_status
    op.detail.update(adopted=True, server=upstream.server.name)
    enabled, events = bool(row.websocket_enabled), list(row.websocket_events or [])
    if not _delivers_required(row):
        wanted = list(dict.fromkeys([*events, *REQUIRED_EVENTS]))
        config = await upstream.evolution.set_websocket(name, True, wanted)
        op.upstream_status = config.upstream_status
        enabled, events = config.enabled, list(config.events)
        log.info("adopted instance %s (tenant %s): websocket events merged", name, tenant)
    status = _STATUS_OF_STATE.get(row.connection_status or "", Status.STOPPED)
    instance = await ctx.store.create_instance(
        tenant, name, status=status, reason="api:adopt",
        websocket_enabled=enabled, websocket_events=events, server=upstream.server.name,
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
