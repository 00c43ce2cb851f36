"""The whole relay on a loopback port, as a test drives it: HTTP calls with any tenant's token,
recording Socket.IO clients, the stored rows and the metrics. ``tests/statuses`` and
``tests/fleet`` build it around one simulator or a fleet of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from relay.appkeys import METRICS, STORE
from relay.auth import Role, mint_token
from relay.config import Settings
from relay.metrics import Metrics
from relay.store import Status, Store
from simulator import Simulator
from tests.hub.conftest import Recorder, make_recorder

API = "/api/instance-management"


@dataclass
class Stage:
    sims: dict[str, Simulator]
    url: str
    store: Store
    metrics: Metrics
    settings: Settings
    http: aiohttp.ClientSession
    clients: list[Recorder] = field(default_factory=list)

    @classmethod
    def of(cls, app: web.Application, url: str, sims: dict[str, Simulator],
           settings: Settings) -> Stage:  # fmt: skip
        return cls(sims, url, app[STORE], app[METRICS], settings, aiohttp.ClientSession())

    @property
    def sim(self) -> Simulator:
        """The one simulator (a stage with a single Evolution server)."""
        (only,) = self.sims.values()
        return only

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

    async def status(self, name: str) -> Status | None:
        row = await self.store.get_instance(name)
        return None if row is None else row.status

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.metrics.registry.get_sample_value(name, labels or {}) or 0.0

    async def close(self) -> None:
        for recorder in self.clients:
            await recorder.client.disconnect()
        await self.http.close()
