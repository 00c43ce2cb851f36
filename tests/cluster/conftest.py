"""Several relay nodes as one cluster: the same Postgres schema, one Redis database, one
simulator (or two) as Evolution.

``cluster(...)`` starts the simulator(s) and records the tenants' instances, then
``Cluster.node(name)`` starts a node in this process (``create_app`` on a loopback port) and
``Cluster.spawn(name)`` one as a real ``python -m relay serve`` process (one that a test may
SIGKILL). Every node gets ``RELAY_REDIS_URL``, ``RELAY_NODE_NAME`` and a short
``RELAY_LEASE_INTERVAL``. The Redis is the machine's (a database number the test owns,
flushed first) or one the test started itself (``own_redis``), which it may stop and start.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis
from redis.exceptions import RedisError

from relay.app import create_app
from relay.appkeys import METRICS
from relay.auth import Role, mint_token
from relay.config import Settings
from relay.evolution.names import EVENTS_2_3
from relay.metrics import Metrics
from relay.store import Status, Store
from simulator import PresetInstance, SimConfig, Simulator
from tests.conftest import JWT_SECRET, MakeSimulator, free_port
from tests.faults.conftest import own_postgres  # noqa: F401 - a fixture for test_leases
from tests.fleet.conftest import KEYS as FLEET_KEYS
from tests.fleet.conftest import fleet_file
from tests.hub.conftest import Recorder, make_recorder
from tests.support import (
    advance,
    clean_env,
    eventually,
    fast_sim_config,
    missing_tool,
    true_status,
)

KEY = "cluster-sim-key"
API = "/api/instance-management"
MACHINE_REDIS = os.environ.get("RELAY_TEST_REDIS_URL", "redis://127.0.0.1:6379")
LEASE = 0.2  # seconds between a follower's attempts to take a server's leadership
CONNECT_DEADLINE = 15.0
SHUTDOWN_DEADLINE = 20.0
SLOW_QR = {"qr_first_ttl": 10.0, "qr_interval": 10.0}
"""One QR per pairing: the driver scans long before a second one, let alone the QR limit."""


async def flushed(url: str) -> str:
    """``url`` once its database is empty; fails loudly when no Redis answers there."""
    client: Redis = Redis.from_url(url)
    try:
        async with asyncio.timeout(5):
            await client.flushdb()
    except (OSError, TimeoutError, RedisError) as exc:
        missing_tool(f"no Redis answers at {url}: {exc!r}")
    finally:
        await client.aclose()
    return url


@pytest.fixture
def machine_redis() -> Callable[[int], Awaitable[str]]:
    """``await machine_redis(9)`` -> the URL of database 9 of the machine's Redis, flushed."""

    async def make(db: int) -> str:
        assert 9 <= db <= 12, "the cluster tests own databases 9..12 only"
        return await flushed(f"{MACHINE_REDIS}/{db}")

    return make


