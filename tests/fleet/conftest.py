"""Two simulated Evolution servers with different keys behind one relay (a fleet file).

``fleet(...)`` starts ``evo-a`` and ``evo-b`` (each its own key, presets and capacity), writes
the fleet file, records the given instances on their server for their tenant, and starts the
whole relay; the :class:`Fleet` it returns has an HTTP caller and recording Socket.IO clients.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
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

API = "/api/instance-management"
KEYS = {"evo-a": "key-of-evo-a-0001", "evo-b": "key-of-evo-b-0002"}


def fleet_file(path: Path, sims: dict[str, Simulator], capacity: dict[str, int | None],
               mode: str = "instance") -> Path:  # fmt: skip
    tables = []
    for name, sim in sims.items():
        lines = ["[[server]]", f'name = "{name}"', f'url = "{sim.base_url}"',
                 f'apikey = "{KEYS[name]}"', f'events_mode = "{mode}"']  # fmt: skip
        if capacity.get(name) is not None:
            lines.append(f"capacity = {capacity[name]}")
        tables.append("\n".join(lines))
    path.write_text("\n\n".join(tables) + "\n")
    return path


@dataclass
class Fleet:
    sims: dict[str, Simulator]
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
        self, method: str, path: str, tenant: str | None, body: dict[str, Any] | None = None,
        role: Role = Role.ADMIN,
    ) -> tuple[int, Any]:  # fmt: skip
        headers = {"Authorization": f"Bearer {self.token(tenant, role)}"}
        async with self.http.request(
            method, f"{self.url}{API}/{path}", json=body, headers=headers
        ) as reply:
            return reply.status, await reply.json()

    def calls(self, server: str, path_prefix: str) -> list[Any]:
        return self.sims[server].calls.matching(path_prefix=path_prefix)

    async def status(self, name: str) -> Status | None:
        row = await self.store.get_instance(name)
        return None if row is None else row.status

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.metrics.registry.get_sample_value(name, labels or {}) or 0.0


MakeFleet = Callable[..., Awaitable[Fleet]]


@pytest.fixture
async def fleet(
    aiohttp_server: Any, store: Store, make_settings: Callable[..., Settings],
    make_simulator: MakeSimulator, tmp_path: Path,
) -> AsyncIterator[MakeFleet]:  # fmt: skip
    opened: list[Fleet] = []

    async def make(
        presets: dict[str, list[PresetInstance]] | None = None,
        *,
        recorded: dict[str, tuple[str, str]] | None = None,  # name -> (server, tenant)
        capacity: dict[str, int | None] | None = None,
        mode: str = "instance",
        sim: dict[str, Any] | None = None,
    ) -> Fleet:
        sims = {}
        for name, key in KEYS.items():
            mine = (presets or {}).get(name, [])
            config = fast_sim_config(key, presets=mine, global_events=mode == "global",
                                     **(sim or {}))  # fmt: skip
            sims[name] = await make_simulator(config)
        for name, (server, tenant) in (recorded or {}).items():
            await store.create_instance(tenant, name, status=Status.STOPPED, reason="test",
                                        websocket_enabled=True, server=server)  # fmt: skip
        path = fleet_file(tmp_path / "fleet.toml", sims, capacity or {}, mode)
        settings = make_settings(evolution_url=None, evolution_apikey=None,
                                 evolution_servers=path)  # fmt: skip
        app = create_app(settings)
        server = await aiohttp_server(app)
        made = Fleet(sims, str(server.make_url("")).rstrip("/"), app[STORE], app[METRICS],
                     settings, aiohttp.ClientSession())  # fmt: skip
        opened.append(made)
        return made

    yield make
    for made in reversed(opened):
        for recorder in made.clients:
            await recorder.client.disconnect()
        await made.http.close()
