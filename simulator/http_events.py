"""``/websocket/*``, ``/webhook/*`` and ``GET /`` (docs/upstream.md §3, §5)."""

from __future__ import annotations

from aiohttp import web

from simulator import replies, validation
from simulator.guards import instance_route, sim
from simulator.keys import BODY
from simulator.state import EventRow

routes = web.RouteTableDef()

WHATSAPP_WEB_VERSION = "2.3000.1028956868"


@routes.get("/")
async def server_info(request: web.Request) -> web.Response:
    """No auth; unlike the real one it fetches nothing from web.whatsapp.com."""
    simulator = sim(request)
    base = simulator.server_url or ""
    return web.json_response(
        {
            "status": 200,
            "message": "Welcome to the Evolution API, it is working!",
            "version": simulator.config.version,
            "clientName": simulator.config.client_name,
            "manager": base + "/manager",
            "documentation": "https://doc.evolution-api.com",
            "whatsappWebVersion": WHATSAPP_WEB_VERSION,
        }
    )


@routes.post("/websocket/set/{name}")
async def websocket_set(request: web.Request) -> web.Response:
    instance = instance_route(request)
    body = request[BODY]
    if "websocket" in body:
        problems = validation.websocket_problems(body["websocket"])
        if problems:
            raise replies.bad_request(problems)
    if not sim(request).config.websocket_enabled:
        return replies.empty(201)
    enabled, events = validation.resolve_set(body.get("websocket"))
    if instance.websocket is None:
        instance.websocket = EventRow(instance.id, enabled, events)
    else:
        instance.websocket.update(enabled, events)
    return web.json_response(instance.websocket.websocket_json(), status=201)


@routes.get("/websocket/find/{name}")
async def websocket_find(request: web.Request) -> web.Response:
    instance = instance_route(request)
    if not sim(request).config.websocket_enabled:
        return replies.empty(200)
    row = instance.websocket
    return web.json_response(row.websocket_json() if row else None)


@routes.post("/webhook/set/{name}")
async def webhook_set(request: web.Request) -> web.Response:
    instance = instance_route(request)
    body = request[BODY]
    enabled, events = validation.webhook_set(body)
    config = body["webhook"]
    row = instance.webhook
    if row is None:
        row = instance.webhook = EventRow(instance.id, enabled, events)
    else:
        row.update(enabled, events)
    row.url = config["url"]
    row.headers = config.get("headers")
    row.by_events = bool(config.get("byEvents", False))
    row.base64 = bool(config.get("base64", False))
    return web.json_response(row.webhook_json(), status=201)


@routes.get("/webhook/find/{name}")
async def webhook_find(request: web.Request) -> web.Response:
    instance = instance_route(request)
    row = instance.webhook
    return web.json_response(row.webhook_json() if row else None)