class OwnRedis:
    """A ``redis-server`` of the test's own on a free port, without persistence."""

    def __init__(self, root: Path) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            missing_tool("redis-server is not installed")
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        assert self.proc is None or self.proc.returncode is not None
        log = (self.root / "redis.log").open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.root),
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()

        async def answers() -> bool:
            client: Redis = Redis.from_url(self.url)
            try:
                async with asyncio.timeout(1):
                    return bool(await client.ping())
            except (OSError, TimeoutError, RedisError):
                return False  # not listening yet
            finally:
                await client.aclose()

        await eventually(answers, 10, what=f"redis-server on port {self.port}")

    async def stop(self) -> None:
        """SIGTERM, as an operator's restart does; waits for the process to end."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            await self.proc.wait()


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[OwnRedis]:
    root = tmp_path / "redis"
    root.mkdir()
    server = OwnRedis(root)
    await server.start()
    yield server
    if server.proc is not None and server.proc.returncode is None:
        server.proc.kill()
        await server.proc.wait()


def running_tasks() -> str:
    """Every task of the loop but this one, with where it waits (for a shutdown that hangs)."""
    lines = []
    for task in asyncio.all_tasks():
        if task is asyncio.current_task():
            continue
        frames = task.get_stack(limit=3)
        where = " <- ".join(f"{f.f_code.co_filename.rsplit('/', 2)[-1]}:{f.f_lineno} "
                            f"{f.f_code.co_name}" for f in frames)  # fmt: skip
        lines.append(f"{task.get_name()}: {where}")
    return "\n".join(sorted(lines))


@dataclass
class Node:
    """One relay of the cluster, in this process (``app``) or a child process (``proc``)."""

    name: str
    url: str
    app: web.Application | None = None
    server: TestServer | None = None
    proc: asyncio.subprocess.Process | None = None
    log: Path | None = None

    @property
    def metrics(self) -> Metrics:
        assert self.app is not None, "metrics objects exist for in-process nodes only"
        return self.app[METRICS]

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""

    def alive(self) -> bool:
        return self.proc is None or self.proc.returncode is None

    async def close(self) -> None:
        if self.server is not None:
            server, self.server = self.server, None
            try:
                async with asyncio.timeout(SHUTDOWN_DEADLINE):
                    await server.close()
            except TimeoutError:
                raise AssertionError(
                    f"node {self.name} did not shut down within {SHUTDOWN_DEADLINE} s; "
                    f"tasks still running:\n{running_tasks()}"
                ) from None
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(15):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    async def kill(self) -> None:
        """SIGKILL: no shutdown, the Postgres sessions and sockets die with the process."""
        assert self.proc is not None, "only a spawned node can be killed"
        self.proc.kill()
        async with asyncio.timeout(10):
            await self.proc.wait()


@dataclass
class Cluster:
    """Nodes, simulators, the test's own store, recording clients and an HTTP session."""

    sims: dict[str, Simulator]
    redis_url: str
    database_url: str
    settings: Settings
    store: Store
    tmp: Path
    names: dict[str, str]  # instance -> tenant
    nodes: dict[str, Node] = field(default_factory=dict)
    clients: list[Recorder] = field(default_factory=list)
    http: aiohttp.ClientSession = field(default_factory=aiohttp.ClientSession)
    make_settings: Callable[..., Settings] = Settings
    node_settings: dict[str, Any] = field(default_factory=dict)
    node_env: dict[str, str] = field(default_factory=dict)

    @property
    def sim(self) -> Simulator:
        (only,) = self.sims.values()
        return only

    # -- nodes --------------------------------------------------------------------------------

    async def node(self, name: str, **overrides: Any) -> Node:
        """A node in this process."""
        settings = self.make_settings(
            redis_url=self.redis_url, node_name=name, lease_interval=LEASE,
            **{**self.node_settings, **overrides},
        )  # fmt: skip
        app = create_app(settings)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        node = Node(name, str(server.make_url("")).rstrip("/"), app=app, server=server)
        self.nodes[name] = node
        await self.wait_ready(node)
        return node

    async def spawn(self, name: str, **env: str) -> Node:
        """A node as a real ``python -m relay serve`` process, its output in a file."""
        port = free_port()
        log = self.tmp / f"node-{name}.log"
        variables = {
            "RELAY_DATABASE_URL": self.database_url, "RELAY_REDIS_URL": self.redis_url,
            "RELAY_NODE_NAME": name, "RELAY_LEASE_INTERVAL": str(LEASE),
            "RELAY_JWT_SECRET": JWT_SECRET, "RELAY_DATA_DIR": str(self.tmp / f"data-{name}"),
            **self.node_env, **env,
        }  # fmt: skip
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "relay", "serve", "--host", "127.0.0.1", "--port", str(port),
                env=clean_env(**variables), cwd=self.tmp, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        node = Node(name, f"http://127.0.0.1:{port}", proc=proc, log=log)
        self.nodes[name] = node
        await self.wait_ready(node)
        return node

    async def wait_ready(self, node: Node, within: float = 45) -> None:
        async def ready() -> bool:
            if not node.alive():
                raise AssertionError(f"node {node.name} exited: {node.output()[-3000:]}")
            body = await self.readyz(node)
            return body is not None and body.get("cluster", {}).get("bus") == "up"

        await eventually(ready, within, what=f"node {node.name} ready with the bus up")

    async def readyz(self, node: Node) -> dict[str, Any] | None:
        """``/readyz``'s body (whatever its status), or None when the node does not answer."""
        try:
            async with asyncio.timeout(5), self.http.get(f"{node.url}/readyz") as reply:
                body: dict[str, Any] = await reply.json()
                return body
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def leading(self, server: str = "default") -> list[str]:
        """The nodes whose ``/readyz`` says they lead ``server``."""
        found = []
        for node in list(self.nodes.values()):
            if not node.alive():
                continue
            body = await self.readyz(node)
            if body and server in body.get("cluster", {}).get("leading", []):
                found.append(node.name)
        return found

    async def one_leader(self, server: str = "default", within: float = 20) -> str:
        leaders: list[str] = await eventually(
            lambda: self.leading(server), within, until=lambda found: len(found) == 1,
            what=f"exactly one node leading {server}",
        )  # fmt: skip
        return leaders[0]

    # -- clients and calls --------------------------------------------------------------------

    def token(self, tenant: str | None, role: Role = Role.ADMIN) -> str:
        return mint_token(self.settings, tenant=tenant, role=role, user="u", ttl=600)

    async def client(
        self, node: Node, tenant: str | None, role: Role = Role.ADMIN, last_seq: Any = None
    ) -> Recorder:
        recorder = make_recorder()
        self.clients.append(recorder)
        auth: dict[str, Any] = {"token": self.token(tenant, role)}
        if last_seq is not None:
            auth["lastSeq"] = last_seq
        async with asyncio.timeout(CONNECT_DEADLINE):
            await recorder.client.connect(
                node.url, auth=auth, transports=["websocket"], wait_timeout=CONNECT_DEADLINE
            )
        await recorder.wait_count("instances.snapshot", 1)
        return recorder

    async def call(
        self, node: Node, method: str, path: str, tenant: str | None,
        body: dict[str, Any] | None = None, role: Role = Role.ADMIN,
    ) -> tuple[int, Any]:  # fmt: skip
        headers = {"Authorization": f"Bearer {self.token(tenant, role)}"}
        async with (
            asyncio.timeout(20),
            self.http.request(method, f"{node.url}{API}/{path}", json=body,
                              headers=headers) as reply,
        ):  # fmt: skip
            return reply.status, await reply.json()

    async def status(self, name: str) -> Status | None:
        row = await self.store.get_instance(name)
        return None if row is None else row.status

    async def stored(self) -> dict[str, Status]:
        return {i.name: i.status for i in await self.store.list_instances()}

    async def converged(self, server: str = "default") -> bool:
        """Every instance's stored status is the simulator's truth."""
        stored = await self.stored()
        sim = self.sims[server]
        return all(stored.get(n) is true_status(sim.store.get(n)) for n in self.names)

    async def close(self) -> None:
        for recorder in self.clients:
            with contextlib.suppress(Exception):  # a client of a killed node: already gone
                async with asyncio.timeout(5):
                    await recorder.client.disconnect()
        hung: list[AssertionError] = []
        for node in reversed(list(self.nodes.values())):
            try:
                await node.close()
            except AssertionError as exc:  # close the others, then say which one hung
                hung.append(exc)
        await self.http.close()
        if hung:
            raise hung[0]


