"""The app factory and the process runner.

``create_app(settings)`` does all the wiring; the CLI and the tests call it. Resources are
``cleanup_ctx`` entries in dependency order (database, the cluster bus, hub, the fleet of
Evolution servers with their HTTP clients and instance trackers, the cluster's leadership,
handlers' context, background tasks); aiohttp cleans up in reverse, and only what started.
This is the one module of ``relay`` that knows the handlers: it registers the event handlers
and injects the status rules into the machinery.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

from aiohttp import web

import handlers.events
import handlers.status
from handlers.context import Context
from relay import collector, internals, panel
from relay.api import health, routes
from relay.api.middleware import auth_middleware, errors_middleware
from relay.api.protocol import Runner
from relay.appkeys import (
    BUS,
    CLUSTER,
    CONTEXT,
    FAST_PATHS,
    FLEET,
    HUB,
    METRICS,
    NOTIFIER,
    READINESS,
    SETTINGS,
    STORE,
    TASKS,
    VERIFIER,
)
from relay.auth import TokenVerifier
from relay.bus import Bus
from relay.cluster import Cluster, Leadership, PeerEvents
from relay.config import Settings
from relay.evolution.client import EvolutionClient
from relay.fleet import Fleet, Upstream
from relay.hub import hub_ctx
from relay.hub import setup as hub_setup
from relay.listen import cannot_listen, check_listen
from relay.metrics import Metrics
from relay.store.opening import open_store
from relay.systemd import Notifier
from relay.tasks import Tasks
from relay.tracker import InstanceTracker

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
LISTEN_BACKLOG = 4096
# READY=1 waits this long for the first attempt to subscribe to Evolution (it has its own
# 10 s connect timeout); past it the daemon reports ready anyway and keeps trying.
FIRST_TRY_WAIT: Final = 15.0
STATUS_INTERVAL: Final = 10.0


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_store(app[SETTINGS], on_wait=app[NOTIFIER].status) as store:
        app[STORE] = store
        app[READINESS]["database"] = store.ping
        yield


async def bus_ctx(app: web.Application) -> AsyncIterator[None]:
    """The cluster bus, when ``RELAY_REDIS_URL`` is set (its reader starts in cluster_ctx)."""
    settings = app[SETTINGS]
    if settings.redis_url is None:
        app[BUS] = None
        yield
        return
    bus = app[BUS] = Bus(settings.redis_url.get_secret_value(), settings.node_name,
                         settings.history_size, app[TASKS].spawn)  # fmt: skip
    log.info("node %s of a cluster: live events through redis, one node per evolution server",
             settings.node_name)  # fmt: skip
    try:
        yield
    finally:
        await bus.close()


async def cluster_ctx(app: web.Application) -> AsyncIterator[None]:
    """After fleet_ctx, in a cluster: read the bus, and take part in the leadership."""
    bus = app[BUS]
    if bus is None:
        yield
        return
    settings, tasks = app[SETTINGS], app[TASKS]
    fleet = app[FLEET]
    bus.bind(app[HUB], PeerEvents(settings.node_name, fleet, app[HUB], tasks))

    async def lead(server: str, term: int) -> None:
        await fleet.of(server).live.lead(term)

    async def lose(server: str) -> None:
        await fleet.of(server).live.step_down()

    leadership = Leadership(
        app[STORE], settings.node_name, fleet.names(), interval=settings.lease_interval,
        on_lead=lead, on_lose=lose, gauge=app[METRICS].cluster_leader,
    )  # fmt: skip
    app[CLUSTER] = Cluster(bus, leadership)
    tasks.supervise(bus.run, "cluster-bus")
    tasks.supervise(leadership.run, "cluster-leadership")
    yield


async def fleet_ctx(app: web.Application) -> AsyncIterator[None]:
    """After ``hub_ctx``: for each Evolution server, its HTTP client and its instance tracker,
    following Evolution with the handlers' rules. Trackers close before the clients they use."""
    settings = app[SETTINGS]
    fleet = app[FLEET] = Fleet()
    bus = app[BUS]
    async with contextlib.AsyncExitStack() as stack:
        for server in settings.servers():
            client = EvolutionClient(
                server.url, server.apikey, server.timeout,
                observe=app[METRICS].observe_upstream_call,
            )  # fmt: skip
            await client.start()
            stack.push_async_callback(client.close)
            tracker = InstanceTracker(
                server, app[STORE], client, app[HUB], app[METRICS], app[TASKS],
                registrations=(handlers.status.register, handlers.events.register),
                state_rule=handlers.status.intent_for_state,
                reconcile_interval=settings.reconcile_interval,
                elsewhere=functools.partial(fleet.recorded_elsewhere, server.name),
                fast_upstream=app[FAST_PATHS].upstream,
                signal=None if bus is None else _signal(bus, server.name, app[TASKS]),
            )  # fmt: skip
            fleet.add(Upstream(server, client, tracker))
        for upstream in fleet:
            await upstream.live.start()
            stack.push_async_callback(upstream.live.close)
        yield


def _signal(bus: Bus, server: str, tasks: Tasks) -> Callable[[str, str], None]:
    def signal(op: str, instance: str) -> None:
        tasks.spawn(bus.signal(op, server, instance), f"bus-signal-{op}-{instance}")

    return signal


