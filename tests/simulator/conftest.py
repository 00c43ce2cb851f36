"""Fixtures for the simulator's tests: a running simulator, an HTTP session, Socket.IO clients.

The real Evolution payloads in ``tests/fixtures/evolution/`` are the reference; a missing file
fails the tests that need it (never a skip).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import socketio

from simulator import PresetInstance, SimConfig, Simulator
from tests.conftest import EVOLUTION_SAMPLES, MakeSimulator
from tests.support import eventually, fast_sim_config

KEY = "test-global-key"


def sample(name: str) -> Any:
    path = EVOLUTION_SAMPLES / name
    if not path.is_file():
        pytest.fail(f"reference sample {path} is missing from tests/fixtures/evolution/")
    return json.loads(path.read_text())


def fast_config(**overrides: Any) -> SimConfig:
    return fast_sim_config(KEY, **overrides)


@dataclass
class Running:
    sim: Simulator
    url: str
    http: aiohttp.ClientSession

    def headers(self, key: str | None = KEY) -> dict[str, str]:
        return {"apikey": key} if key is not None else {}

    async def call(
        self, method: str, path: str, *, key: str | None = KEY, json_body: Any = None, **kw: Any
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        headers = {**self.headers(key), **kw.pop("headers", {})}
        async with self.http.request(
            method, self.url + path, headers=headers, json=json_body, **kw
        ) as resp:
            raw = await resp.read()
            return resp.status, (json.loads(raw) if raw else raw), resp

    async def create(self, name: str, **body: Any) -> Any:
        payload = {"instanceName": name, "integration": "WHATSAPP-BAILEYS", **body}
        status, data, _ = await self.call("POST", "/instance/create", json_body=payload)
        assert status == 201, data
        return data


MakeSim = Callable[..., Awaitable[Running]]


@pytest.fixture
async def make_sim(make_simulator: MakeSimulator) -> AsyncIterator[MakeSim]:
    made: list[Running] = []

    async def make(presets: list[PresetInstance] | None = None, **overrides: Any) -> Running:
        sim = await make_simulator(fast_config(presets=presets or [], **overrides))
        assert sim.base_url
        running = Running(sim, sim.base_url, aiohttp.ClientSession())
        made.append(running)
        return running

    yield make
    for running in made:
        await running.http.close()


@pytest.fixture
async def running(make_sim: MakeSim) -> Running:
    return await make_sim()


@dataclass
class Listener:
    """A real python-socketio client recording every event of one namespace."""

    client: socketio.AsyncClient
    namespace: str
    events: list[tuple[str, Any]] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    async def wait_for(self, event: str, within: float = 5.0, **data: Any) -> dict[str, Any]:
        def found() -> Any:
            for name, payload in self.events:
                if name == event and all(payload["data"].get(k) == v for k, v in data.items()):
                    return payload
            return None

        result: dict[str, Any] = await eventually(found, within)
        return result


Listen = Callable[..., Awaitable[Listener]]


@pytest.fixture
async def listen() -> AsyncIterator[Listen]:
    clients: list[socketio.AsyncClient] = []
    http = aiohttp.ClientSession()

    async def connect(
        url: str,
        namespace: str = "/",
        *,
        key: str | None = KEY,
        via: str = "header",
        transports: list[str] | None = None,
    ) -> Listener:
        client = socketio.AsyncClient(reconnection=False, http_session=http)
        clients.append(client)
        listener = Listener(client, namespace)

        async def on_any(event: str, data: Any) -> None:
            listener.events.append((event, data))

        async def on_error(data: Any) -> None:
            listener.errors.append(data)

        client.on("*", on_any, namespace=namespace)
        client.on("connect_error", on_error, namespace=namespace)
        headers = {"apikey": key} if key and via == "header" else {}
        target = f"{url}?apikey={key}" if key and via == "query" else url
        await client.connect(
            target,
            headers=headers,
            namespaces=[namespace],
            transports=transports or ["websocket"],
            wait_timeout=5,
        )
        return listener

    yield connect
    for client in clients:
        if client.connected:
            await client.disconnect()
    await http.close()
