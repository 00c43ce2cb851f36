"""Isolation through the whole relay, as a property, with a fleet of two Evolution servers.

Hypothesis draws sequences over three tenants of Evolution events (emitted by the simulator,
with the instance token in their ``apikey``), management API calls with any tenant's token and
any role, and Socket.IO connects and disconnects. Whatever the sequence, no client receives an
event, a snapshot entry or a status of another tenant, and no payload carries ``apikey`` or an
instance token. Each example runs on its own event loop with two fresh simulators (the
tenants' instances spread over both, each server with its own key) and a fresh app.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.app import create_app
from relay.appkeys import FLEET, STORE
from relay.auth import Role, mint_token
from relay.config import Settings
from relay.evolution.names import EVENTS_2_3
from relay.store import Status
from simulator import PresetInstance, Simulator
from tests.conftest import bearer
from tests.fleet.conftest import KEYS, fleet_file
from tests.hub.conftest import Recorder, make_recorder
from tests.support import fast_sim_config

from .conftest import API

TENANTS = ("t0", "t1", "t2")
NAMES = {tenant: (f"{tenant}-a", f"{tenant}-b") for tenant in TENANTS}
OWNER = {name: tenant for tenant, names in NAMES.items() for name in names}
SERVER_OF = {name: ("evo-a", "evo-b")[i % 2] for i, name in enumerate(sorted(OWNER))}
EVENT_DATA: dict[str, Callable[[str], Any]] = {
    "messages.upsert": lambda n: {"key": {"id": f"m-{n}"}, "message": {"conversation": "oi"}},
    "connection.update": lambda n: {"instance": n, "state": "connecting", "statusReason": 200},
    "qrcode.updated": lambda n: {"qrcode": {"instance": n, "pairingCode": None, "code": "2@q",
                                            "base64": "data:image/png;base64,AAAA"}},
}  # fmt: skip
ROLES = (Role.USER, Role.ADMIN, Role.ADMIN, Role.SUPERADMIN)

emit = st.tuples(
    st.just("emit"), st.sampled_from(sorted(OWNER)), st.sampled_from(sorted(EVENT_DATA))
)
call = st.tuples(
    st.just("call"), st.sampled_from(TENANTS), st.sampled_from(ROLES),
    st.sampled_from(["connect", "logout", "restart", "status"]), st.sampled_from(sorted(OWNER)),
)  # fmt: skip
join = st.tuples(
    st.just("join"), st.integers(0, 3), st.sampled_from(TENANTS), st.sampled_from(ROLES)
)
leave = st.tuples(st.just("leave"), st.integers(0, 3))
steps = st.lists(st.one_of(emit, emit, call, join, leave), max_size=12)


class World:
    def __init__(self, url: str, sims: dict[str, Simulator], app_settings: Settings) -> None:
        self.url, self.sims, self.settings = url, sims, app_settings
        self.clients: dict[int, tuple[Recorder, str, Role]] = {}
        self.everyone: list[tuple[Recorder, str, Role]] = []

    def token(self, tenant: str, role: Role) -> str:
        return mint_token(self.settings, tenant=tenant, role=role, user=f"{role}-{tenant}")

    async def emit(self, name: str, event: str) -> None:
        await self.sims[SERVER_OF[name]].emit(name, event, EVENT_DATA[event](name))

    async def call(self, tenant: str, role: Role, action: str, name: str) -> None:
        method = "GET" if action == "status" else "POST"
        headers = bearer(self.token(tenant, role))
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, f"{self.url}{API}/{action}/{name}", headers=headers) as reply,
        ):
            if role is Role.USER and method == "POST":
                assert reply.status == 403  # a USER may only read, whatever the instance
            elif OWNER[name] != tenant and role is not Role.SUPERADMIN:
                assert reply.status == 404  # another tenant's instance does not exist for you

    async def join(self, key: int, tenant: str, role: Role) -> None:
        if key in self.clients:
            return
        recorder = make_recorder()
        auth = {"token": self.token(tenant, role)}
        await recorder.client.connect(self.url, auth=auth, transports=["websocket"])
        await recorder.wait_count("instances.snapshot", 1)
        self.clients[key] = entry = (recorder, tenant, role)
        self.everyone.append(entry)

    async def leave(self, key: int) -> None:
        if key in self.clients:
            await self.clients.pop(key)[0].client.disconnect()

    async def settle(self) -> None:
        """A marker event per tenant, awaited by every connected client that should see it."""
        for tenant in TENANTS:
            await self.emit(NAMES[tenant][0], "messages.upsert")
        for recorder, tenant, role in self.clients.values():
            mine = TENANTS if role is Role.SUPERADMIN else (tenant,)
            wanted = {f"m-{NAMES[t][0]}" for t in mine}
            await recorder.wait(lambda r, w=wanted: w <= marker_ids(r), f"markers {wanted}")


def marker_ids(recorder: Recorder) -> set[str]:
    return {d["data"]["key"]["id"] for d in recorder.named("messages.upsert")}


def check(recorder: Recorder, tenant: str, role: Role, secrets: set[str]) -> None:
    text = json.dumps(recorder.events)
    assert '"apikey"' not in text and not any(secret in text for secret in secrets)
    if role is Role.SUPERADMIN:
        return
    for name, data in recorder.events:
        if name == "instances.snapshot":
            assert {i["instanceName"] for i in data["instances"]} <= set(NAMES[tenant])
        elif name == "instance.status":
            assert data["tenantId"] == tenant and OWNER[data["instanceName"]] == tenant
        else:
            assert OWNER[data["instance"]] == tenant, (name, data)


async def scenario(app_settings: Settings, ops: list[tuple[Any, ...]], where: Path) -> int:
    sims: dict[str, Simulator] = {}
    for server, key in KEYS.items():
        mine = [PresetInstance(n, state="open") for n in OWNER if SERVER_OF[n] == server]
        sims[server] = Simulator(fast_sim_config(key, presets=mine))
        await sims[server].start()
    fleet = fleet_file(where / "fleet.toml", sims, {})
    app = create_app(app_settings.model_copy(update={"evolution_servers": fleet}))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        store = app[STORE]
        for name, tenant in OWNER.items():
            await store.delete_instance(name)  # left by an earlier example
            row = await store.create_instance(
                tenant, name, status=Status.WORKING, reason="prop", websocket_enabled=True,
                websocket_events=EVENTS_2_3, server=SERVER_OF[name],
            )  # fmt: skip
            await app[FLEET].of(row.server).live.instance_added(row)
        world = World(str(server.make_url("")).rstrip("/"), sims, app_settings)
        for op in ops:
            await getattr(world, op[0])(*op[1:])
        await world.settle()
        secrets = {i.token for sim in sims.values() for i in sim.store.all() if i.token}
        secrets |= set(KEYS.values())
        for recorder, tenant, role in world.everyone:
            check(recorder, tenant, role, secrets)
        for key in list(world.clients):
            await world.leave(key)
        return sum(len(recorder.events) for recorder, _, _ in world.everyone)
    finally:
        await server.close()
        for sim in sims.values():
            await sim.stop()


def test_isolation_holds_through_simulator_api_and_clients(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    app_settings = make_settings(evolution_url=None, evolution_apikey=None)
    received: list[int] = []

    @settings(
        max_examples=10,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(ops=steps)
    def run(ops: list[tuple[Any, ...]]) -> None:
        received.append(asyncio.run(scenario(app_settings, ops, tmp_path)))

    run()
    assert len(received) >= 10 and sum(received) > 0
