"""Every status change survives a Postgres outage, and the relay heals without a restart.

The relay runs against a cluster of the test's own (``own_postgres``), with the simulator as
Evolution. A driver moves the instances through real transitions at about 10 per second (the
simulator emits the events Evolution would); meanwhile Postgres is stopped for 8 s and started
again, or every connection the relay holds is terminated. Afterwards every stored status equals
the simulator's truth, ``instance.status`` reaches clients again, and ``/readyz`` went 503 and
came back to 200.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from relay.app import create_app
from relay.auth import Role, mint_token
from relay.config import Settings
from relay.store import Status, Store
from simulator import PresetInstance, Simulator
from tests.conftest import MakeSimulator
from tests.faults.conftest import OwnPostgres
from tests.hub.conftest import Recorder, make_recorder
from tests.support import advance, eventually, fast_sim_config, true_status

KEY = "faults-sim-key"
TENANT = "tenant-f"
NAMES = [f"f{i}" for i in range(8)]
STEP_EVERY = 0.1  # ten transitions a second

pytestmark = pytest.mark.timeout(120)


@dataclass
class Driver:
    """Moves one instance a step every ``STEP_EVERY`` seconds: open → STOPPED (logged out on the
    phone) → connect → QR → scanned → open, round-robin over the instances."""

    sim: Simulator
    http: aiohttp.ClientSession
    steps: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def step(self, name: str) -> None:
        if await advance(self.sim, self.http, name, KEY):
            self.steps += 1

    async def run(self) -> None:
        turn = 0
        while True:
            await self.step(NAMES[turn % len(NAMES)])
            turn += 1
            await asyncio.sleep(STEP_EVERY)

    def start(self) -> None:
        self.task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@dataclass
class Scene:
    sim: Simulator
    driver: Driver
    client: Recorder
    url: str
    http: aiohttp.ClientSession
    dsn: str
    readyz: list[int] = field(default_factory=list)

    async def stored(self) -> dict[str, Status]:
        store = await Store.open(self.dsn)
        try:
            return {i.name: i.status for i in await store.list_instances()}
        finally:
            await store.close()

    async def converged(self) -> bool:
        try:
            stored = await self.stored()
        except OSError:
            return False
        return all(stored.get(name) is true_status(self.sim.instance(name)) for name in NAMES)

    async def poll_readyz(self) -> None:
        while True:
            try:
                async with self.http.get(f"{self.url}/readyz") as reply:
                    self.readyz.append(reply.status)
            except aiohttp.ClientError:
                self.readyz.append(0)
            await asyncio.sleep(0.1)


@pytest.fixture
async def scene(
    own_postgres: OwnPostgres,
    aiohttp_server: Any,
    make_simulator: MakeSimulator,
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Scene]:
    presets = [PresetInstance(name, state="open") for name in NAMES]
    sim = await make_simulator(fast_sim_config(KEY, presets=presets))
    store = await Store.open(own_postgres.dsn)
    for name in NAMES:
        await store.create_instance(TENANT, name, status=Status.WORKING, reason="test",
                                    websocket_enabled=True)  # fmt: skip
    await store.close()
    settings = make_settings(
        database_url=own_postgres.dsn, evolution_url=sim.base_url, evolution_apikey=KEY
    )
    server = await aiohttp_server(create_app(settings))
    url = str(server.make_url("")).rstrip("/")
    client = make_recorder()
    token = mint_token(settings, tenant=TENANT, role=Role.ADMIN, user="ops", ttl=600)
    await client.client.connect(url, auth={"token": token}, transports=["websocket"])
    await client.wait_count("instances.snapshot", 1)
    async with aiohttp.ClientSession() as http:
        scene = Scene(sim, Driver(sim, http), client, url, http, own_postgres.dsn)
        poller = asyncio.create_task(scene.poll_readyz())
        try:
            yield scene
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            if scene.driver.task is not None:
                await scene.driver.stop()
            await client.client.disconnect()


async def _steps(scene: Scene, count: int) -> None:
    """Let the driver make ``count`` more transitions (about count / 10 seconds)."""
    target = scene.driver.steps + count
    await eventually(lambda: scene.driver.steps >= target, within=count * STEP_EVERY * 5 + 10)


async def _heals(scene: Scene) -> None:
    await scene.driver.stop()
    await eventually(scene.converged, within=30)
    await eventually(lambda: scene.readyz[-3:] == [200, 200, 200], within=30)
    # instance.status flows again: one more real change reaches the client.
    name = NAMES[0]
    before = len(scene.client.named("instance.status"))
    await scene.driver.step(name)
    await scene.client.wait(
        lambda r: any(s["instanceName"] == name for s in r.named("instance.status")[before:]),
        "an instance.status after the outage",
    )
    await eventually(scene.converged, within=30)


async def test_postgres_stopped_for_8_s_loses_no_status(
    scene: Scene, own_postgres: OwnPostgres
) -> None:
    scene.driver.start()
    await _steps(scene, 10)
    await own_postgres.stop()
    during = scene.driver.steps
    await _steps(scene, 80)  # eight seconds of transitions with the database down
    await own_postgres.start()
    await _steps(scene, 10)
    assert scene.driver.steps - during >= 80
    await _heals(scene)
    assert 503 in scene.readyz, scene.readyz  # it said so while the database was down
    statuses = scene.client.named("instance.status")
    assert len(statuses) >= 100  # the transitions reached the client, none swallowed
    # status_history got rows for what happened during the outage, in order: each instance's
    # newest history row is its true status.
    store = await Store.open(own_postgres.dsn)
    try:

        async def history_true() -> bool:
            latest = [(await store.status_history(name, 1))[0].status for name in NAMES]
            return latest == [true_status(scene.sim.instance(name)) for name in NAMES]

        await eventually(history_true)
    finally:
        await store.close()


async def test_terminated_connections_lose_no_status(
    scene: Scene, own_postgres: OwnPostgres
) -> None:
    scene.driver.start()
    await _steps(scene, 10)
    terminated = 0
    for _ in range(5):
        terminated += await own_postgres.terminate_others()
        await _steps(scene, 5)
    assert terminated >= 5  # the relay's pool connections really were cut
    await _heals(scene)
