"""``/_sim/*``: the test and demo controls. No apikey; they are not part of Evolution.

- ``POST /_sim/scan/{name}``: a phone scans the QR → ``open``; optional JSON body
  ``{"wuid": ..., "profileName": ...}``. 404 unknown name, 409 not ``connecting``.
- ``POST /_sim/drop/{name}?code=401``: WhatsApp closes the connection with ``code``.
- ``POST /_sim/emit/{name}``: emit ``{"event": "...", "data": ...}`` for the instance.
- ``GET /_sim/calls``: the call log. ``POST /_sim/reset``: clear calls, faults, event log.
- ``GET``/``POST``/``DELETE /_sim/faults``: list / add (JSON of ``Fault``) / clear faults.
- ``GET /_sim/namespaces``: per-instance namespaces created since the server started.
- ``GET /_sim/events?limit=N``: the last emitted envelopes.
- ``POST /_sim/loop/{name}?rate=20``: Baileys' reconnect loop for the instance (docs/upstream.md
  §12); ``DELETE /_sim/loop/{name}`` stops it (the instance stays ``close``, no event).
  ``GET /_sim/loops``: the running loops, zombies of deleted instances included.
- ``POST /_sim/restart?down=S``: answers 202, then restarts the server, down ``S`` seconds
  (default ``SimConfig.restart_delay``).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from simulator.calls import Fault
from simulator.guards import sim
from simulator.machine import SimulatorError

routes = web.RouteTableDef()


async def _json(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"invalid JSON: {exc}") from exc
    return value if isinstance(value, dict) else {}


def _refused(exc: SimulatorError) -> web.Response:
    return web.json_response({"error": str(exc)}, status=exc.status)


@routes.post("/_sim/scan/{name}")
async def scan(request: web.Request) -> web.Response:
    body = await _json(request)
    try:
        instance = await sim(request).scan(
            request.match_info["name"], body.get("wuid"), body.get("profileName")
        )
    except SimulatorError as exc:
        return _refused(exc)
    return web.json_response(
        {"instance": instance.name, "state": instance.state, "wuid": instance.wuid}
    )


@routes.post("/_sim/drop/{name}")
async def drop(request: web.Request) -> web.Response:
    try:
        code = int(request.query.get("code", "401"))
    except ValueError as exc:
        raise web.HTTPBadRequest(text="code must be an integer") from exc
    try:
        instance = await sim(request).drop(request.match_info["name"], code)
    except SimulatorError as exc:
        return _refused(exc)
    return web.json_response({"instance": instance.name, "state": instance.state})


@routes.post("/_sim/emit/{name}")
async def emit(request: web.Request) -> web.Response:
    body = await _json(request)
    if not isinstance(body.get("event"), str):
        raise web.HTTPBadRequest(text='body needs "event" (and "data")')
    try:
        await sim(request).emit(request.match_info["name"], body["event"], body.get("data"))
    except SimulatorError as exc:
        return _refused(exc)
    return web.json_response({"emitted": body["event"]})


@routes.get("/_sim/calls")
async def calls(request: web.Request) -> web.Response:
    return web.json_response([c.as_json() for c in sim(request).calls.calls])


@routes.post("/_sim/reset")
async def reset(request: web.Request) -> web.Response:
    sim(request).reset()
    return web.json_response({"reset": True})


@routes.get("/_sim/faults")
async def list_faults(request: web.Request) -> web.Response:
    return web.json_response([f.as_json() for f in sim(request).faults.faults])


@routes.post("/_sim/faults")
async def add_fault(request: web.Request) -> web.Response:
    try:
        fault = Fault.from_json(await _json(request))
    except (TypeError, ValueError) as exc:
        raise web.HTTPBadRequest(text=f"invalid fault: {exc}") from exc
    sim(request).faults.add(fault)
    return web.json_response(fault.as_json(), status=201)


@routes.delete("/_sim/faults")
async def clear_faults(request: web.Request) -> web.Response:
    sim(request).faults.clear()
    return web.json_response({"cleared": True})


@routes.get("/_sim/namespaces")
async def namespaces(request: web.Request) -> web.Response:
    return web.json_response(sorted(sim(request).namespaces))


@routes.get("/_sim/events")
async def events(request: web.Request) -> web.Response:
    limit = int(request.query.get("limit", "100"))
    emitted = list(sim(request).machine.emitted)[-limit:] if limit > 0 else []
    return web.json_response([{**e.payload, "_perInstance": e.per_instance} for e in emitted])


def _bad_query(text: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": text}), content_type="application/json")


def _float_query(request: web.Request, key: str) -> float | None:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError as exc:
        raise _bad_query(f"{key} must be a number") from exc
    if value < 0:
        raise _bad_query(f"{key} must not be negative")
    return value


@routes.post("/_sim/loop/{name}")
async def start_loop(request: web.Request) -> web.Response:
    try:
        instance = await sim(request).start_loop(
            request.match_info["name"], _float_query(request, "rate")
        )
    except SimulatorError as exc:
        return _refused(exc)
    return web.json_response(
        {"instance": instance.name, "looping": True, "rate": instance.loop_rate}
    )


@routes.delete("/_sim/loop/{name}")
async def stop_loop(request: web.Request) -> web.Response:
    try:
        instance = await sim(request).stop_loop(request.match_info["name"])
    except SimulatorError as exc:
        return _refused(exc)
    return web.json_response({"instance": instance.name, "looping": False})


@routes.get("/_sim/loops")
async def loops(request: web.Request) -> web.Response:
    return web.json_response(sim(request).loops())


@routes.post("/_sim/restart")
async def restart(request: web.Request) -> web.StreamResponse:
    simulator = sim(request)
    down = _float_query(request, "down")
    if simulator.restarting:
        return web.json_response({"error": "a restart is already under way"}, status=409)
    response = web.json_response(
        {"restarting": True, "down": simulator.config.restart_delay if down is None else down},
        status=202,
    )
    # The whole reply is written before the server that carries it goes away.
    await response.prepare(request)
    await response.write_eof()
    simulator.restart_soon(down)
    return response
