"""The whole relay (``create_app`` on a loopback port) in front of an unkind simulator.

``relay_for(presets, mode=..., sim=..., tenants=...)`` starts the simulator with the given
presets and timings, records the instances named in ``tenants`` for their tenants, starts the
relay in ``instance`` or ``global`` events mode, and returns a :class:`Stage` with an HTTP
caller and a factory of recording Socket.IO clients. Everything is closed at teardown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from relay.app import create_app
from relay.appkeys import METRICS, STORE
from relay.auth import Role, mint_token
from relay.config import Settings
from relay.metrics import Metrics
from relay.store import Status, Store
from simulator import PresetInstance, Simulator
from tests.conftest import MakeSimulator
from tests.hub.conftest import Recorder, make_recorder
from tests.support import fast_sim_config

KEY = "statuses-sim-key"
API = "/api/instance-management"


@dataclass
class Stage:
    sim: Simulator
    url: str
    store: Store
    metrics: Metrics
    settings: Settings
    http: aiohttp.ClientSession
    clients: list[Recorder] = field(default_factory=list)

    def token(self, tenant: str | None, role: Role = Role.ADMIN) -> str:
        return mint_token(self.settings, tenant=tenant, role=role, user="u", ttl=600)

    async def client(self, tenant: str | None, role: Role = Role.ADMIN) -> Recorder:
        recorder = make_recorder()
        self.clients.append(recorder)
        await recorder.client.connect(
            self.url, auth={"token": self.token(tenant, role)}, transports=["websocket"]
        )
        await recorder.wait_count("instances.snapshot", 1)
        return recorder

    async def call(
        self, method: str, path: str, tenant: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token(tenant)}"}
        async with self.http.request(
            method, f"{self.url}{API}/{path}", json=body, headers=headers
        ) as reply:
            return reply.status, await reply.json()

    async def status(self, name: str) -> Status | None:
        row = await self.store.get_instance(name)
        return None if row is None else row.status

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.metrics.registry.get_sample_value(name, labels or {}) or 0.0


RelayFor = Callable[..., Awaitable[Stage]]


@pytest.fixture
async def relay_for(
    aiohttp_server: Any,
    make_simulator: MakeSimulator,
    store: Store,
    make_settings: Callable[..., Settings],
) -> AsyncIterator[RelayFor]:
    opened: list[Stage] = []

    async def make(
        presets: list[PresetInstance],
        *,
        tenants: dict[str, str] | None = None,
        mode: str = "instance",
        sim: dict[str, Any] | None = None,
        **settings: Any,
    ) -> Stage:
        config = fast_sim_config(
            KEY, presets=presets, global_events=mode == "global", **(sim or {})
        )
        simulator = await make_simulator(config)
        for name, tenant in (tenants or {}).items():
            await store.create_instance(tenant, name, status=Status.STOPPED, reason="test",
                                        websocket_enabled=True)  # fmt: skip
        relay_settings = make_settings(
            evolution_url=simulator.base_url, evolution_apikey=KEY,
            evolution_events_mode=mode, **settings,
        )  # fmt: skip
        app = create_app(relay_settings)
        server = await aiohttp_server(app)
        stage = Stage(
            simulator, str(server.make_url("")).rstrip("/"), app[STORE], app[METRICS],
            relay_settings, aiohttp.ClientSession(),
        )  # fmt: skip
        opened.append(stage)
        return stage

    yield make
    for stage in reversed(opened):
        for recorder in stage.clients:
            await recorder.client.disconnect()
        await stage.http.close()
