"""The app factory and the process runner.

``create_app(settings)`` does all the wiring; the CLI and the tests call it. Resources are
``cleanup_ctx`` entries in dependency order (database, Evolution HTTP session, hub, instance
tracker, handlers' context, background tasks); aiohttp cleans up in reverse, and only what
started. This is the one module of ``relay`` that knows the handlers: it registers the event
handlers and injects the status rules into the machinery.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

import handlers.events
import handlers.status
from handlers.context import Context
from relay import internals, panel
from relay.api import health, routes
from relay.api.middleware import auth_middleware, errors_middleware
from relay.appkeys import (
    CONTEXT,
    EVOLUTION,
    FAST_PATHS,
    HUB,
    LIVE,
    METRICS,
    READINESS,
    SETTINGS,
    STORE,
    TASKS,
    VERIFIER,
)
from relay.auth import TokenVerifier
from relay.config import Settings
from relay.evolution.client import EvolutionClient
from relay.hub import hub_ctx
from relay.hub import setup as hub_setup
from relay.metrics import Metrics
from relay.store.embedded import open_store
from relay.tasks import Tasks
from relay.tracker import InstanceTracker

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
LISTEN_BACKLOG = 4096


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_store(app[SETTINGS]) as store:
        app[STORE] = store
        app[READINESS]["database"] = store.ping
        yield


async def evolution_ctx(app: web.Application) -> AsyncIterator[None]:
    server = app[SETTINGS].evolution_server()
    client = EvolutionClient(server.url, server.apikey, server.timeout)
    await client.start()
    app[EVOLUTION] = client
    try:
        yield
    finally:
        await client.close()


async def tracker_ctx(app: web.Application) -> AsyncIterator[None]:
    """After ``hub_ctx``: follow Evolution with the handlers' rules, and be the app's ``LIVE``."""
    settings = app[SETTINGS]
    tracker = InstanceTracker(
        settings.evolution_server(), app[STORE], app[EVOLUTION], app[HUB], app[METRICS],
        app[TASKS], registrations=(handlers.status.register, handlers.events.register),
        state_rule=handlers.status.intent_for_state,
        reconcile_interval=settings.reconcile_interval, fast_upstream=app[FAST_PATHS].upstream,
    )  # fmt: skip
    await tracker.start()
    app[LIVE] = tracker
    app[READINESS]["upstream"] = tracker.ready
    try:
        yield
    finally:
        await tracker.close()


async def context_ctx(app: web.Application) -> AsyncIterator[None]:
    """The handlers' context, once everything it holds exists."""
    app[CONTEXT] = Context(
        settings=app[SETTINGS],
        store=app[STORE],
        evolution=app[EVOLUTION],
        live=app[LIVE],
        metrics=app[METRICS],
    )
    yield


async def tasks_ctx(app: web.Application) -> AsyncIterator[None]:
    """Last in, so first out: background tasks stop before what they use closes."""
    yield
    await app[TASKS].close()


def create_app(
    settings: Settings, *, versions: internals.Versions | None = None
) -> web.Application:
    """``versions``: the library versions to check the fast paths against (tests); by default
    the installed ones."""
    app = web.Application(
        middlewares=[errors_middleware, auth_middleware], client_max_size=MAX_BODY_BYTES
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[FAST_PATHS] = internals.check(app[METRICS], versions)
    app[VERIFIER] = TokenVerifier(settings)
    app[READINESS] = {}
    tasks = app[TASKS] = Tasks(app[METRICS])
    app[READINESS]["tasks"] = _async(tasks.healthy)
    # Dependency order; aiohttp cleans up in reverse.
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(evolution_ctx)
    app.cleanup_ctx.append(hub_ctx)
    app.cleanup_ctx.append(tracker_ctx)
    app.cleanup_ctx.append(context_ctx)
    app.cleanup_ctx.append(tasks_ctx)
    health.setup(app)
    hub_setup(app)
    panel.setup(app)
    routes.setup(app)
    return app


async def serve(
    settings: Settings, *, stop: asyncio.Event | None = None, app: web.Application | None = None
) -> None:
    """Run until ``stop`` is set (or SIGTERM/SIGINT when ``stop`` is None), then shut down."""
    started = time.monotonic()
    app = app or create_app(settings)
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=settings.shutdown_timeout
    )
    stop = stop or _stop_on_signals()
    if settings.redis_url is not None:
        log.warning(
            "RELAY_REDIS_URL is set but not used by this version: run one relay node per "
            "database (nodes do not share rooms, sequence numbers or status broadcasts)"
        )
    await runner.setup()
    try:
        # A reconnect storm of thousands of browsers overflows the default backlog of 128.
        site = web.TCPSite(
            runner, settings.host, settings.port, reuse_address=True, backlog=LISTEN_BACKLOG
        )
        await site.start()
        log.info(
            "evo-relay listening on http://%s:%s (ready in %.2fs)",
            settings.host, _bound_port(runner, settings.port), time.monotonic() - started,
        )  # fmt: skip
        await stop.wait()
        log.info("shutting down: no new connections, finishing requests in flight")
    finally:
        requests = _count(app, "relay_http_requests_total")
        await runner.cleanup()
        log.info(
            "evo-relay stopped after %.1fs: %d HTTP requests served",
            time.monotonic() - started, requests,
        )  # fmt: skip


def _async(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def run() -> bool:
        return check()

    return run


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _bound_port(runner: web.AppRunner, configured: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    return configured


def _count(app: web.Application, sample_name: str) -> int:
    total = 0.0
    for metric in app[METRICS].registry.collect():
        for sample in metric.samples:
            if sample.name == sample_name:
                total += sample.value
    return int(total)


def run(settings: Settings) -> None:
    """The process entry point: uvloop when available, then :func:`serve`."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported OS
        asyncio.run(serve(settings))
    else:
        uvloop.run(serve(settings))
