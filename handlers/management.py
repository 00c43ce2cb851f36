"""What each management call does: tenants, roles, providers, and both places agreeing.

Arrives from ``relay.api.routes`` (already authenticated, name and body already validated)
and leaves to the instance's Evolution server (``ctx.fleet.of(instance.server)``: its HTTP
client and its live side) and to Postgres (``ctx.store``). The access rules live in two
helpers only:

- :func:`visible_instance`: an instance of another tenant is exactly as missing as an unknown
  one (404), and is checked before any upstream call; a non-Evolution instance is a 422.
- :func:`managed_instance`: the same, for mutations, after the role check (USER: 403).

Evolution is called first and the database follows only on success, so when Evolution fails
the row is unchanged and the error (502/503/504) goes back to the caller. Statuses that a
call's reply implies are written through the live side's status writer, in order with the
events, and never over an event that arrived while the call was under way
(docs/live-events.md, "Instance statuses").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from relay.auth import Principal
from relay.errors import (
    Conflict,
    Forbidden,
    InstanceNotFound,
    UnsupportedProvider,
    UpstreamError,
    UpstreamInstanceNotFound,
    ValidationFailed,
)
from relay.evolution.models import ConnectResult, WebhookConfig, WebsocketConfig
from relay.evolution.names import REQUIRED_EVENTS
from relay.store.models import AuditEntry, Instance, QrCode, Status, StatusChange, StatusIntent

from .audit import Operation
from .context import Context, UpstreamPort
from .provisioning import create_or_adopt

log = logging.getLogger(__name__)

EVOLUTION_PROVIDER = "evolution"
HISTORY_SIZE = 20


# ---- access --------------------------------------------------------------------------------


def require_manager(principal: Principal) -> None:
    if not principal.can_manage:
        raise Forbidden()


def scoped_tenant(principal: Principal, requested: str | None) -> str | None:
    """The tenant a read is scoped to: a SUPERADMIN's choice (None: all), else the caller's."""
    if principal.is_superadmin:
        return requested
    if requested is not None and requested != principal.tenant:
        raise Forbidden()
    return principal.tenant


async def visible_instance(ctx: Context, principal: Principal, name: str) -> Instance:
    instance = await ctx.store.get_instance(name)
    if instance is None or not principal.sees(instance.tenant_id):
        raise InstanceNotFound()
    if instance.provider != EVOLUTION_PROVIDER:
        raise UnsupportedProvider()
    return instance


async def managed_instance(ctx: Context, op: Operation, name: str) -> Instance:
    op.instance_name = name
    require_manager(op.principal)
    instance = await visible_instance(ctx, op.principal, name)
    op.tenant_id = instance.tenant_id
    return instance


# ---- reads ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusReport:
    instance: Instance
    connection_state: str | None
    upstream_error: str | None
    history: list[StatusChange]


async def list_instances(
    ctx: Context, principal: Principal, tenant_id: str | None
) -> list[Instance]:
    return await ctx.store.list_instances(scoped_tenant(principal, tenant_id))


async def status(ctx: Context, principal: Principal, name: str) -> StatusReport:
    """The stored status, Evolution's live state (or why it is unknown), the last changes."""
    instance = await visible_instance(ctx, principal, name)
    state: str | None = None
    error: str | None = None
    try:
        state = (await ctx.fleet.of(instance.server).evolution.connection_state(name)).state
    except UpstreamError as exc:
        error = exc.code
        log.info("live state of instance %s (tenant %s) unknown: %s", name, instance.tenant_id,
                 exc.code)  # fmt: skip
    history = await ctx.store.status_history(name, HISTORY_SIZE)
    return StatusReport(instance, state, error, history)


async def find_websocket(ctx: Context, principal: Principal, name: str) -> WebsocketSetting | None:
    """The caller's setting (the relay's record) and Evolution's; None when Evolution has none."""
    instance = await visible_instance(ctx, principal, name)
    config = await ctx.fleet.of(instance.server).evolution.find_websocket(name)
    if config is None:
        return None
    return WebsocketSetting(instance.websocket_enabled, list(instance.websocket_events), config)


async def find_webhook(ctx: Context, principal: Principal, name: str) -> WebhookConfig | None:
    instance = await visible_instance(ctx, principal, name)
    return await ctx.fleet.of(instance.server).evolution.find_webhook(name)


