"""The management routes (docs/api.md): one thin function per route, and the route table.

Each route validates its name (before any I/O), body and query with :mod:`relay.api.schemas`,
calls :mod:`handlers.management`, and renders the answer through a response model. The same
table registers the routes and generates ``/api/openapi.json``. ``{name}`` is matched as
anything so that ``../x``, ``%2e%2e`` or an empty name reach the validator (400), not the
router (404).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Final

from aiohttp import web

from handlers import management
from handlers.audit import Operation
from handlers.context import Context
from relay.api import cors
from relay.api.http import RouteHandler, body, context, mutation, path_name, query, reply
from relay.api.openapi import Endpoint, build_spec
from relay.api.schemas import (
    AuditEntryOut,
    AuditQuery,
    AuditResponse,
    ConnectRequest,
    CreateInstanceRequest,
    CreateInstanceResponse,
    DeleteResponse,
    HealthResponse,
    InstanceOut,
    InstanceResponse,
    InstancesQuery,
    InstancesResponse,
    ReadyResponse,
    ServerOut,
    ServersResponse,
    StatusChangeOut,
    StatusResponse,
    WebhookOut,
    WebhookResponse,
    WebhookSetRequest,
    WebhookSetResponse,
    WebsocketOut,
    WebsocketResponse,
    WebsocketSetRequest,
    WebsocketSetResponse,
    WebsocketSettingOut,
)
from relay.api.webhooks import check_webhook_url
from relay.appkeys import PRINCIPAL, SETTINGS
from relay.evolution.models import WebhookConfig

BASE: Final = "/api/instance-management"

MSG_LOGOUT: Final = "Logout realizado com sucesso"
MSG_DELETE: Final = "Instância deletada com sucesso"
MSG_RESTART: Final = "Instância reiniciada com sucesso"
MSG_WEBSOCKET: Final = "WebSocket configurado com sucesso"
MSG_WEBHOOK: Final = "Webhook configurado com sucesso"
MSG_CREATED: Final = "Instância criada com sucesso"
MSG_ADOPTED: Final = "Instância existente adotada com sucesso"
MSG_CONNECT: Final = "Conexão iniciada com sucesso"
MSG_ALREADY_OPEN: Final = "A instância já está conectada"


def _webhook_out(config: WebhookConfig) -> WebhookOut:
    return WebhookOut(
        enabled=config.enabled, url=config.url, events=list(config.events),
        headerNames=sorted(config.headers), byEvents=config.by_events, base64=config.base64,
    )  # fmt: skip


def _websocket_out(setting: management.WebsocketSetting) -> WebsocketSettingOut:
    evolution = WebsocketOut(enabled=setting.evolution.enabled,
                             events=list(setting.evolution.events))  # fmt: skip
    return WebsocketSettingOut(enabled=setting.enabled, events=setting.events, evolution=evolution)


# ---- mutations (audited) -------------------------------------------------------------------


@mutation("logout")
async def logout(request: web.Request, ctx: Context, op: Operation) -> web.Response:
    instance = await management.logout(ctx, op, path_name(request))
    return reply(InstanceResponse(message=MSG_LOGOUT, instance=InstanceOut.of(instance)))


@mutation("delete")
async def delete(request: web.Request, ctx: Context, op: Operation) -> web.Response:
    name = path_name(request)
    await management.delete(ctx, op, name)
    return reply(DeleteResponse(message=MSG_DELETE, instanceName=name))


@mutation("restart")
async def restart(request: web.Request, ctx: Context, op: Operation) -> web.Response:
    instance = await management.restart(ctx, op, path_name(request))
    return reply(InstanceResponse(message=MSG_RESTART, instance=InstanceOut.of(instance)))


@mutation("connect")
async def connect(request: web.Request, ctx: Context, op: Operation) -> web.Response:
    name = path_name(request)
    wanted = await body(request, ConnectRequest, empty_ok=True)
    instance, already_open = await management.connect(ctx, op, name, wanted.number)
    message = MSG_ALREADY_OPEN if already_open else MSG_CONNECT
    return reply(InstanceResponse(message=message, instance=InstanceOut.of(instance)))


@mutation("websocket.set")
async def set_websocket(request: web.Request, ctx: Context, op: Operation) -> web.Response:
    name = path_name(request)
    wanted = await body(request, WebsocketSetRequest)
    setting = await management.set_websocket(ctx, op, name, wanted.enabled, wanted.events)
    return reply(WebsocketSetResponse(message=MSG_WEBSOCKET, websocket=_websocket_out(setting)))


@mutation("webhook.set")
async def set_webhook(request: web.Request, ctx: Context, op: Operation) -> web.Response:
    name = path_name(request)
    wanted = await body(request, WebhookSetRequest)
    await check_webhook_url(wanted.url, allow_private=ctx.settings.webhook_allow_private)
    config = WebhookConfig(
        enabled=wanted.enabled, url=wanted.url, events=wanted.events, headers=wanted.headers,
        by_events=wanted.byEvents, base64=wanted.base64,
    )  # fmt: skip
    saved = await management.set_webhook(ctx, op, name, config)
    return reply(WebhookSetResponse(message=MSG_WEBHOOK, webhook=_webhook_out(saved)))


@mutation("create")
async def create_instance(request: web.Request, ctx: Context, op: Operation) -> web.Response:
    wanted = await body(request, CreateInstanceRequest)
    op.instance_name = wanted.instanceName
    instance, adopted = await management.create(
        ctx, op, wanted.instanceName, wanted.tenantId, wanted.server
    )
    message = MSG_ADOPTED if adopted else MSG_CREATED
    out = CreateInstanceResponse(
        message=message, instance=InstanceOut.of(instance), adopted=adopted
    )
    return reply(out, status=201)


# ---- reads ---------------------------------------------------------------------------------


async def list_instances(request: web.Request) -> web.Response:
    wanted = query(request, InstancesQuery)
    found = await management.list_instances(context(request), request[PRINCIPAL], wanted.tenantId)
    return reply(InstancesResponse(instances=[InstanceOut.of(i) for i in found]))


async def list_servers(request: web.Request) -> web.Response:
    found = await management.servers(context(request), request[PRINCIPAL])
    return reply(ServersResponse(servers=[ServerOut(**asdict(s)) for s in found]))


async def instance_status(request: web.Request) -> web.Response:
    name = path_name(request)
    report = await management.status(context(request), request[PRINCIPAL], name)
    return reply(
        StatusResponse(
            instance=InstanceOut.of(report.instance),
            connectionState=report.connection_state,
            upstreamError=report.upstream_error,
            history=[StatusChangeOut.of(change) for change in report.history],
        )
    )


async def get_websocket(request: web.Request) -> web.Response:
    name = path_name(request)
    setting = await management.find_websocket(context(request), request[PRINCIPAL], name)
    out = None if setting is None else _websocket_out(setting)
    return reply(WebsocketResponse(websocket=out))


async def get_webhook(request: web.Request) -> web.Response:
    name = path_name(request)
    config = await management.find_webhook(context(request), request[PRINCIPAL], name)
    return reply(WebhookResponse(webhook=None if config is None else _webhook_out(config)))


async def audit_log(request: web.Request) -> web.Response:
    wanted = query(request, AuditQuery)
    entries = await management.audit_log(
        context(request), request[PRINCIPAL], wanted.tenantId, wanted.instanceName, wanted.limit
    )
    return reply(AuditResponse(entries=[AuditEntryOut.of(entry) for entry in entries]))


# ---- the table -----------------------------------------------------------------------------

_NAMED: Final = (400, 404, 422)
_UPSTREAM: Final = (502, 503, 504)
_MUTATING: Final = (403, 413, *_NAMED, *_UPSTREAM)

ROUTES: Final[tuple[tuple[Endpoint, RouteHandler], ...]] = (
    (Endpoint("POST", f"{BASE}/logout/{{name}}", "logout", "Evolution logout; status STOPPED",
              InstanceResponse, errors=_MUTATING), logout),
    (Endpoint("DELETE", f"{BASE}/delete/{{name}}", "deleteInstance",
              "Evolution delete, then the row", DeleteResponse, errors=_MUTATING), delete),
    (Endpoint("POST", f"{BASE}/restart/{{name}}", "restart",
              "Evolution restart; status SCAN_QR_CODE", InstanceResponse, errors=_MUTATING),
     restart),
    (Endpoint("POST", f"{BASE}/websocket/{{name}}", "setWebsocket",
              "Set Evolution's websocket output (CONNECTION_UPDATE, QRCODE_UPDATED always added)",
              WebsocketSetResponse, body=WebsocketSetRequest, errors=_MUTATING), set_websocket),
    (Endpoint("GET", f"{BASE}/websocket/{{name}}", "getWebsocket",
              "Evolution's websocket output config, or null", WebsocketResponse,
              errors=(*_NAMED, *_UPSTREAM)), get_websocket),
    (Endpoint("GET", f"{BASE}/instances", "listInstances",
              "The caller's tenant's instances (SUPERADMIN: all, or ?tenantId=)",
              InstancesResponse, query=InstancesQuery, errors=(400, 403)), list_instances),
    (Endpoint("POST", f"{BASE}/instances", "createInstance",
              "Create on Evolution, or adopt one already there", CreateInstanceResponse,
              body=CreateInstanceRequest, status=201, errors=(*_MUTATING, 409)), create_instance),
    (Endpoint("GET", f"{BASE}/status/{{name}}", "instanceStatus",
              "Stored status, Evolution's live state and the last 20 status changes",
              StatusResponse, errors=_NAMED), instance_status),
    (Endpoint("POST", f"{BASE}/connect/{{name}}", "connect",
              "Start pairing (QR, or a pairing code with number); status STARTING",
              InstanceResponse, body=ConnectRequest, body_required=False, errors=_MUTATING),
     connect),
    (Endpoint("POST", f"{BASE}/webhook/{{name}}", "setWebhook", "Set Evolution's webhook",
              WebhookSetResponse, body=WebhookSetRequest, errors=_MUTATING), set_webhook),
    (Endpoint("GET", f"{BASE}/webhook/{{name}}", "getWebhook",
              "Evolution's webhook config, or null", WebhookResponse,
              errors=(*_NAMED, *_UPSTREAM)), get_webhook),
    (Endpoint("GET", f"{BASE}/servers", "listServers",
              "SUPERADMIN: every Evolution server, its state, version, instances, and the "
              "instances on it that no tenant owns", ServersResponse, errors=(403,)),
     list_servers),
    (Endpoint("GET", f"{BASE}/audit", "auditLog", "The tenant's audit log, newest first",
              AuditResponse, query=AuditQuery, errors=(400, 403)), audit_log),
)  # fmt: skip

# Served by other modules (relay.api.health, the live side); documented here.
ELSEWHERE: Final[tuple[Endpoint, ...]] = (
    Endpoint("GET", "/healthz", "healthz", "The process is alive", HealthResponse,
             public=True, tag="operations"),
    Endpoint("GET", "/readyz", "readyz",
             "Database reachable, every background task running; each Evolution server's state",
             ReadyResponse, status=200, errors=(503,), public=True, tag="operations"),
    Endpoint("GET", "/metrics", "metrics", "Prometheus metrics", None, public=True,
             content_type="text/plain", tag="operations"),
    Endpoint("GET", "/api/events", "events",
             "Live events as Server-Sent Events (token in Authorization or ?token=)", None,
             content_type="text/event-stream", tag="live"),
    Endpoint("GET", "/api/openapi.json", "openapi", "This document", None, public=True,
             tag="operations"),
)  # fmt: skip


def endpoints() -> list[Endpoint]:
    return [endpoint for endpoint, _ in ROUTES] + list(ELSEWHERE)


def _aiohttp_path(path: str) -> str:
    return path.replace("{name}", r"{name:[\s\S]*}")  # anything, newlines included


def setup(app: web.Application) -> None:
    """Register the management routes, ``GET /api/openapi.json`` and CORS (``relay.api.cors``)."""
    cors.setup(app, app[SETTINGS].cors_origins)
    for endpoint, handler in ROUTES:
        app.router.add_route(endpoint.method, _aiohttp_path(endpoint.path), handler)
    spec: dict[str, object] = {}

    async def openapi(request: web.Request) -> web.Response:
        if not spec:
            spec.update(build_spec(endpoints()))
        return web.json_response(spec)

    app.router.add_get("/api/openapi.json", openapi)
