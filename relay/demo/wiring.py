"""The demo's wiring: what ``evo-relay demo`` and the browser tests start.

:func:`running` starts, on loopback: an embedded Postgres
of its own in ``<data dir>/demo`` (so the demo never touches a ``serve`` database), a fleet of
two Evolution simulators (``evo-1`` and ``evo-2``, each with its own key and its share of the
:data:`SEED` instances), and the relay following both through a fleet file, with the seed
recorded for its tenants. Rows of the demo's tenants left by a previous run are reset
first, so every start is the same. The JWT secret is kept in the demo's data dir, so links
printed by an earlier run keep working.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import redis.asyncio as aioredis
from aiohttp import web
from pydantic import SecretStr
from redis.exceptions import RedisError

from relay.app import create_app
from relay.appkeys import FLEET, READINESS
from relay.auth import Role, mint_token
from relay.config import Settings, load_settings
from relay.errors import DependencyUnavailable
from relay.store import Status, Store
from relay.store.embedded import EmbeddedPostgres
from simulator import PresetInstance, SimConfig, Simulator
from simulator.config import State

log = logging.getLogger(__name__)

TENANT_A = "tenant-a"
TENANT_B = "tenant-b"
DEMO_EVENTS = (
    "CONNECTION_UPDATE",
    "QRCODE_UPDATED",
    "MESSAGES_UPSERT",
    "LOGOUT_INSTANCE",
    "REMOVE_INSTANCE",
    "STATUS_INSTANCE",
)
READY_TIMEOUT = 20.0
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True, slots=True)
class Seed:
    name: str
    tenant: str
    state: Literal["pairing", "open", "close"]
    profile_name: str | None = None
    wuid: str | None = None
    server: str = "evo-1"


SEED: tuple[Seed, ...] = (
    Seed("a-vendas", TENANT_A, "pairing"),
    Seed("a-suporte", TENANT_A, "open", "Suporte Loja A", "5511990000001@s.whatsapp.net"),
    Seed("a-financeiro", TENANT_A, "close", server="evo-2"),
    Seed("b-recepcao", TENANT_B, "open", "Recepção Clínica B", "5521990000002@s.whatsapp.net",
         server="evo-2"),
)  # fmt: skip
# The demo's fleet: name -> (API key, capacity). Placement fills the most free capacity.
SERVERS: dict[str, tuple[str, int]] = {
    "evo-1": ("demo-key-evo-1", 50),
    "evo-2": ("demo-key-evo-2", 50),
}
_SEED_STATUS = {"pairing": Status.STARTING, "open": Status.WORKING, "close": Status.STOPPED}
# A pairing instance is already connecting when the simulator starts, so its Socket.IO
# namespace exists (Evolution creates them lazily) and the relay can join it at once.
_SIM_STATE: dict[str, State] = {"pairing": "connecting", "open": "open", "close": "close"}


@dataclass(frozen=True, slots=True)
class DemoOptions:
    host: str = "127.0.0.1"
    port: int = 3001
    sim_port: int = 8080
    """The first simulator's port; the second takes the next one."""
    data_dir: Path = Path(".evo-relay")
    database_url: str | None = None
    """None: the demo's own embedded Postgres in ``data_dir / "demo"``."""
    qr_interval: float = 10.0
    token_ttl: float = 7 * 24 * 3600
    log_level: str = "WARNING"
    cors_origins: tuple[str, ...] = ()
    """Other origins whose pages may use the relay (a SaaS frontend importing /client.js)."""
    nodes: int = 1
    """More than one: a cluster of relay nodes on ``redis_url``, on ports ``port``, ``port+1``…"""
    redis_url: str = DEFAULT_REDIS_URL


