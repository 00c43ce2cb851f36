"""``/instance/*`` routes of Evolution 2.3.6 (docs/upstream.md §3, §3.1–§3.6)."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from simulator import envelope as ev
from simulator import replies, validation
from simulator.guards import instance_route, keyed, name_free, sim
from simulator.keys import BODY
from simulator.state import SETTING_DEFAULTS, EventRow, Instance

routes = web.RouteTableDef()


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    """JSON.stringify drops undefined keys; the simulator's ``None`` plays undefined here."""
    return {k: v for k, v in values.items() if v is not None}


def _inline_rows(instance: Instance, body: dict[str, Any]) -> None:
    """Store inline websocket/webhook configs, always ``enabled:true`` (§3.1)."""
    websocket = body.get("websocket")
    if isinstance(websocket, dict):
        instance.websocket = EventRow(instance.id, True, validation.inline_events(websocket))
    webhook = body.get("webhook")
    if isinstance(webhook, dict) and webhook.get("url"):
        instance.webhook = EventRow(
            instance.id,
            True,
            validation.inline_events(webhook),
            url=webhook["url"],
            headers=webhook.get("headers"),
            by_events=bool(webhook.get("byEvents", False)),
            base64=bool(webhook.get("base64", False)),
        )


def _create_reply(instance: Instance, body: dict[str, Any]) -> dict[str, Any]:
    webhook = body.get("webhook")
    if not isinstance(webhook, dict):
        webhook = {}

    def enabled_of(key: str) -> dict[str, Any]:
        value = body.get(key)
        return _drop_none({"enabled": value.get("enabled")}) if isinstance(value, dict) else {}

    return {
        "instance": {
            "instanceName": instance.name,
            "instanceId": instance.id,
            "integration": instance.integration,
            "webhookWaBusiness": None,
            "accessTokenWaBusiness": "",
            "status": instance.stored_status,
        },
        "hash": instance.token,
        "webhook": _drop_none(
            {
                "webhookUrl": webhook.get("url"),
                "webhookHeaders": webhook.get("headers"),
                "webhookByEvents": webhook.get("byEvents"),
                "webhookBase64": webhook.get("base64"),
            }
        ),
        "websocket": enabled_of("websocket"),
        "rabbitmq": enabled_of("rabbitmq"),
        "nats": enabled_of("nats"),
        "sqs": enabled_of("sqs"),
        "settings": dict(instance.settings),
    }


@routes.post("/instance/create")
async def create(request: web.Request) -> web.Response:
    body = request[BODY]
    name_free(request, body.get("instanceName"))
    keyed(request)
    integration = validation.create(body)
    simulator = sim(request)
    instance = Instance(
        name=body["instanceName"],
        token=str(body.get("token") or str(uuid.uuid4()).upper()),
        integration=integration,
        number=body.get("number"),
        settings={k: body.get(k, v) for k, v in SETTING_DEFAULTS.items()},
    )
    simulator.store.add(instance)
    try:
        _inline_rows(instance, body)
    except replies.EvolutionError:
        simulator.machine.discard(instance)
        raise
    await simulator.machine.emit(instance, "instance.create", ev.lifecycle_ids(instance))
    reply = _create_reply(instance, body)
    if body.get("qrcode") is True:
        await simulator.machine.start_connecting(instance, body.get("number"))
        await simulator.machine.await_qr(instance)
        reply["qrcode"] = instance.qr.reply()
    return web.json_response(reply, status=201)


def _token_rows(request: web.Request, key: str) -> list[dict[str, Any]]:
    simulator = sim(request)
    name = request.query.get("instanceName")
    wanted_id = request.query.get("instanceId")
    rows = [
        i.row(simulator.config.client_name)
        for i in simulator.store.by_token(key)
        if (name is None or i.name == name) and (wanted_id is None or i.id == wanted_id)
    ]
    if not rows:
        raise replies.unauthorized()
    return rows


@routes.get("/instance/fetchInstances")
async def fetch_instances(request: web.Request) -> web.Response:
    simulator = sim(request)
    key = request.headers.get("apikey")
    if not key:
        raise replies.unauthorized()
    if key != simulator.config.apikey:
        return web.json_response(_token_rows(request, key))
    name = request.query.get("instanceName")
    instances = simulator.store.all()
    if name is not None:
        found = simulator.store.get(name)
        if found is None:
            raise replies.EvolutionError(404, [f'Instance "{name}" not found'])
        instances = [found]
    if "instanceId" in request.query:
        instances = [i for i in instances if i.id == request.query["instanceId"]]
    if "number" in request.query:
        number = request.query["number"]
        instances = [
            i for i in instances if i.number == number or (i.wuid or "").startswith(number)
        ]
    return web.json_response([i.row(simulator.config.client_name) for i in instances])


@routes.get("/instance/connect/{name}")
async def connect(request: web.Request) -> web.Response:
    instance = instance_route(request)
    reply = await sim(request).machine.connect(instance, request.query.get("number") or None)
    return web.json_response(reply)


@routes.get("/instance/connectionState/{name}")
async def connection_state(request: web.Request) -> web.Response:
    instance = instance_route(request)
    return web.json_response({"instance": {"instanceName": instance.name, "state": instance.state}})


@routes.post("/instance/restart/{name}")
async def restart(request: web.Request) -> web.Response:
    instance = instance_route(request)
    return web.json_response(await sim(request).machine.restart(instance))


@routes.delete("/instance/logout/{name}")
async def logout(request: web.Request) -> web.Response:
    instance = instance_route(request)
    if instance.state == "close":
        raise replies.bad_request(f'The "{instance.name}" instance is not connected')
    sim(request).machine.logout(instance)
    return web.json_response(replies.success("Instance logged out"))


@routes.delete("/instance/delete/{name}")
async def delete(request: web.Request) -> web.Response:
    instance = instance_route(request)
    await sim(request).machine.delete(instance)
    return web.json_response(replies.success("Instance deleted"))
