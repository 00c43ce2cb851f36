"""Liveness, readiness and metrics: public routes for probes and Prometheus."""

from __future__ import annotations

import asyncio
import hmac

from aiohttp import web

from relay.appkeys import CLUSTER, FLEET, METRICS, READINESS, SETTINGS
from relay.errors import Unauthenticated


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks = request.app[READINESS]
    names = list(checks)
    results = await asyncio.gather(*(checks[name]() for name in names), return_exceptions=True)
    verdicts = {name: result is True for name, result in zip(names, results, strict=True)}
    ready = all(verdicts.values())
    body = {"ready": ready, "checks": verdicts, "upstream": request.app[FLEET].states()}
    if CLUSTER in request.app:
        body["cluster"] = request.app[CLUSTER].describe()
    return web.json_response(body, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text; with ``RELAY_METRICS_TOKEN``, only for ``Authorization: Bearer <it>``
    (compared in constant time; the JWT middleware does not apply to this route)."""
    token = request.app[SETTINGS].metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise Unauthenticated()
    return web.Response(
        body=request.app[METRICS].render(), content_type="text/plain", charset="utf-8"
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
