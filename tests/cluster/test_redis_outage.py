"""Redis stopped and started again (a redis-server of the test's own) while statuses change.

Two nodes in this process follow one simulator. While Redis is away the nodes keep serving
HTTP and snapshots, every client hears ``cluster.status`` down, and later up; the leader keeps
writing statuses to Postgres; the clients whose events could not go through the bus get a
fresh ``instances.snapshot`` with ``recovered: false``, and live events flow again after.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest

from relay.auth import Role
from simulator import PresetInstance
from tests.cluster.conftest import (
    Cluster,
    Driver,
    MakeCluster,
    Node,
    OwnRedis,
    message_ids,
    seqs,
)
from tests.hub.conftest import Recorder
from tests.support import eventually

pytestmark = pytest.mark.timeout(120)

TENANT = "acme"
NAMES = [f"r{i}" for i in range(6)]


def cluster_states(recorder: Recorder) -> list[str]:
    return [data["state"] for data in recorder.named("cluster.status")]


async def poll_http(stage: Cluster, nodes: list[Node], answers: list[int]) -> None:
    """``/healthz`` and the instance list on every node, ten times a second."""
    headers = {"Authorization": f"Bearer {stage.token(TENANT)}"}
    while True:
        for node in nodes:
            for path in ("/healthz", "/api/instance-management/instances"):
                try:
                    async with (
                        asyncio.timeout(5),
                        stage.http.get(node.url + path, headers=headers) as reply,
                    ):
                        answers.append(reply.status)
                except (aiohttp.ClientError, TimeoutError):
                    answers.append(0)
        await asyncio.sleep(0.1)


async def bus_state(stage: Cluster, node: Node) -> str | None:
    body = await stage.readyz(node)
    return None if body is None else body["cluster"]["bus"]


async def test_redis_restart_under_load_loses_no_status(
    cluster: MakeCluster, own_redis: OwnRedis
) -> None:
    presets = [PresetInstance(name, state="open") for name in NAMES]
    stage = await cluster(own_redis.url, presets, dict.fromkeys(NAMES, TENANT))
    nodes = [await stage.node("a"), await stage.node("b")]
    await stage.one_leader()
    clients = [await stage.client(node, TENANT) for node in nodes]
    answers: list[int] = []
    poller = asyncio.create_task(poll_http(stage, nodes, answers))
    driver = Driver(stage.sim, NAMES, stage.http, steps=10, messages=90)
    driver.start()
    try:
        await driver.wait_steps(10)
        seen_before = max(max(seqs(r), default=0) for r in clients)
        await own_redis.stop()
        for recorder in clients:
            await recorder.wait(lambda r: "down" in cluster_states(r), "cluster.status down")
        for node in nodes:
            await eventually(lambda n=node: bus_state(stage, n), 20, until=lambda s: s == "down",
                             what=f"{node.name}'s /readyz saying the bus is down")  # fmt: skip
            assert node.metrics.registry.get_sample_value("relay_bus_up") == 0.0
        # A panel opened during the outage gets its snapshot from Postgres, saying so.
        late = await stage.client(nodes[1], TENANT)
        snapshot = late.named("instances.snapshot")[0]
        assert snapshot["cluster"]["state"] == "down", snapshot.get("cluster")
        code, body = await stage.call(nodes[0], "GET", "servers", None, role=Role.SUPERADMIN)
        assert code == 200, body
        await driver.wait_steps(20)  # two seconds of changes that no bus carries
        await own_redis.start()
        for recorder in [*clients, late]:
            # The late client connected during the outage: its snapshot said "down" instead.
            saw_down = recorder is late or "down" in cluster_states(recorder)
            await recorder.wait(
                lambda r, d=saw_down: cluster_states(r)[-1:] == ["up"] and d,
                "cluster.status down, then up",
            )
            await recorder.wait(
                lambda r: any(s["recovered"] is False for s in r.named("instances.snapshot")[1:]),
                "a fresh snapshot with recovered: false",
            )
        for node in nodes:
            await eventually(lambda n=node: bus_state(stage, n), 20, until=lambda s: s == "up",
                             what=f"{node.name}'s /readyz saying the bus is up")  # fmt: skip
        await driver.wait_steps(10)
    finally:
        await driver.stop()
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller

    await eventually(stage.converged, 30, what="stored statuses equal the simulator's")
    assert all(node.alive() for node in nodes)
    assert answers and set(answers) == {200}, sorted(set(answers))
    # Live events flow again, numbered after everything seen before the outage.
    marker = {"key": {"id": "marker-after"}, "message": {"conversation": "after"}}
    await stage.sim.emit(NAMES[0], "messages.upsert", marker)
    for recorder in [*clients, late]:
        await recorder.wait(lambda r: "marker-after" in message_ids(r), "an event after the outage")
        (after,) = [d for d in recorder.named("messages.upsert")
                    if d["data"]["key"]["id"] == "marker-after"]  # fmt: skip
        assert after["seq"] > seen_before
