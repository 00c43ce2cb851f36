"""CORS for the HTTP routes (``RELAY_CORS_ORIGINS``); Socket.IO does its own, in the hub.

Preflights (``OPTIONS`` with ``Access-Control-Request-Method``) from an allowed origin are
answered here, before routing and auth. Every other response to an allowed origin, errors and
streamed ones (``/api/events``) included, gets its headers in ``on_response_prepare``, which
runs before headers go out. Tokens travel in ``Authorization``, never in cookies, so
credentials are not allowed. ``*`` in the list allows any origin.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

SKIPPED_PREFIX: Final = "/socket.io/"
ALLOW_METHODS: Final = "GET, POST, DELETE, OPTIONS"
ALLOW_HEADERS: Final = "Authorization, Content-Type, X-Request-Id, Last-Event-ID"
EXPOSE_HEADERS: Final = "X-Request-Id"
MAX_AGE: Final = "600"


class Cors:
    def __init__(self, origins: Sequence[str]) -> None:
        self._any = "*" in origins
        self._origins = frozenset(origins)

    def allowed(self, request: web.Request) -> str | None:
        """The origin to echo back, or None (no header: the browser blocks the answer)."""
        origin = request.headers.get("Origin")
        if origin is None or request.path.startswith(SKIPPED_PREFIX):
            return None
        return origin if self._any or origin in self._origins else None

    def middleware(self) -> Middleware:
        @web.middleware
        async def cors_preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
            is_preflight = (
                request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
            )
            if is_preflight and self.allowed(request) is not None:
                return web.Response(
                    status=204,
                    headers={
                        "Access-Control-Allow-Methods": ALLOW_METHODS,
                        "Access-Control-Allow-Headers": ALLOW_HEADERS,
                        "Access-Control-Max-Age": MAX_AGE,
                    },
                )
            return await handler(request)

        return cors_preflight

    async def on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        origin = self.allowed(request)
        if origin is None:
            return
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        response.headers.add("Vary", "Origin")


def setup(app: web.Application, origins: Sequence[str]) -> None:
    """Nothing at all when no origin is configured (same-origin use, the default)."""
    if not origins:
        return
    cors = Cors(origins)
    app.middlewares.insert(0, cors.middleware())  # outermost: before errors and auth
    app.on_response_prepare.append(cors.on_prepare)
