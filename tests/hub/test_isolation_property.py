"""Isolation, as a property: random publishes, statuses, connects and disconnects over three
tenants never show a client another tenant's event, snapshot entry or status, and never an
``apikey`` (Evolution's instance token).

Hypothesis drives the hub directly (``publish`` / ``status_changed``) with real python-socketio
clients over loopback. Each example runs on its own event loop against a fresh app on the
test's Postgres schema, so examples stay independent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.app import create_app
from relay.appkeys import HUB, STORE
from relay.auth import Role, mint_token
from relay.config import Settings
from relay.errors import Conflict
from relay.store import Status, StatusChange

from .conftest import Recorder, make_recorder

TENANTS = ("t0", "t1", "t2")
INSTANCES = ("a", "b")
SECRET = "INSTANCE-TOKEN-3f9c"
EVENTS = ("messages.upsert", "qrcode.updated", "connection.update")

connect = st.tuples(
    st.just("connect"), st.integers(0, 4), st.sampled_from(TENANTS),
    st.sampled_from([Role.USER, Role.ADMIN, Role.ADMIN, Role.SUPERADMIN]),
    st.sampled_from([None, None, "a", "b"]), st.booleans(),
)  # fmt: skip
disconnect = st.tuples(st.just("disconnect"), st.integers(0, 4))
publish = st.tuples(
    st.just("publish"), st.sampled_from(TENANTS), st.sampled_from(INSTANCES),
    st.sampled_from(EVENTS), st.booleans(),
)  # fmt: skip
status = st.tuples(
    st.just("status"), st.sampled_from(TENANTS), st.sampled_from(INSTANCES),
    st.sampled_from(list(Status)),
)  # fmt: skip
operations = st.lists(st.one_of(connect, disconnect, publish, publish, status), max_size=14)


def name_of(tenant: str, instance: str) -> str:
    return f"{tenant}-{instance}"


class World:
    def __init__(self, url: str, app_settings: Settings, hub: Any) -> None:
        self.url = url
        self.settings = app_settings
        self.hub = hub
        self.clients: dict[int, tuple[Recorder, str, Role, str | None]] = {}
        self.done: list[tuple[Recorder, str, Role, str | None]] = []
        self.last_seq: dict[str, int] = {}

    async def connect(self, key: int, tenant: str, role: Role, narrow: str | None,
                      resume: bool) -> None:  # fmt: skip
        if key in self.clients:
            return
        recorder = make_recorder()
        token = mint_token(self.settings, tenant=tenant, role=role, user=f"u{key}")
        auth: dict[str, Any] = {"token": token}
        if resume and role is not Role.SUPERADMIN and tenant in self.last_seq:
            auth["lastSeq"] = self.last_seq[tenant] - 1
        await recorder.client.connect(self.url, auth=auth, transports=["websocket"])
        await recorder.wait_count("instances.snapshot", 1)
        if narrow is not None:
            ack = await recorder.client.call("subscribe", {"instanceName": name_of(tenant, narrow)})
            assert ack == {"ok": True}
        self.clients[key] = (recorder, tenant, role, narrow)

    async def disconnect(self, key: int) -> None:
        if key in self.clients:
            entry = self.clients.pop(key)
            await entry[0].client.disconnect()
            self.done.append(entry)

    async def publish(self, tenant: str, instance: str, event: str, with_key: bool) -> None:
        payload: dict[str, Any] = {"event": event, "instance": name_of(tenant, instance),
                                   "data": {"owner": tenant}}  # fmt: skip
        if with_key:
            payload["apikey"] = SECRET
        self.last_seq[tenant] = await self.hub.publish(tenant, name_of(tenant, instance), event,
                                                       payload)  # fmt: skip

    async def status(self, tenant: str, instance: str, to: Status) -> None:
        change = StatusChange(instance_name=name_of(tenant, instance), tenant_id=tenant,
                              status=to, previous_status=None, reason="prop",
                              at=datetime.now(UTC))  # fmt: skip
        self.last_seq[tenant] = await self.hub.status_changed(change)

    async def settle(self) -> None:
        """A barrier per instance; FIFO delivery means everything before it has arrived."""
        for tenant in TENANTS:
            for instance in INSTANCES:
                await self.hub.publish(tenant, name_of(tenant, instance), "barrier", {})
        for recorder, _tenant, role, narrow in self.clients.values():
            covers = 1 if narrow else len(INSTANCES) * (3 if role is Role.SUPERADMIN else 1)
            await recorder.wait_count("barrier", covers)


def check(recorder: Recorder, tenant: str, role: Role) -> None:
    assert SECRET not in json.dumps(recorder.events)
    if role is Role.SUPERADMIN:
        return
    for name, data in recorder.events:
        if name == "instances.snapshot":
            for entry in data["instances"]:
                assert entry["tenantId"] == tenant
                assert entry["instanceName"].startswith(tenant + "-")
        elif name == "instance.status":
            assert data["tenantId"] == tenant and data["instanceName"].startswith(tenant + "-")
        elif name != "barrier":
            assert data["data"]["owner"] == tenant and data["instance"].startswith(tenant + "-")
    seqs = [data["seq"] for name, data in recorder.events if name != "instances.snapshot"]
    assert seqs == sorted(set(seqs))  # in order, no duplicates


async def scenario(app_settings: Settings, ops: list[tuple[Any, ...]]) -> int:
    """Runs ``ops``, checks every client; returns how many events the clients received."""
    app = create_app(app_settings)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        for tenant in TENANTS:
            for instance in INSTANCES:
                with contextlib.suppress(Conflict):  # made by an earlier example
                    await app[STORE].create_instance(
                        tenant, name_of(tenant, instance), status=Status.STARTING, reason="prop"
                    )
        world = World(str(server.make_url("")).rstrip("/"), app_settings, app[HUB])
        for op in ops:
            await getattr(world, op[0])(*op[1:])
        await world.settle()
        received = 0
        for recorder, tenant, role, _ in [*world.clients.values(), *world.done]:
            check(recorder, tenant, role)
            received += len(recorder.events)
        for key in list(world.clients):
            await world.disconnect(key)
        return received
    finally:
        await server.close()


def test_no_client_ever_sees_another_tenant(make_settings: Callable[..., Settings]) -> None:
    app_settings = make_settings()
    received: list[int] = []

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(ops=operations)
    def run(ops: list[tuple[Any, ...]]) -> None:
        received.append(asyncio.run(scenario(app_settings, ops)))

    run()
    assert len(received) >= 10 and sum(received) > 0  # the examples did reach clients
