"""One tenant's view of evo-relay: a token, the management HTTP API, and a live-event client.

:class:`EventLog` is a python-socketio ``AsyncClient`` (websocket transport) that stamps every
event it receives with ``time.monotonic()`` in this process, so a scenario can time an HTTP
call it makes against the event that call causes. :class:`RelayApi` is the management API
(``/api/instance-management``) with the tenant's ADMIN token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
import socketio

from bench.common.servers import JWT_SECRET
from relay.auth import Role, mint_token
from relay.config import Settings

API = "/api/instance-management"


def token(tenant: str, role: Role = Role.ADMIN, user: str = "bench", ttl: float = 3600) -> str:
    """A token the relays under test accept (they share :data:`JWT_SECRET`)."""
    settings = Settings(_env_file=None, jwt_secret=JWT_SECRET)  # type: ignore[call-arg]
    return mint_token(settings, tenant=tenant, role=role, user=user, ttl=ttl)


@dataclass(frozen=True, slots=True)
class Received:
    event: str
    data: Any
    at: float
    """``time.monotonic()`` when the client's handler ran."""
    wall: float
    """``time.time()`` at the same moment."""

    @property
    def instance(self) -> str | None:
        """The instance an event is about (``instanceName``, or an envelope's ``instance``)."""
        if not isinstance(self.data, dict):
            return None
        name = self.data.get("instanceName") or self.data.get("instance")
        return name if isinstance(name, str) else None


class EventLog:
    """A tenant's Socket.IO client that keeps every event of ``events`` it receives."""

    def __init__(self, url: str, token: str, events: Iterable[str]) -> None:
        self._url = url
        self._token = token
        self._client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.2)
        self._arrived = asyncio.Event()
        self.received: list[Received] = []
        for event in events:
            self._client.on(event, self._handler(event))

    def _handler(self, event: str) -> Callable[[Any], None]:
        def handle(data: Any) -> None:
            self.received.append(Received(event, data, time.monotonic(), time.time()))
            self._arrived.set()

        return handle

    async def connect(self, within: float = 10.0) -> None:
        await self._client.connect(
            self._url, auth={"token": self._token}, transports=["websocket"],
            wait_timeout=within,
        )  # fmt: skip

    async def close(self) -> None:
        await self._client.disconnect()

    async def __aenter__(self) -> EventLog:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def first(
        self, match: Callable[[Received], bool], since: int = 0, within: float = 10.0
    ) -> Received | None:
        """The first event from index ``since`` on that ``match`` accepts; None at the deadline."""
        deadline = time.monotonic() + within
        index = since
        while True:
            self._arrived.clear()  # before scanning: an event appended after it sets it again
            while index < len(self.received):
                found = self.received[index]
                index += 1
                if match(found):
                    return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                continue  # one more scan, then the deadline answers

    def events(self, name: str, after: float = 0.0, before: float = float("inf")) -> list[Received]:
        """The events called ``name`` received between two ``time.monotonic()`` readings."""
        return [r for r in self.received if r.event == name and after <= r.at < before]


class RelayApi:
    """The management API with one token; each call raises on an error status."""

    def __init__(self, url: str, token: str) -> None:
        self._url = url + API
        self._session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})

    async def close(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> RelayApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        timeout = aiohttp.ClientTimeout(total=30)
        async with self._session.request(
            method, self._url + path, json=body, timeout=timeout
        ) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                raise RuntimeError(f"{method} {API}{path}: {resp.status} {data}")
            return data

    async def create(self, name: str) -> Any:
        return await self.call("POST", "/instances", {"instanceName": name})

    async def connect(self, name: str) -> Any:
        return await self.call("POST", f"/connect/{name}")
