"""The simulator's HTTP middlewares, outermost first.

1. :func:`record_calls` logs every request on an Evolution route and applies injected faults.
2. :func:`evolution_errors` reads the JSON body the way Express does (only with
   ``Content-Type: application/json``), and turns :class:`EvolutionError` and unknown routes
   into Evolution's envelope (docs/upstream.md §1).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from simulator.calls import Call
from simulator.keys import BODY, SIMULATOR
from simulator.replies import EvolutionError

log = logging.getLogger(__name__)

_UNLOGGED = ("/_sim/", "/socket.io")


def _peek_json(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace") if content_type != "application/json" else None


@web.middleware
async def record_calls(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(_UNLOGGED):
        return await handler(request)
    sim = request.app[SIMULATOR]
    raw = await request.read()
    call = Call(
        method=request.method,
        path=request.path,
        query=dict(request.query),
        body=_peek_json(raw, request.content_type),
        authorized=sim.authorizes(request.headers.get("apikey"), request.path),
    )
    sim.calls.add(call)
    fault = sim.faults.take(request.method, request.path)
    if fault is not None:
        log.info("injecting fault %s on %s %s", fault, request.method, request.path)
        if fault.delay > 0:
            await asyncio.sleep(fault.delay)
        if fault.status is not None:
            call.status = fault.status
            return EvolutionError(fault.status, fault.message).response()
    response = await handler(request)
    call.status = response.status
    return response


def _bad_json(raw: bytes) -> web.Response:
    """body-parser's SyntaxError through Evolution's error handler (status 400, odd reason)."""
    snippet = raw[:20].decode("utf-8", "replace")
    body = {
        "status": 400,
        "error": "Internal Server Error",
        "response": {"message": f'Unexpected token, "{snippet}" is not valid JSON'},
    }
    return web.json_response(body, status=400)


@web.middleware
async def evolution_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/_sim/") or (
        request.path.startswith("/socket.io") and request.app[SIMULATOR].config.websocket_enabled
    ):
        return await handler(request)
    body: dict[str, Any] = {}
    if request.content_type == "application/json":
        raw = await request.read()
        if raw.strip():
            try:
                parsed = json.loads(raw)
            except ValueError:
                return _bad_json(raw)
            if isinstance(parsed, dict):
                body = parsed
    request[BODY] = body
    try:
        return await handler(request)
    except EvolutionError as exc:
        return exc.response()
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        message = [f"Cannot {request.method.upper()} {request.raw_path}"]
        return EvolutionError(404, message).response()