@dataclass(frozen=True, slots=True)
class ServerReport:
    name: str
    url: str
    version: str | None
    state: str
    since: datetime
    instances: int
    capacity: int | None
    unowned: list[str] | None
    leader: str | None = None


async def servers(ctx: Context, principal: Principal) -> list[ServerReport]:
    """SUPERADMIN: every Evolution server, with what is recorded on it and what is adoptable."""
    if not principal.is_superadmin:
        raise Forbidden()
    counts = await ctx.store.count_by_server()
    recorded = {instance.name for instance in await ctx.store.list_instances()}
    upstreams = list(ctx.fleet)
    reports = await asyncio.gather(
        *(_server_report(up, counts.get(up.server.name, 0), recorded) for up in upstreams)
    )
    if ctx.settings.redis_url is None:
        return list(reports)
    leaders = await ctx.store.leaders()
    return [replace(r, leader=leaders.get(r.name)) for r in reports]


async def _server_report(up: UpstreamPort, count: int, recorded: set[str]) -> ServerReport:
    version: str | None = None
    unowned: list[str] | None = None
    try:
        version = (await up.evolution.server_info()).version
    except UpstreamError as exc:
        log.info("version of evolution server %s unknown: %s", up.server.name, exc.code)
    try:
        rows = await up.evolution.fetch_instances()
        unowned = sorted(row.name for row in rows if row.name not in recorded)
    except UpstreamError as exc:
        log.info("instances of evolution server %s unknown: %s", up.server.name, exc.code)
    state, since = up.live.upstream_state
    return ServerReport(
        name=up.server.name, url=up.evolution.base_url, version=version, state=state,
        since=since, instances=count, capacity=up.server.capacity, unowned=unowned,
    )  # fmt: skip


async def audit_log(
    ctx: Context, principal: Principal, tenant_id: str | None, name: str | None, limit: int
) -> list[AuditEntry]:
    return await ctx.store.list_audit(scoped_tenant(principal, tenant_id), name, limit)


# ---- mutations -----------------------------------------------------------------------------


async def create(
    ctx: Context, op: Operation, name: str, tenant_id: str | None, server: str | None = None
) -> tuple[Instance, bool]:
    """Create on Evolution, or adopt an instance already there; returns (row, adopted).

    ``server`` (a SUPERADMIN's choice) names the Evolution server; otherwise placement picks.
    """
    op.instance_name = name
    require_manager(op.principal)
    tenant = _owner_tenant(op.principal, tenant_id)
    op.tenant_id = tenant
    if server is not None:
        if not op.principal.is_superadmin:
            raise Forbidden()
        if server not in ctx.fleet.names():
            raise ValidationFailed(problems=[f"server: servidor desconhecido: {server}"])
    if await ctx.store.get_instance(name) is not None:
        raise Conflict()
    instance, adopted = await create_or_adopt(ctx, op, tenant, name, server)
    await ctx.fleet.of(instance.server).live.instance_added(instance)
    return instance, adopted


def _owner_tenant(principal: Principal, requested: str | None) -> str:
    if principal.is_superadmin:
        tenant = requested or principal.tenant
        if tenant is None:
            raise ValidationFailed(problems=["tenantId: obrigatório para um SUPERADMIN"])
        return tenant
    if requested is not None and requested != principal.tenant:
        raise Forbidden()
    assert principal.tenant is not None  # only a SUPERADMIN token may lack a tenant
    return principal.tenant


async def logout(ctx: Context, op: Operation, name: str) -> Instance:
    up = ctx.fleet.of((await managed_instance(ctx, op, name)).server)
    since = up.live.generation(name)
    result = await up.evolution.logout(name)
    op.upstream_status = result.upstream_status
    op.detail["alreadyLoggedOut"] = result.already_logged_out
    intent = StatusIntent(Status.STOPPED, "api:logout", clear_qrcode=True)
    return await _set_status(up, name, intent, since)


async def restart(ctx: Context, op: Operation, name: str) -> Instance:
    up = ctx.fleet.of((await managed_instance(ctx, op, name)).server)
    since = up.live.generation(name)
    up.live.connecting(name)
    result = await up.evolution.restart(name)
    op.upstream_status = result.upstream_status
    qrcode = _qr(result)
    intent = StatusIntent(
        Status.SCAN_QR_CODE, "api:restart", qrcode=qrcode, clear_qrcode=qrcode is None
    )
    return await _set_status(up, name, intent, since)


