"""``GET /api/events``: the same stream as Server-Sent Events, with Last-Event-ID resume."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.support import eventually

from ..conftest import bearer
from .conftest import DEADLINE, Relay


@dataclass
class Frame:
    id: str | None
    event: str
    data: Any


class Stream:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.comments = 0

    async def next(self) -> Frame:
        fields: dict[str, str] = {}
        async with asyncio.timeout(DEADLINE):  # for the whole frame: keep-alives do not extend it
            while raw := await self.response.content.readline():
                line = raw.decode().rstrip("\n")
                if line == "" and fields:
                    return Frame(fields.get("id"), fields["event"], json.loads(fields["data"]))
                if line.startswith(":"):
                    self.comments += 1
                elif line:
                    key, _, value = line.partition(": ")
                    fields[key] = value
        raise AssertionError("stream ended")

    async def take(self, count: int) -> list[Frame]:
        return [await self.next() for _ in range(count)]


@asynccontextmanager
async def sse(url: str, **kwargs: Any) -> AsyncIterator[Stream]:
    async with aiohttp.ClientSession() as session, session.get(url + "/api/events", **kwargs) as r:
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"].startswith("text/event-stream")
        yield Stream(r)


async def test_snapshot_first_then_events_with_ids(
    relay_app: Relay, token: Callable[..., str]
) -> None:
    await relay_app.instance("acme", "acme-1")
    await relay_app.instance("globex", "globex-1")
    async with sse(relay_app.url, headers=bearer(token("acme"))) as stream:
        snapshot = await stream.next()
        assert snapshot.event == "instances.snapshot"
        assert [i["instanceName"] for i in snapshot.data["instances"]] == ["acme-1"]
        assert snapshot.id == str(snapshot.data["seq"])
        await relay_app.hub.publish("globex", "globex-1", "messages.upsert", {"n": 0})
        seq = await relay_app.hub.publish("acme", "acme-1", "qrcode.updated", {"n": 1})
        frame = await stream.next()
        assert (frame.id, frame.event, frame.data) == (str(seq), "qrcode.updated",
                                                       {"n": 1, "seq": seq})  # fmt: skip


async def test_token_in_query_and_unauthorized_without(
    relay_app: Relay, token: Callable[..., str]
) -> None:
    async with sse(relay_app.url, params={"token": token("acme")}) as stream:
        assert (await stream.next()).event == "instances.snapshot"
    async with aiohttp.ClientSession() as session:
        async with session.get(relay_app.url + "/api/events") as response:
            assert response.status == 401
        async with session.get(relay_app.url + "/api/events?token=bad") as response:
            assert response.status == 401


async def test_last_event_id_resumes_exactly(relay_app: Relay, token: Callable[..., str]) -> None:
    hub = relay_app.hub
    async with sse(relay_app.url, headers=bearer(token("acme"))) as stream:
        await stream.next()
        first = await hub.publish("acme", "acme-1", "messages.upsert", {"n": 0})
        assert (await stream.next()).id == str(first)
    missed = [await hub.publish("acme", "acme-1", "messages.upsert", {"n": n}) for n in range(4)]
    headers = {**bearer(token("acme")), "Last-Event-ID": str(first)}
    async with sse(relay_app.url, headers=headers) as stream:
        frames = await stream.take(len(missed) + 1)
        assert [f.event for f in frames[:-1]] == ["messages.upsert"] * len(missed)
        assert [f.id for f in frames[:-1]] == [str(s) for s in missed]
        assert frames[-1].event == "instances.snapshot"
        assert frames[-1].data["recovered"] is True
        live = await hub.publish("acme", "acme-1", "connection.update", {"state": "open"})
        assert (await stream.next()).id == str(live)
    # ?lastEventId= for manual use; a seq from the future is a gap
    params = {"token": token("acme"), "lastEventId": str(live + 1000)}
    async with sse(relay_app.url, params=params) as stream:
        snapshot = await stream.next()
        assert snapshot.event == "instances.snapshot" and snapshot.data["recovered"] is False


async def test_client_going_away_is_cleaned_up(relay_app: Relay, token: Callable[..., str]) -> None:
    gauge = relay_app.metrics.clients.labels("sse")
    async with sse(relay_app.url, headers=bearer(token("acme"))) as stream:
        await stream.next()
        assert gauge._value.get() == 1
    # the stream notices within its liveness tick (1 s)
    await eventually(lambda: gauge._value.get() == 0, what="the gauge back at 0")
    assert len(relay_app.hub._sse) == 0