class RelayRunner:
    """The relay on one address, which can be stopped and started again as a restart would
    (same port, same database): the browser tests' "relay stopped" fault."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._app: web.Application | None = None

    @property
    def app(self) -> web.Application:
        if self._app is None:
            raise RuntimeError("the relay is not running")
        return self._app

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> str:
        app = create_app(self.settings)
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None,
            shutdown_timeout=self.settings.shutdown_timeout,
        )  # fmt: skip
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.settings.host, self.settings.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        # A restart binds the port the first start was given.
        self.settings = self.settings.model_copy(update={"port": port})
        self._runner, self._app = runner, app
        self.url = f"http://{self.settings.host}:{port}"
        return self.url

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()


@dataclass(slots=True)
class Demo:
    """What is running: addresses, the simulators, the relay and ready-made tokens."""

    relay_url: str
    simulators: dict[str, Simulator]
    relay: RelayRunner
    settings: Settings
    options: DemoOptions
    tokens: dict[str, str] = field(default_factory=dict)
    peers: list[RelayRunner] = field(default_factory=list)
    """The cluster's other nodes (``--nodes``); ``relay`` is the first."""

    @property
    def nodes(self) -> list[RelayRunner]:
        return [self.relay, *self.peers]

    @property
    def simulator(self) -> Simulator:
        """``evo-1``, the server of tenant A's pairing instance."""
        return self.simulators["evo-1"]

    @property
    def app(self) -> web.Application:
        """The relay's running app (a new one after :meth:`RelayRunner.start`)."""
        return self.relay.app

    @property
    def simulator_url(self) -> str:
        assert self.simulator.base_url is not None
        return self.simulator.base_url

    def panel_url(self, who: str = "tenant-a") -> str:
        return f"{self.relay_url}/#token={self.tokens[who]}"

    def mint(self, tenant: str | None, role: Role, user: str, ttl: float = 3600) -> str:
        return mint_token(self.settings, tenant=tenant, role=role, user=user, ttl=ttl)


def port_or_free(host: str, port: int) -> int:
    """``port`` when nothing listens on it, else 0 (the server then picks a free one).

    The probe binds with ``SO_REUSEADDR``, as the servers do: a demo restarted right after a
    stop gets its ports back although the last connections are still in TIME_WAIT, so open
    panel tabs reconnect to the same address.
    """
    if port == 0:
        return 0
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            log.info("port %s is busy; taking a free one", port)
            return 0
    return port


def demo_secret(directory: Path) -> str:
    """The demo's JWT secret, created on first use and kept (mode 0600) in ``directory``."""
    path = directory / "jwt-secret"
    if path.exists():
        secret = path.read_text().strip()
        if len(secret) >= 32:
            return secret
    directory.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")
    return secret


def simulator_config(qr_interval: float, server: str = "evo-1") -> SimConfig:
    presets = [
        PresetInstance(
            name=seed.name,
            state=_SIM_STATE[seed.state],
            websocket_events=DEMO_EVENTS,
            wuid=seed.wuid,
            profile_name=seed.profile_name,
        )
        for seed in SEED
        if seed.server == server
    ]
    # A high QR limit: the demo's pairing instance keeps rotating QRs for as long as it runs.
    # The first QR rotates like the others (not after Baileys' 60 s), so the panel shows it.
    return SimConfig(
        apikey=SERVERS[server][0], presets=presets, qr_interval=qr_interval,
        qr_first_ttl=qr_interval, qr_limit=100_000,
    )  # fmt: skip


def fleet_file(directory: Path, simulators: dict[str, Simulator]) -> Path:
    """The demo's ``RELAY_EVOLUTION_SERVERS`` file (TOML), one ``[[server]]`` per simulator."""
    tables = [
        f'[[server]]\nname = "{name}"\nurl = "{sim.base_url}"\napikey = "{SERVERS[name][0]}"\n'
        f'events_mode = "instance"\ncapacity = {SERVERS[name][1]}\n'
        for name, sim in simulators.items()
    ]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "fleet.toml"
    path.write_text("\n".join(tables))
    return path


async def record_seed(store: Store) -> None:
    """Reset the demo tenants' rows, then record the seed with its websocket events."""
    for tenant in (TENANT_A, TENANT_B):
        for old in await store.list_instances(tenant):
            await store.delete_instance(old.name)
    for seed in SEED:
        await store.create_instance(
            seed.tenant,
            seed.name,
            status=_SEED_STATUS[seed.state],
            reason="demo seed",
            websocket_enabled=True,
            websocket_events=DEMO_EVENTS,
            server=seed.server,
        )
        if seed.state == "open":
            await store.update_status(
                seed.name, Status.WORKING, "demo seed", wuid=seed.wuid,
                profile_name=seed.profile_name,
            )  # fmt: skip


