"""SSE's ``Last-Event-ID`` on another node: a browser whose EventSource reconnects through the
balancer to a different node gets what it missed, in order, with the same ids, then the
snapshot (docs/cluster.md "Resume across nodes")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from relay.auth import Role
from simulator import PresetInstance
from tests.cluster.conftest import MakeCluster, message_ids
from tests.hub.test_sse import Frame, Stream, sse

pytestmark = pytest.mark.timeout(90)

TENANT = "acme"


async def numbered_frames(stream: Stream, count: int) -> list[Frame]:
    """The next ``count`` frames that carry an id (not ``upstream.status``/``cluster.status``)."""
    frames: list[Frame] = []
    while len(frames) < count:
        frame = await stream.next()
        if frame.id is not None:
            frames.append(frame)
    return frames


def message_id(frame: Frame) -> str:
    assert frame.event == "messages.upsert", frame
    return str(frame.data["data"]["key"]["id"])


async def test_last_event_id_resumes_on_another_node(
    cluster: MakeCluster, machine_redis: Callable[[int], Awaitable[str]]
) -> None:
    presets = [PresetInstance("s1", state="open"), PresetInstance("o1", state="open")]
    stage = await cluster(await machine_redis(10), presets, {"s1": TENANT, "o1": "globex"})
    first, second = await stage.node("n1"), await stage.node("n2")
    await stage.one_leader()
    headers = {"Authorization": f"Bearer {stage.token(TENANT, Role.USER)}"}
    watcher = await stage.client(second, TENANT)  # tells when an event has gone round the bus

    async def emit(n: int) -> None:
        data = {"key": {"id": f"m-{n}"}, "message": {"conversation": str(n)}}
        await stage.sim.emit("s1", "messages.upsert", data)

    async with sse(first.url, headers=headers) as stream:
        (snapshot,) = await numbered_frames(stream, 1)
        assert snapshot.event == "instances.snapshot"
        for n in range(3):
            await emit(n)
        seen = await numbered_frames(stream, 3)
    assert [message_id(f) for f in seen] == ["m-0", "m-1", "m-2"]
    last = int(seen[-1].id or 0)

    for n in range(3, 8):  # missed while no stream is open; another tenant's too
        await emit(n)
        await stage.sim.emit("o1", "messages.upsert", {"key": {"id": f"g-{n}"}, "message": {}})
    await watcher.wait(lambda r: "m-7" in message_ids(r), "m-7 on the second node")

    async with sse(second.url, headers={**headers, "Last-Event-ID": str(last)}) as stream:
        frames = await numbered_frames(stream, 6)
        missed, snapshot = frames[:5], frames[5]
        assert [message_id(f) for f in missed] == [f"m-{n}" for n in range(3, 8)]
        assert [int(f.id or 0) for f in missed] == list(range(last + 1, last + 6))
        assert snapshot.event == "instances.snapshot"
        assert snapshot.data["recovered"] is True
        assert snapshot.data["seq"] == last + 5
        assert [i["instanceName"] for i in snapshot.data["instances"]] == ["s1"]
        await emit(8)  # and live from there, numbered on
        (live,) = await numbered_frames(stream, 1)
        assert (message_id(live), int(live.id or 0)) == ("m-8", last + 6)
