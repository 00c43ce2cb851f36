"""Fixtures for the Evolution client tests: scripted fakes and clients that close themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from relay.evolution import EvolutionClient

from .fakes import APIKEY, ClientFactory, FakeEvolution, FakeFactory


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
