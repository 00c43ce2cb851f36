"""Liveness, readiness and metrics: public routes for probes and Prometheus."""

from __future__ import annotations

import asyncio

from aiohttp import web

from relay.appkeys import FLEET, METRICS, READINESS


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks = request.app[READINESS]
    names = list(checks)
    results = await asyncio.gather(*(checks[name]() for name in names), return_exceptions=True)
    verdicts = {name: result is True for name, result in zip(names, results, strict=True)}
    ready = all(verdicts.values())
    body = {"ready": ready, "checks": verdicts, "upstream": request.app[FLEET].states()}
    return web.json_response(body, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[METRICS].render(), content_type="text/plain", charset="utf-8"
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