async def context_ctx(app: web.Application) -> AsyncIterator[None]:
    """The handlers' context, once everything it holds exists."""
    app[CONTEXT] = Context(
        settings=app[SETTINGS], store=app[STORE], fleet=app[FLEET], metrics=app[METRICS]
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
    app[NOTIFIER] = Notifier(None)
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(bus_ctx)
    app.cleanup_ctx.append(hub_ctx)
    app.cleanup_ctx.append(fleet_ctx)
    app.cleanup_ctx.append(cluster_ctx)
    app.cleanup_ctx.append(context_ctx)
    app.cleanup_ctx.append(tasks_ctx)
    health.setup(app)
    hub_setup(app)
    panel.setup(app)
    routes.setup(app)
    return app


async def serve(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    app: web.Application | None = None,
    notifier: Notifier | None = None,
) -> None:
    """Run until ``stop`` is set (or SIGTERM/SIGINT when ``stop`` is None), then shut down.

    Start-up failures an operator can fix raise :class:`relay.errors.StartupFailure` (the CLI
    prints its lines and exits with its code): the listen address first, before anything
    starts, then the database (waited for up to ``RELAY_STARTUP_TIMEOUT``). Under systemd
    (``notifier``), ``READY=1`` goes out once the database is migrated, the port is bound and
    the subscription to Evolution is up or has had its first try; ``WATCHDOG=1`` pings come
    from the event loop from the very start, and ``STOPPING=1`` when shutdown begins.
    """
    started = time.monotonic()
    check_listen(settings.host, settings.port)
    notifier = notifier or Notifier(None)
    app = app or create_app(settings)
    app[NOTIFIER] = notifier
    runner = Runner(
        app, handle_signals=False, access_log=None, shutdown_timeout=settings.shutdown_timeout
    )
    stop = stop or _stop_on_signals()
    own = Tasks()  # the watchdog and status pings: they outlive the app's own tasks
    own.spawn(notifier.watchdog_loop(), "systemd-watchdog")
    notifier.status("starting: opening the database")
    try:
        if not await _unless_stopped(runner.setup(), stop):
            log.info("stopped while starting")
            return
        # A reconnect storm of thousands of browsers overflows the default backlog of 128.
        site = web.TCPSite(
            runner, settings.host, settings.port, reuse_address=True, backlog=LISTEN_BACKLOG
        )
        try:
            await site.start()
        except OSError as exc:
            raise cannot_listen(settings.host, settings.port, exc) from exc
        await _first_upstream_try(app, stop)
        log.info(
            "evo-relay listening on http://%s:%s (ready in %.2fs)",
            settings.host, _bound_port(runner, settings.port), time.monotonic() - started,
        )  # fmt: skip
        notifier.ready(status_line(app))
        if notifier.enabled:
            own.spawn(_report_status(app, notifier), "systemd-status")
        await stop.wait()
        notifier.stopping()
        log.info("shutting down: no new connections, finishing requests in flight")
    finally:
        requests = _count(app, "relay_http_requests_total")
        await runner.cleanup()
        await own.close()
        notifier.close()
        log.info(
            "evo-relay stopped after %.1fs: %d HTTP requests served",
            time.monotonic() - started, requests,
        )  # fmt: skip


def _async(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def run() -> bool:
        return check()

    return run


async def _unless_stopped(work: Awaitable[None], stop: asyncio.Event) -> bool:
    """Await ``work`` unless ``stop`` is set first (then cancel it): SIGTERM during a long
    database wait stops at once instead of after the wait."""
    job = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({job, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if job.done():
        job.result()
        return True
    job.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await job
    return False


async def _first_upstream_try(app: web.Application, stop: asyncio.Event) -> None:
    """Until every Evolution server's subscription is up or has had its first try."""
    waits = [upstream.live.upstream.tried.wait() for upstream in app[FLEET]]

    async def all_tried() -> bool:
        await asyncio.gather(*waits)
        return True

    tried = asyncio.ensure_future(all_tried())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([tried, stopped], timeout=FIRST_TRY_WAIT,
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
    finally:
        tried.cancel()
        stopped.cancel()


def status_line(app: web.Application) -> str:
    """What ``systemctl status`` shows: instances followed, the upstreams, clients connected."""
    clients = _count(app, "relay_clients")
    fleet = app.get(FLEET)
    if fleet is None:
        return f"serving: {clients} clients"
    upstreams = list(fleet)
    instances = sum(len(upstream.live.tenants) for upstream in upstreams)
    up = sum(1 for upstream in upstreams if upstream.live.upstream.connected)
    return f"serving: {instances} instances, evolution {up}/{len(upstreams)} up, {clients} clients"


async def _report_status(app: web.Application, notifier: Notifier) -> None:
    while True:
        await asyncio.sleep(STATUS_INTERVAL)
        notifier.status(status_line(app))


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
    """The process entry point: uvloop when available, then :func:`serve` with systemd's
    notify socket (``NOTIFY_SOCKET``, read here, at run time)."""
    notifier = Notifier.from_environ()
    collector.tune()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported OS
        asyncio.run(serve(settings, notifier=notifier))
    else:
        uvloop.run(serve(settings, notifier=notifier))