async def connect(
    ctx: Context, op: Operation, name: str, number: str | None
) -> tuple[Instance, bool]:
    """Start pairing; returns (row, already_open). An open instance is left as it is.

    A QR in Evolution's reply (it waits up to 2 s for the first one) is shown at once
    (SCAN_QR_CODE); without one the instance is STARTING until its events move it on.
    """
    instance = await managed_instance(ctx, op, name)
    up = ctx.fleet.of(instance.server)
    since = up.live.generation(name)
    up.live.connecting(name)
    result = await up.evolution.connect(name, number)
    op.upstream_status = result.upstream_status
    op.detail["pairingCode"] = number is not None
    if result.state == "open":
        op.detail["alreadyOpen"] = True
        return instance, True
    qrcode = _qr(result)
    if qrcode is not None:
        intent = StatusIntent(Status.SCAN_QR_CODE, "api:connect", qrcode=qrcode)
    else:
        intent = StatusIntent(Status.STARTING, "api:connect", clear_qrcode=True)
    return await _set_status(up, name, intent, since), False


async def delete(ctx: Context, op: Operation, name: str) -> None:
    """Delete on Evolution; the row goes only once Evolution confirmed, or said it is gone.

    Evolution emits ``instance.delete`` and ``remove.instance`` before it answers (and a looping
    instance may go on emitting): the live side is told first, so none of that turns it FAILED.
    """
    instance = await managed_instance(ctx, op, name)
    up = ctx.fleet.of(instance.server)
    up.live.deleting(name)
    try:
        op.upstream_status = (await up.evolution.delete(name)).upstream_status
    except UpstreamInstanceNotFound as exc:
        op.upstream_status = exc.upstream_status
        op.detail["alreadyGone"] = True
        log.info("instance %s (tenant %s) was already gone on evolution; deleting the row",
                 name, instance.tenant_id)  # fmt: skip
    except BaseException:
        up.live.delete_failed(name)
        raise
    await ctx.store.delete_instance(name)
    await up.live.instance_removed(instance)


def with_required(events: Sequence[str]) -> list[str]:
    """The requested events plus the two the relay needs, without duplicates, order kept."""
    return list(dict.fromkeys([*events, *REQUIRED_EVENTS]))


@dataclass(frozen=True, slots=True)
class WebsocketSetting:
    """The caller's websocket setting, and apart, what is in force on Evolution.

    With ``enabled: false`` Evolution still sends the two events statuses come from (the relay
    forwards nothing else of the instance to frontends), so both are shown.
    """

    enabled: bool
    events: list[str]
    evolution: WebsocketConfig


async def set_websocket(
    ctx: Context, op: Operation, name: str, enabled: bool, events: Sequence[str]
) -> WebsocketSetting:
    up = ctx.fleet.of((await managed_instance(ctx, op, name)).server)
    wanted = with_required(events)
    await up.evolution.validate_events(wanted)
    in_force = wanted if enabled else list(REQUIRED_EVENTS)
    config = await up.evolution.set_websocket(name, True, in_force)
    op.upstream_status = config.upstream_status
    op.detail.update(enabled=enabled, events=len(wanted))
    stored = await ctx.store.set_websocket(name, enabled, wanted)
    if stored is None:
        raise InstanceNotFound()  # deleted while Evolution answered
    await up.live.instance_updated(stored)
    return WebsocketSetting(enabled, wanted, config)


async def set_webhook(
    ctx: Context, op: Operation, name: str, config: WebhookConfig
) -> WebhookConfig:
    up = ctx.fleet.of((await managed_instance(ctx, op, name)).server)
    await up.evolution.validate_events(config.events)
    saved = await up.evolution.set_webhook(name, config)
    op.upstream_status = saved.upstream_status
    op.detail.update(enabled=saved.enabled, events=len(saved.events))
    return saved


# ---- helpers -------------------------------------------------------------------------------


def _qr(result: ConnectResult) -> QrCode | None:
    if result.code is None and result.base64 is None and result.pairing_code is None:
        return None
    return QrCode(base64=result.base64, code=result.code, pairingCode=result.pairing_code)


async def _set_status(up: UpstreamPort, name: str, intent: StatusIntent, since: int) -> Instance:
    """Record the status Evolution now agrees with, unless an event since ``since`` said more."""
    instance = await up.live.apply_status(name, intent, unless_after=since)
    if instance is None:
        raise InstanceNotFound()  # deleted while Evolution answered
    return instance