MakeCluster = Callable[..., Awaitable[Cluster]]
StartSimulator = Callable[[SimConfig], Awaitable[Simulator]]


async def build_cluster(
    start_sim: StartSimulator,
    store: Store,
    database_url: str,
    make_settings: Callable[..., Settings],
    tmp: Path,
    redis_url: str,
    presets: list[PresetInstance] | dict[str, list[PresetInstance]],
    names: dict[str, str],
    *,
    mode: str = "instance",
    sim: dict[str, Any] | None = None,
    **node_settings: Any,
) -> Cluster:
    """Simulators, recorded instances and settings for nodes still to start.

    ``presets`` as a list: one Evolution server (``default``); as a dict ``{"evo-a": [...],
    "evo-b": [...]}``: a fleet, each server with its key from ``tests.fleet.conftest.KEYS``.
    The instances in ``names`` (instance -> tenant) are recorded on their server with the
    status the preset implies and every websocket event enabled, so that the nodes' first
    reconciliation changes nothing.
    """
    by_server = presets if isinstance(presets, dict) else {"default": presets}
    sims: dict[str, Simulator] = {}
    for server, mine in by_server.items():
        key = KEY if server == "default" else FLEET_KEYS[server]
        config = fast_sim_config(key, presets=mine, global_events=mode == "global",
                                 **{**SLOW_QR, **(sim or {})})  # fmt: skip
        sims[server] = await start_sim(config)
    for server, mine in by_server.items():
        for preset in mine:
            if preset.name in names:
                await store.create_instance(
                    names[preset.name], preset.name,
                    status=true_status(sims[server].store.get(preset.name)), reason="test",
                    websocket_enabled=True, websocket_events=EVENTS_2_3,
                    **({} if server == "default" else {"server": server}),
                )  # fmt: skip
    if isinstance(presets, dict):
        fleet = fleet_file(tmp / "fleet.toml", sims, {}, mode)
        base: dict[str, Any] = {"evolution_url": None, "evolution_apikey": None,
                                "evolution_servers": fleet}  # fmt: skip
        env = {"RELAY_EVOLUTION_SERVERS": str(fleet)}
    else:
        url = sims["default"].base_url
        base = {"evolution_url": url, "evolution_apikey": KEY, "evolution_events_mode": mode}
        env = {"RELAY_EVOLUTION_URL": url or "", "RELAY_EVOLUTION_APIKEY": KEY,
               "RELAY_EVOLUTION_EVENTS_MODE": mode}  # fmt: skip
    env |= {f"RELAY_{key.upper()}": str(value) for key, value in node_settings.items()}
    return Cluster(
        sims, redis_url, database_url, make_settings(**base), store, tmp, names,
        make_settings=lambda **more: make_settings(**base, **more),
        node_settings=node_settings, node_env=env,
    )  # fmt: skip