async def poll(condition: Callable[[], Awaitable[bool]], within: float) -> bool:
    """Check ``condition`` every 50 ms until it holds, for at most ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def wait_ready(
    app: web.Application, within: float = READY_TIMEOUT, *, peers: Sequence[web.Application] = ()
) -> bool:
    """Until every readiness check passes and the relay (or, in a cluster, the node that
    follows each server) has joined each seed's namespace."""

    async def ready() -> bool:
        checks = list(app[READINESS].values())
        results = await asyncio.gather(*(check() for check in checks), return_exceptions=True)
        return all(result is True for result in results)

    async def joined() -> bool:
        followed = [up.live.upstream for node in (app, *peers) for up in node[FLEET]]
        return all(
            any(sub.subscribed(s.name) for sub in followed) for s in SEED if s.state != "close"
        )

    return await poll(ready, within) and await poll(joined, within)


@asynccontextmanager
async def embedded_or(options: DemoOptions) -> AsyncIterator[str]:
    if options.database_url is not None:
        yield options.database_url
        return
    embedded = EmbeddedPostgres(options.data_dir / "demo")
    dsn = await embedded.start()
    try:
        yield dsn
    finally:
        await embedded.stop()


@asynccontextmanager
async def running(options: DemoOptions) -> AsyncIterator[Demo]:
    """Start everything; stop it all (in reverse) when the block exits."""
    simulators: dict[str, Simulator] = {}
    try:
        for offset, server in enumerate(SERVERS):
            simulator = simulators[server] = Simulator(
                simulator_config(options.qr_interval, server)
            )
            wanted = options.sim_port + offset if options.sim_port else 0
            await simulator.start(options.host, port_or_free(options.host, wanted))
        async with embedded_or(options) as dsn:
            settings = load_settings(
                host=options.host,
                port=port_or_free(options.host, options.port),
                database_url=dsn,
                data_dir=options.data_dir,
                evolution_servers=fleet_file(options.data_dir / "demo", simulators),
                jwt_secret=demo_secret(options.data_dir / "demo"),
                jwt_algorithms=["HS256"],
                log_level=options.log_level,
                cors_origins=list(options.cors_origins),
            )
            store = await Store.open(dsn)
            try:
                await record_seed(store)
            finally:
                await store.close()
            if options.nodes > 1:
                await require_redis(options.redis_url)
                settings = settings.model_copy(
                    update={"redis_url": SecretStr(options.redis_url), "node_name": "node-1"}
                )
            relay = RelayRunner(settings)
            relay_url = await relay.start()
            demo = Demo(relay_url, simulators, relay, relay.settings, options)
            try:
                for number in range(2, options.nodes + 1):
                    port = port_or_free(options.host, relay.settings.port + number - 1)
                    peer = RelayRunner(settings.model_copy(
                        update={"port": port, "node_name": f"node-{number}"}
                    ))  # fmt: skip
                    demo.peers.append(peer)
                    await peer.start()
                demo.tokens = ready_tokens(demo, options.token_ttl)
                await start_pairing(demo)
                yield demo
            finally:
                for node in reversed(demo.nodes):
                    await node.stop()
    finally:
        for simulator in simulators.values():
            await simulator.stop()


async def require_redis(url: str) -> None:
    """A cluster demo needs the machine's Redis: say so plainly when there is none."""
    client = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        raise DependencyUnavailable(
            [
                f"--nodes needs a Redis: none answers at {url} ({exc}); start one "
                "(Debian: apt install redis-server) or pass --redis-url"
            ]
        ) from exc
    finally:
        await client.aclose()


def ready_tokens(demo: Demo, ttl: float) -> dict[str, str]:
    return {
        "tenant-a": demo.mint(TENANT_A, Role.ADMIN, "ana@tenant-a", ttl),
        "tenant-b": demo.mint(TENANT_B, Role.ADMIN, "bruno@tenant-b", ttl),
        "superadmin": demo.mint(None, Role.SUPERADMIN, "root", ttl),
    }


async def start_pairing(demo: Demo) -> None:
    """Once the relay follows the upstream, restart the pairing instances' QR cycle, so the
    first QR shows at once instead of one ``qr_interval`` later."""
    if not await wait_ready(demo.app, peers=[peer.app for peer in demo.peers]):
        log.warning("relay not ready after %ss; starting the QR cycle anyway", READY_TIMEOUT)
    for seed in SEED:
        if seed.state == "pairing":
            simulator = demo.simulators[seed.server]
            await simulator.machine.start_connecting(simulator.instance(seed.name))
            log.info("demo instance %s (tenant %s) is pairing", seed.name, seed.tenant)
