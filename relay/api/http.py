"""Small HTTP helpers the management routes share: names, bodies, replies, the audit wrapper.

``mutation(action)`` is the one place a mutating route is wrapped: it builds the audit
:class:`handlers.audit.Operation` from the authenticated principal and runs the route inside
:func:`handlers.audit.audited`, so every mutating call writes exactly one audit row, whether
it succeeded or failed (bad name, bad body, forbidden, missing, upstream error).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from handlers.audit import Operation, audited
from handlers.context import Context
from relay.api.middleware import utf8_dumps
from relay.api.validation import check_name, is_valid_name, parse, parse_json
from relay.appkeys import CONTEXT, PRINCIPAL
from relay.errors import PayloadTooLarge

_M = TypeVar("_M", bound=BaseModel)

RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MutationWork = Callable[[web.Request, Context, Operation], Awaitable[web.StreamResponse]]


def context(request: web.Request) -> Context:
    return request.app[CONTEXT]


def path_name(request: web.Request) -> str:
    """The ``{name}`` segment, percent-decoded by aiohttp, validated before any I/O."""
    return check_name(request.match_info.get("name", ""))


async def raw_body(request: web.Request) -> bytes:
    """The body, read once (aiohttp caches it); over ``client_max_size`` (64 KiB) is a 413."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge() from exc


async def body(request: web.Request, model: type[_M], *, empty_ok: bool = False) -> _M:
    return parse_json(await raw_body(request), model, empty_ok=empty_ok)


def query(request: web.Request, model: type[_M]) -> _M:
    return parse(model, dict(request.query))


def reply(payload: BaseModel, status: int = 200) -> web.Response:
    body = payload.model_dump(mode="json", by_alias=True)
    return web.json_response(body, status=status, dumps=utf8_dumps)


def mutation(action: str) -> Callable[[MutationWork], RouteHandler]:
    """Wrap a mutating route: one audit row per call, written by :func:`audited`."""

    def wrap(work: MutationWork) -> RouteHandler:
        @functools.wraps(work)
        async def handler(request: web.Request) -> web.StreamResponse:
            ctx = context(request)
            op = Operation(principal=request[PRINCIPAL], action=action)
            raw_name = request.match_info.get("name")
            if raw_name is not None and is_valid_name(raw_name):
                op.instance_name = raw_name  # an invalid one is never written anywhere

            async def run() -> web.StreamResponse:
                await raw_body(request)  # the size limit holds for routes that ignore the body
                return await work(request, ctx, op)

            return await audited(ctx, op, run)

        return handler

    return wrap
