"""Three nodes and one simulator: one follower of Evolution, the same events everywhere.

Clients of one tenant on three different nodes receive the same numbered events with the same
``seq``s; exactly one node is connected to the simulator's Socket.IO and says it leads; an
``instance.status`` caused upstream, and one caused by a management call on a node that does
not lead, reach the clients of every node.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from relay.auth import Role
from relay.store import Status
from simulator import PresetInstance
from tests.cluster.conftest import MakeCluster, contiguous, message_ids, numbered, seqs
from tests.hub.conftest import Recorder
from tests.support import eventually, wait_stored

pytestmark = pytest.mark.timeout(90)

TENANT = "acme"
NAMES = {"c1": TENANT, "c2": TENANT, "c3": TENANT, "other1": "globex"}


def statuses_of(recorder: Recorder, name: str) -> list[tuple[str, int]]:
    return [(d["status"], d["seq"]) for d in recorder.named("instance.status")
            if d["instanceName"] == name]  # fmt: skip


async def all_see(clients: list[Recorder], check: Callable[[Recorder], bool], what: str) -> None:
    for recorder in clients:
        await recorder.wait(check, what)


async def test_three_nodes_one_leader_same_events_same_seqs(
    cluster: MakeCluster, machine_redis: Callable[[int], Awaitable[str]]
) -> None:
    presets = [PresetInstance("c1", state="open"), PresetInstance("c2", state="open"),
               PresetInstance("c3"), PresetInstance("other1", state="open")]  # fmt: skip
    stage = await cluster(await machine_redis(9), presets, NAMES, mode="global")
    nodes = [await stage.node(name) for name in ("n1", "n2", "n3")]

    leader = await stage.one_leader()
    # Exactly one Socket.IO connection upstream: global mode needs one, and only the leader has it.
    await eventually(lambda: stage.sim.socket_clients == 1, 20, what="one upstream client")
    followers = [node for node in nodes if node.name != leader]
    for node in nodes:
        body = await stage.readyz(node)
        assert body is not None
        cluster_info: dict[str, Any] = body["cluster"]
        assert cluster_info["node"] == node.name and cluster_info["bus"] == "up"
        assert cluster_info["leading"] == (["default"] if node.name == leader else [])
        flag = node.metrics.registry.get_sample_value("relay_cluster_leader", {"server": "default"})
        assert (flag or 0.0) == (1.0 if node.name == leader else 0.0), node.name
        assert node.metrics.registry.get_sample_value("relay_bus_up") == 1.0
    code, body = await stage.call(followers[0], "GET", "servers", None, role=Role.SUPERADMIN)
    assert code == 200, body
    assert [(s["name"], s["leader"]) for s in body["servers"]] == [("default", leader)]

    clients = [await stage.client(node, TENANT) for node in nodes]
    outsider = await stage.client(followers[1], "globex")

    # 1. A change upstream: c1's phone logs out.
    await stage.sim.drop("c1", 401)
    await wait_stored(stage.store, "c1", Status.STOPPED)
    await all_see(clients, lambda r: "STOPPED" in dict(statuses_of(r, "c1")), "c1 STOPPED")
    # 2. A management call on a node that does not lead: connect c3, then it pairs.
    code, body = await stage.call(followers[0], "POST", "connect/c3", TENANT)
    assert code == 200, body
    await wait_stored(stage.store, "c3", Status.SCAN_QR_CODE)
    await stage.sim.scan("c3")
    await wait_stored(stage.store, "c3", Status.WORKING)
    # 3. A logout through another follower, and an Evolution event of the tenant's own.
    code, body = await stage.call(followers[1], "POST", "logout/c2", TENANT)
    assert code == 200, body
    await wait_stored(stage.store, "c2", Status.STOPPED)
    marker = {"key": {"id": "marker-1"}, "message": {"conversation": "end"}}
    await stage.sim.emit("c3", "messages.upsert", marker)

    await all_see(clients, lambda r: "marker-1" in message_ids(r), "the marker message")
    for recorder in clients:
        got = [status for status, _ in statuses_of(recorder, "c3")]
        assert got[-2:] == ["SCAN_QR_CODE", "WORKING"], got
        assert [status for status, _ in statuses_of(recorder, "c2")][-1:] == ["STOPPED"]
        assert contiguous(seqs(recorder)), seqs(recorder)

    # The same numbered events, with the same seqs, on every node (from the newest snapshot on).
    start = max(r.named("instances.snapshot")[0]["seq"] for r in clients)
    streams = [
        [(name, data["seq"], data.get("instanceName") or data.get("instance"))
         for name, data in numbered(r) if data["seq"] > start]
        for r in clients
    ]  # fmt: skip
    assert streams[0], "no live event at all"
    assert streams[0] == streams[1] == streams[2]
    assert {"instance.status", "messages.upsert"} <= {name for name, _, _ in streams[0]}
    # No event of acme reached globex's client, and globex's numbering is its own.
    assert {d.get("instanceName") or d.get("instance") for _, d in numbered(outsider)} <= {"other1"}
    assert stage.sim.socket_clients == 1
    assert await stage.leading() == [leader]
    for node in nodes:  # every node reads every event from the bus; the leader published them
        registry = node.metrics.registry
        received = registry.get_sample_value("relay_bus_events_total", {"direction": "received"})
        published = registry.get_sample_value("relay_bus_events_total", {"direction": "published"})
        assert (received or 0) >= len(streams[0]), node.name
        if node.name == leader:
            assert (published or 0) > 0
        assert (registry.get_sample_value("relay_bus_dropped_total") or 0) == 0
