"""Every typed key of the aiohttp application and request, in one place."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from handlers.context import Context, LiveEvents
    from relay.auth import Principal, TokenVerifier
    from relay.config import Settings
    from relay.evolution.client import EvolutionClient
    from relay.hub import Hub
    from relay.internals import FastPaths
    from relay.metrics import Metrics
    from relay.store import Store
    from relay.tasks import Tasks

ReadinessCheck = Callable[[], Awaitable[bool]]

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
VERIFIER: web.AppKey[TokenVerifier] = web.AppKey("verifier")
STORE: web.AppKey[Store] = web.AppKey("store")
EVOLUTION: web.AppKey[EvolutionClient] = web.AppKey("evolution")
TASKS: web.AppKey[Tasks] = web.AppKey("tasks")
# Which fast paths over library internals the installed versions allow (relay.internals).
FAST_PATHS: web.AppKey[FastPaths] = web.AppKey("fast_paths")
# The Socket.IO + SSE hub for frontends (relay.hub); created by hub_ctx.
HUB: web.AppKey[Hub] = web.AppKey("hub")
CONTEXT: web.AppKey[Context] = web.AppKey("context")
# The instance tracker (relay.tracker) as the management handlers see it; set by tracker_ctx.
LIVE: web.AppKey[LiveEvents] = web.AppKey("live")
# name -> check; /readyz is 503 while any of them is False.
READINESS: web.AppKey[dict[str, ReadinessCheck]] = web.AppKey("readiness")

PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
