"""Fixtures for the hub tests: the real app on a loopback port, and recording clients.

``relay_app`` runs ``create_app`` under pytest-aiohttp's ``aiohttp_server`` (a real TCP socket
on 127.0.0.1) against the test's Postgres schema; ``sio_client(...)`` connects a real
python-socketio ``AsyncClient`` and records every event it receives, in order.

``relay_app`` runs the fast paths; a module that wants the stock ones (what an untested
library version gets) parametrizes it: ``pytest.mark.parametrize("relay_app", ["stock"],
indirect=True)``. The app is then told an untested python-socketio is installed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import socketio

from relay import internals
from relay.app import create_app
from relay.appkeys import HUB, METRICS, STORE
from relay.config import Settings
from relay.hub import Hub
from relay.metrics import Metrics
from relay.store import Instance, Status, Store

DEADLINE = 10.0


@dataclass
class Relay:
    url: str
    hub: Hub
    store: Store
    metrics: Metrics

    async def instance(self, tenant: str, name: str, status: Status = Status.STARTING) -> Instance:
        return await self.store.create_instance(tenant, name, status=status, reason="test")


UNNUMBERED = frozenset({"instances.snapshot", "upstream.status"})


@dataclass
class Recorder:
    """A connected client's received events, in arrival order, with waits that have deadlines."""

    client: socketio.AsyncClient
    events: list[tuple[str, Any]] = field(default_factory=list)
    connect_errors: list[Any] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, name: str, data: Any) -> None:
        self.events.append((name, data))
        self.changed.set()

    def named(self, name: str) -> list[Any]:
        return [data for event, data in self.events if event == name]

    def live(self) -> list[tuple[str, Any]]:
        """The tenant's numbered events: not the snapshot, not ``upstream.status``."""
        return [(name, data) for name, data in self.events if name not in UNNUMBERED]

    async def wait(self, predicate: Callable[[Recorder], bool], what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while not predicate(self):
            self.changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}; got {self.events!r}")
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                continue

    async def wait_count(self, name: str, count: int) -> None:
        await self.wait(lambda r: len(r.named(name)) >= count, f"{count} x {name}")


SioFactory = Callable[..., Awaitable[Recorder]]


def untested_versions() -> dict[str, str | None]:
    """The installed versions, but python-socketio one minor ahead of the tested one."""
    major, minor = internals.TESTED["python-socketio"].split(".")
    return {**internals.installed(), "python-socketio": f"{major}.{int(minor) + 1}.0"}


@pytest.fixture
async def relay_app(aiohttp_server: Any, settings: Settings, request: Any) -> Relay:
    path = getattr(request, "param", "fast")
    assert path in ("fast", "stock"), path
    app = create_app(settings, versions=untested_versions() if path == "stock" else None)
    server = await aiohttp_server(app)
    return Relay(str(server.make_url("")).rstrip("/"), app[HUB], app[STORE], app[METRICS])


def make_recorder() -> Recorder:
    client = socketio.AsyncClient(reconnection=False)
    recorder = Recorder(client)

    async def any_event(event: str, data: Any = None) -> None:
        recorder.record(event, data)

    async def connect_error(data: Any = None) -> None:
        recorder.connect_errors.append(data)
        recorder.changed.set()

    client.on("*", any_event)
    client.on("connect_error", connect_error)
    return recorder


@pytest.fixture
async def sio_client(relay_app: Relay) -> AsyncIterator[SioFactory]:
    """``await sio_client(token, last_seq=..., headers=..., query=...)`` → a connected Recorder."""
    made: list[Recorder] = []

    async def make(
        token: str | None = None,
        *,
        last_seq: Any = None,
        headers: dict[str, str] | None = None,
        query: str = "",
        snapshot: bool = True,
    ) -> Recorder:
        recorder = make_recorder()
        made.append(recorder)
        auth: dict[str, Any] = {}
        if token is not None:
            auth["token"] = token
        if last_seq is not None:
            auth["lastSeq"] = last_seq
        await recorder.client.connect(
            relay_app.url + query,
            auth=auth or None,
            headers=headers or {},
            transports=["websocket"],
            wait_timeout=DEADLINE,
        )
        if snapshot:
            await recorder.wait_count("instances.snapshot", 1)
        return recorder

    yield make
    for recorder in made:
        if recorder.client.connected:
            await recorder.client.disconnect()
