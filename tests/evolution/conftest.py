"""Fixtures for the Evolution client tests: scripted fakes and clients that close themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from relay.evolution import EvolutionClient
from simulator import Call as SimCall
from simulator import PresetInstance, SimConfig, Simulator
from tests.conftest import MakeSimulator
from tests.support import fast_sim_config

from .fakes import APIKEY, SIM_APIKEY, ClientFactory, FakeEvolution, FakeFactory


@pytest.fixture
async def fake_evolution(aiohttp_server: Any) -> AsyncIterator[FakeFactory]:
    """``await fake_evolution(version=...)`` → a started ``FakeEvolution``."""
    made: list[FakeEvolution] = []

    async def make(version: str = "2.3.6") -> FakeEvolution:
        fake = FakeEvolution(version=version)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", fake.handle)
        server = await aiohttp_server(app)
        fake.url = str(server.make_url("")).rstrip("/")
        made.append(fake)
        return fake

    yield make
    for fake in made:
        fake.release.set()  # let hanging handlers finish before the server shuts down


@pytest.fixture
async def evolution_client() -> AsyncIterator[ClientFactory]:
    """``await evolution_client(url, request_timeout=...)`` → a started client, closed after."""
    made: list[EvolutionClient] = []

    async def make(
        url: str, *, request_timeout: float = 5.0, apikey: str = APIKEY, **kwargs: Any
    ) -> EvolutionClient:
        client = EvolutionClient(url, SecretStr(apikey), request_timeout, **kwargs)
        await client.start()
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@dataclass
class Upstream:
    """A running simulator and a started client pointed at it."""

    sim: Simulator
    url: str
    client: EvolutionClient

    def calls(self, method: str | None = None, path_prefix: str = "") -> list[SimCall]:
        return self.sim.calls.matching(method, path_prefix)


UpstreamFactory = Callable[..., Awaitable[Upstream]]


def fast_config(**overrides: Any) -> SimConfig:
    """Simulator timings shrunk so a whole lifecycle takes well under a second."""
    return fast_sim_config(SIM_APIKEY, **overrides)


@pytest.fixture
async def make_upstream(make_simulator: MakeSimulator) -> AsyncIterator[UpstreamFactory]:
    """``await make_upstream(client={...}, **sim_config)`` → simulator + client, both closed
    afterwards (clients first, so no request is in flight when a simulator stops)."""
    clients: list[EvolutionClient] = []

    async def make(
        *,
        client: dict[str, Any] | None = None,
        presets: list[PresetInstance] | None = None,
        **config: Any,
    ) -> Upstream:
        sim = await make_simulator(fast_config(presets=presets or [], **config))
        assert sim.base_url
        url = sim.base_url
        options: dict[str, Any] = {"apikey": SIM_APIKEY, "request_timeout": 5.0, **(client or {})}
        evo = EvolutionClient(
            url, SecretStr(options.pop("apikey")), options.pop("request_timeout"), **options
        )
        await evo.start()
        clients.append(evo)
        return Upstream(sim, url, evo)

    yield make
    for evo in clients:
        await evo.close()


@pytest.fixture
async def upstream(make_upstream: UpstreamFactory) -> Upstream:
    return await make_upstream()
