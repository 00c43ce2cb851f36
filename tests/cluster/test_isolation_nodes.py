"""Isolation across nodes, as a property: three nodes, a fleet of two Evolution servers.

Hypothesis draws sequences over three tenants of Evolution events, management calls on any
node with any tenant's token and role, and Socket.IO connects to any node and disconnects.
Whatever the sequence, no client, whichever node it is on, receives an event, a snapshot
entry or a status of another tenant, and no payload carries ``apikey`` or an instance token.

The nodes are built once, on one event loop of the test's own, and every example runs on that
loop bounded by ``asyncio.wait_for``: a hung await fails the example instead of the suite
hanging (pytest-timeout cannot interrupt a loop that hypothesis drives).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.auth import Role
from relay.config import Settings
from relay.store import Store
from simulator import PresetInstance, SimConfig, Simulator
from tests.cluster.conftest import MACHINE_REDIS, Cluster, build_cluster, flushed
from tests.hub.conftest import Recorder

pytestmark = pytest.mark.timeout(240)  # the budget, the build and the shutdown, each bounded

TENANTS = ("t0", "t1", "t2")
NAMES = {tenant: (f"{tenant}-a", f"{tenant}-b") for tenant in TENANTS}
OWNER = {name: tenant for tenant, names in NAMES.items() for name in names}
SERVER_OF = {name: ("evo-a", "evo-b")[i % 2] for i, name in enumerate(sorted(OWNER))}
NODES = ("n1", "n2", "n3")
EVENT_DATA: dict[str, Callable[[str], Any]] = {
    "messages.upsert": lambda n: {"key": {"id": f"m-{n}"}, "message": {"conversation": "oi"}},
    "connection.update": lambda n: {"instance": n, "state": "connecting", "statusReason": 200},
    "qrcode.updated": lambda n: {"qrcode": {"instance": n, "pairingCode": None, "code": "2@q",
                                            "base64": "data:image/png;base64,AAAA"}},
}  # fmt: skip
ROLES = (Role.USER, Role.ADMIN, Role.ADMIN, Role.SUPERADMIN)
UNNUMBERED = {"upstream.status", "cluster.status"}
EXAMPLE_DEADLINE = 30.0
BUDGET = 90.0
"""Seconds for all examples and shrinking. Past it every example fails at once, naming the
first real failure: hypothesis then ends quickly, where pytest-timeout cannot stop it (its
signal would be caught as one more failing example)."""

node_index = st.integers(0, len(NODES) - 1)
emit = st.tuples(
    st.just("emit"), st.sampled_from(sorted(OWNER)), st.sampled_from(sorted(EVENT_DATA))
)
call = st.tuples(
    st.just("call"), node_index, st.sampled_from(TENANTS), st.sampled_from(ROLES),
    st.sampled_from(["connect", "logout", "restart", "status"]), st.sampled_from(sorted(OWNER)),
)  # fmt: skip
join = st.tuples(
    st.just("join"), st.integers(0, 3), node_index, st.sampled_from(TENANTS),
    st.sampled_from(ROLES),
)  # fmt: skip
leave = st.tuples(st.just("leave"), st.integers(0, 3))
steps = st.lists(st.one_of(emit, emit, call, join, leave), max_size=12)


class World:
    """The cluster, and the clients of one example."""

    def __init__(self, stage: Cluster) -> None:
        self.stage = stage
        self.clients: dict[int, tuple[Recorder, str, Role]] = {}
        self.everyone: list[tuple[Recorder, str, Role]] = []

    async def emit(self, name: str, event: str) -> None:
        await self.stage.sims[SERVER_OF[name]].emit(name, event, EVENT_DATA[event](name))

    async def call(self, node: int, tenant: str, role: Role, action: str, name: str) -> None:
        method = "GET" if action == "status" else "POST"
        where = self.stage.nodes[NODES[node]]
        code, _ = await self.stage.call(where, method, f"{action}/{name}", tenant, role=role)
        if role is Role.USER and method == "POST":
            assert code == 403  # a USER may only read, whatever the instance
        elif OWNER[name] != tenant and role is not Role.SUPERADMIN:
            assert code == 404  # another tenant's instance does not exist for you

    async def join(self, key: int, node: int, tenant: str, role: Role) -> None:
        if key in self.clients:
            return
        recorder = await self.stage.client(self.stage.nodes[NODES[node]], tenant, role)
        self.clients[key] = entry = (recorder, tenant, role)
        self.everyone.append(entry)

    async def leave(self, key: int) -> None:
        if key in self.clients:
            async with asyncio.timeout(10):
                await self.clients.pop(key)[0].client.disconnect()

    async def settle(self) -> None:
        """A marker event per tenant, awaited by every connected client that should see it."""
        for tenant in TENANTS:
            await self.emit(NAMES[tenant][0], "messages.upsert")
        for recorder, tenant, role in self.clients.values():
            mine = TENANTS if role is Role.SUPERADMIN else (tenant,)
            wanted = {f"m-{NAMES[t][0]}" for t in mine}
            await recorder.wait(lambda r, w=wanted: w <= marker_ids(r), f"markers {wanted}")

    async def example(self, ops: list[tuple[Any, ...]]) -> int:
        self.clients, self.everyone = {}, []
        try:
            for op in ops:
                await getattr(self, op[0])(*op[1:])
            await self.settle()
        finally:
            for key in list(self.clients):
                await self.leave(key)
        secrets = {i.token for sim in self.stage.sims.values() for i in sim.store.all() if i.token}
        secrets |= {sim.config.apikey for sim in self.stage.sims.values()}
        for recorder, tenant, role in self.everyone:
            check(recorder, tenant, role, secrets)
        return sum(len(recorder.events) for recorder, _, _ in self.everyone)


def marker_ids(recorder: Recorder) -> set[str]:
    return {d["data"]["key"]["id"] for d in recorder.named("messages.upsert")}


def check(recorder: Recorder, tenant: str, role: Role, secrets: set[str]) -> None:
    text = json.dumps(recorder.events)
    assert '"apikey"' not in text and not any(secret in text for secret in secrets)
    if role is Role.SUPERADMIN:
        return
    for name, data in recorder.events:
        if name in UNNUMBERED:
            assert "tenantId" not in data and "instance" not in data, (name, data)
        elif name == "instances.snapshot":
            assert {i["instanceName"] for i in data["instances"]} <= set(NAMES[tenant])
        elif name in ("instance.status", "instance.removed"):
            assert data["tenantId"] == tenant and OWNER[data["instanceName"]] == tenant
        elif name == "instance.added":
            assert data["instance"]["tenantId"] == tenant
        else:
            assert OWNER[data["instance"]] == tenant, (name, data)


async def start_sim(config: SimConfig) -> Simulator:
    sim = Simulator(config)
    await sim.start("127.0.0.1", 0)
    return sim


async def build(database_url: str, make_settings: Callable[..., Settings], tmp: Path) -> Cluster:
    store = await Store.open(database_url)
    presets = {
        server: [PresetInstance(n, state="open") for n in OWNER if SERVER_OF[n] == server]
        for server in ("evo-a", "evo-b")
    }
    redis_url = await flushed(f"{MACHINE_REDIS}/11")
    stage = await build_cluster(
        start_sim, store, database_url, make_settings, tmp, redis_url, presets, OWNER
    )
    for name in NODES:
        await stage.node(name)
    for server in stage.sims:
        await stage.one_leader(server)
    return stage


async def close(stage: Cluster) -> None:
    try:
        await stage.close()
    finally:
        for sim in stage.sims.values():
            await sim.stop()
        await stage.store.close()


def test_isolation_holds_across_nodes(
    database_url: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    received: list[int] = []
    failures: list[BaseException] = []
    with asyncio.Runner() as runner:
        stage = runner.run(asyncio.wait_for(build(database_url, make_settings, tmp_path), 90))
        try:
            world = World(stage)

            @settings(
                max_examples=10,
                deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
            )
            @given(ops=steps)
            def run(ops: list[tuple[Any, ...]]) -> None:
                if failures and time.monotonic() > ends:
                    raise AssertionError("out of time; the first failure:") from failures[0]
                try:
                    example = world.example(ops)
                    received.append(runner.run(asyncio.wait_for(example, EXAMPLE_DEADLINE)))
                except Exception as exc:  # any failure: kept to be named once out of time
                    failures.append(exc)
                    raise

            ends = time.monotonic() + BUDGET

            run()
        finally:
            runner.run(asyncio.wait_for(close(stage), 90))
    assert len(received) >= 10 and sum(received) > 0
