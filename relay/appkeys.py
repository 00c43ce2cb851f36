"""Every typed key of the aiohttp application and request, in one place."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from handlers.context import Context
    from relay.auth import Principal, TokenVerifier
    from relay.bus import Bus
    from relay.cluster import Cluster
    from relay.config import Settings
    from relay.fleet import Fleet
    from relay.hub import Hub
    from relay.internals import FastPaths
    from relay.metrics import Metrics
    from relay.store import Store
    from relay.systemd import Notifier
    from relay.tasks import Tasks

ReadinessCheck = Callable[[], Awaitable[bool]]

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
VERIFIER: web.AppKey[TokenVerifier] = web.AppKey("verifier")
STORE: web.AppKey[Store] = web.AppKey("store")
TASKS: web.AppKey[Tasks] = web.AppKey("tasks")
# Which fast paths over library internals the installed versions allow (relay.internals).
FAST_PATHS: web.AppKey[FastPaths] = web.AppKey("fast_paths")
# The Socket.IO + SSE hub for frontends (relay.hub); created by hub_ctx.
HUB: web.AppKey[Hub] = web.AppKey("hub")
CONTEXT: web.AppKey[Context] = web.AppKey("context")
# Every Evolution server with its HTTP client and instance tracker (relay.fleet); by fleet_ctx.
FLEET: web.AppKey[Fleet] = web.AppKey("fleet")
# The cluster bus when RELAY_REDIS_URL is set (relay.bus), else None; by bus_ctx.
BUS: web.AppKey[Bus | None] = web.AppKey("bus")
# This node's part in a cluster (relay.cluster), set by cluster_ctx when there is one.
CLUSTER: web.AppKey[Cluster] = web.AppKey("cluster")
# name -> check; /readyz is 503 while any of them is False.
READINESS: web.AppKey[dict[str, ReadinessCheck]] = web.AppKey("readiness")
# systemd's notify socket (a no-op outside systemd); serve() sets the real one.
NOTIFIER: web.AppKey[Notifier] = web.AppKey("notifier")

PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
