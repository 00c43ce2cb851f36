"""A tiny scriptable Evolution on 127.0.0.1, for the edge cases the simulator cannot produce.

``FakeEvolution`` answers each route with canned replies and records every request: an old
server version, proxy pages, bodies of odd shapes, a server that never answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from relay.evolution import EvolutionClient

APIKEY = "sEcReT-gl0bal-KEY-4711"
SIM_APIKEY = "sim-gl0bal-KEY-0815"


@dataclass(frozen=True)
class Call:
    """One request that reached the fake server."""

    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Canned:
    """One reply: ``body`` is sent as JSON unless ``raw`` is given; ``hang`` never answers."""

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"
    hang: bool = False


@dataclass
class FakeEvolution:
    version: str = "2.3.6"
    url: str = ""
    calls: list[Call] = field(default_factory=list)
    replies: dict[tuple[str, str], list[Canned]] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def reply(self, method: str, path: str, *replies: Canned) -> None:
        """Answer ``method path`` with ``replies`` in order; the last one repeats."""
        self.replies[(method, path)] = list(replies)

    def calls_to(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path == path]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.calls.append(
            Call(
                method=request.method,
                path=request.path,
                raw_path=request.rel_url.raw_path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=await request.read(),
            )
        )
        queue = self.replies.get((request.method, request.path))
        if queue:
            canned = queue.pop(0) if len(queue) > 1 else queue[0]
        elif request.method == "GET" and request.path == "/":
            canned = Canned(200, {"status": 200, "version": self.version, "clientName": "fake"})
        else:
            message = [f"Cannot {request.method} {request.path}"]
            canned = Canned(
                404, {"status": 404, "error": "Not Found", "response": {"message": message}}
            )
        if canned.hang:
            await self.release.wait()
        raw = canned.raw if canned.raw is not None else json.dumps(canned.body).encode()
        return web.Response(status=canned.status, body=raw, content_type=canned.content_type)


FakeFactory = Callable[..., Awaitable[FakeEvolution]]
ClientFactory = Callable[..., Awaitable[EvolutionClient]]