@pytest.fixture
async def cluster(
    make_simulator: MakeSimulator,
    store: Store,
    database_url: str,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> AsyncIterator[MakeCluster]:
    """``await cluster(redis_url, presets, names, mode=..., sim=..., **node_settings)``: see
    :func:`build_cluster`; every node, client and simulator is closed after the test."""
    made: list[Cluster] = []

    async def make(redis_url: str, presets: Any, names: dict[str, str], **options: Any) -> Cluster:
        built = await build_cluster(make_simulator, store, database_url, make_settings, tmp_path,
                                    redis_url, presets, names, **options)  # fmt: skip
        made.append(built)
        return built

    yield make
    for built in reversed(made):
        await built.close()


def numbered(recorder: Recorder) -> list[tuple[str, Any]]:
    """The tenant's numbered events the client received, in arrival order: not the snapshot,
    not ``upstream.status`` or ``cluster.status``."""
    return [
        (name, data) for name, data in recorder.events
        if name != "instances.snapshot" and isinstance(data, dict) and "seq" in data
    ]  # fmt: skip


def seqs(recorder: Recorder) -> list[int]:
    """The ``seq`` of every numbered event the client received, in arrival order."""
    return [data["seq"] for _, data in numbered(recorder)]


def message_ids(recorder: Recorder) -> set[str]:
    """The ids of the ``messages.upsert`` events the client received."""
    return {d["data"]["key"]["id"] for d in recorder.named("messages.upsert")}


def contiguous(numbers: list[int]) -> bool:
    return all(b == a + 1 for a, b in itertools.pairwise(numbers))


@dataclass
class Driver:
    """Load from the simulator's side: real status transitions round-robin over ``names``
    (open -> logged out on the phone -> connect -> QR -> scanned -> open) at ``steps`` per
    second, and ``messages`` ``messages.upsert`` events per second on the open instances."""

    sim: Simulator
    names: list[str]
    http: aiohttp.ClientSession
    steps: float = 20.0
    messages: float = 180.0
    made_steps: int = 0
    sent: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)

    async def step(self, name: str) -> None:
        if await advance(self.sim, self.http, name, KEY):
            self.made_steps += 1

    async def _transitions(self) -> None:
        turn = 0
        while True:
            await self.step(self.names[turn % len(self.names)])
            turn += 1
            await asyncio.sleep(1 / self.steps)

    async def _messages(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            await asyncio.sleep(0.02)
            due = int((loop.time() - started) * self.messages) - self.sent
            open_now = [n for n in self.names if self.sim.instance(n).state == "open"]
            for _ in range(due if open_now else 0):
                name = open_now[self.sent % len(open_now)]
                self.sent += 1
                data = {"key": {"id": f"load-{self.sent}"}, "message": {"conversation": "x"}}
                await self.sim.emit(name, "messages.upsert", data)

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._transitions()),
                      asyncio.create_task(self._messages())]  # fmt: skip

    async def wait_steps(self, count: int) -> None:
        target = self.made_steps + count
        await eventually(lambda: self.made_steps >= target, count / self.steps * 5 + 10,
                         what=f"{count} more transitions")  # fmt: skip

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        tasks, self.tasks = self.tasks, []
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task  # a driver that failed raises its error here
