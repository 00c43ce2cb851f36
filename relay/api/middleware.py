"""The two middlewares every request passes: errors (outermost), then auth.

``errors`` turns the :mod:`relay.errors` tree and aiohttp's HTTP exceptions into the JSON
error shape, and anything unexpected into a generic 500 logged with a request id. ``auth``
verifies the bearer JWT on every route outside an explicit public list and stores the
principal in the request; no handler parses a token.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

from relay.appkeys import METRICS, PRINCIPAL, REQUEST_ID, VERIFIER
from relay.errors import (
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RelayError,
    Unauthenticated,
    ValidationFailed,
)

log = logging.getLogger(__name__)

PUBLIC_PATHS: Final = frozenset(
    {"/", "/client.js", "/healthz", "/readyz", "/metrics", "/api/openapi.json"}
)
PUBLIC_PREFIXES: Final = ("/socket.io/", "/panel/")
# Paths that also take the token as ?token= (EventSource cannot send headers).
QUERY_TOKEN_PATHS: Final = frozenset({"/api/events"})

_HTTP_ERRORS: Final[dict[int, type[RelayError]]] = {
    400: ValidationFailed,
    401: Unauthenticated,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
}


def utf8_dumps(value: object) -> str:
    """JSON with the Portuguese messages readable as they are (no \\u escapes)."""
    return json.dumps(value, ensure_ascii=False)


def error_response(exc: RelayError, request_id: str | None = None) -> web.Response:
    body: dict[str, object] = {"success": False, "message": exc.message, "code": exc.code}
    problems = getattr(exc, "problems", None)
    if problems:
        body["errors"] = problems
    headers = {"X-Request-Id": request_id} if request_id else {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"  # RFC 6750; no error detail, on purpose
    return web.json_response(body, status=exc.status, headers=headers, dumps=utf8_dumps)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    metrics = request.app[METRICS]
    try:
        response = await handler(request)
    except RelayError as exc:
        if exc.status >= 500:
            log.warning(
                "%s %s failed (request %s): %s", request.method, request.path, request_id, exc
            )
        response = error_response(exc, request_id)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error_type = _HTTP_ERRORS.get(exc.status, RelayError)
        response = error_response(error_type(), request_id)
        response.set_status(exc.status)
        if "Allow" in exc.headers:  # a 405 says which methods the path takes (RFC 9110)
            response.headers["Allow"] = exc.headers["Allow"]
    except Exception:
        # The one broad catch of the HTTP side: the client gets a generic 500 and the
        # operator a traceback with the request id, never the other way around.
        log.exception("unexpected error in %s %s (request %s)", request.method, request.path,
                      request_id)  # fmt: skip
        response = error_response(RelayError(), request_id)
    else:
        response.headers.setdefault("X-Request-Id", request_id)
    metrics.http_requests.labels(request.method, str(response.status)).inc()
    return response


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if request.path in QUERY_TOKEN_PATHS:
        return request.query.get("token") or None
    return None


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


@web.middleware
def auth_middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    """Not a coroutine: it returns the handler's own awaitable, which ``errors`` awaits, so a
    request does not keep one more coroutine frame for its lifetime (a websocket's is the
    connection's). An ``Unauthenticated`` is raised at the call, inside the same ``try``."""
    unmatched = request.match_info.http_exception is not None  # the JSON 404/405 comes first
    if unmatched or request.method == "OPTIONS" or is_public(request.path):
        return handler(request)
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated()
    request[PRINCIPAL] = request.app[VERIFIER].verify(token)
    return handler(request)
