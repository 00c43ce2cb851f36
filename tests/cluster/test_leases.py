"""The lease of an Evolution server: lost with its Postgres session, and scoped to one cluster.

- The leader's lease session is terminated (``pg_terminate_backend`` on the backend holding
  the advisory lock, in a Postgres cluster of the test's own): it stops following the server,
  a node (the other, or itself once it has a new session) takes the lease with a new term,
  reconciles the statuses that changed meanwhile, and writes each change once.
- Two deployments in two schemas of one database (as the tests themselves run side by side on
  a shared server) each get a leader for their own ``default`` server.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from relay.config import Settings
from relay.store import Status, Store
from relay.store.leases import lock_key
from simulator import PresetInstance
from tests.cluster.conftest import build_cluster
from tests.conftest import MakeSimulator, fresh_schema
from tests.faults.conftest import OwnPostgres
from tests.hub.conftest import Recorder
from tests.support import eventually

pytestmark = pytest.mark.timeout(90)

TENANT = "acme"
NAMES = [f"l{i}" for i in range(4)]


async def terminate_lease_holder(dsn: str, server: str = "default") -> int:
    """End the session that holds ``server``'s advisory lock; how many were ended."""
    conn = await asyncpg.connect(dsn)
    try:
        key = await lock_key(conn, server) & 0xFFFF_FFFF_FFFF_FFFF
        ended = await conn.fetchval(
            """SELECT count(pg_terminate_backend(pid)) FROM pg_locks
               WHERE locktype = 'advisory' AND granted AND objsubid = 1
                 AND classid = $1 AND objid = $2""",
            key >> 32, key & 0xFFFF_FFFF,
        )  # fmt: skip
        return int(ended)
    finally:
        await conn.close()


async def term(dsn: str, server: str = "default") -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT term FROM leases WHERE server = $1", server) or 0)
    finally:
        await conn.close()


async def test_a_leader_that_loses_its_lease_session_stops_and_a_node_takes_over(
    own_postgres: OwnPostgres,
    machine_redis: Callable[[int], Awaitable[str]],
    make_settings: Callable[..., Settings],
    make_simulator: MakeSimulator,
    tmp_path: Path,
) -> None:
    dsn = own_postgres.dsn
    store = await Store.open(dsn)
    presets = [PresetInstance(name, state="open") for name in NAMES]
    stage = await build_cluster(
        make_simulator, store, dsn, functools.partial(make_settings, database_url=dsn), tmp_path,
        await machine_redis(11), presets, dict.fromkeys(NAMES, TENANT),
    )  # fmt: skip
    try:
        await stage.node("a")
        assert await stage.one_leader() == "a"
        b = await stage.node("b")
        client = await stage.client(b, TENANT)
        before = await term(dsn)
        assert await terminate_lease_holder(dsn) == 1
        dropped = NAMES[:2]
        for name in dropped:
            await stage.sim.drop(name, 401)  # while the lease changes hands
        await stage.one_leader(within=30)
        await eventually(lambda: term(dsn), 30, until=lambda t: t > before,
                         what="a new term")  # fmt: skip
        await eventually(stage.converged, 30, what="stored statuses equal the simulator's")
        await eventually(lambda: stage.sim.socket_clients, 20, until=lambda n: n == 1,
                         what="one node following the simulator")  # fmt: skip

        def stopped(recorder: Recorder) -> set[str]:
            return {d["instanceName"] for d in recorder.named("instance.status")
                    if d["status"] == "STOPPED"}  # fmt: skip

        await client.wait(lambda r: set(dropped) <= stopped(r), "the drops' instance.status")
        for name in dropped:  # each change written once, whoever wrote it
            history = [(c.previous_status, c.status) for c in await store.status_history(name)]
            assert history.count((Status.WORKING, Status.STOPPED)) == 1, (name, history)
    finally:
        await stage.close()
        await store.close()


@pytest.fixture
async def second_schema(pg_root_dsn: str) -> AsyncIterator[str]:
    async with fresh_schema(pg_root_dsn) as dsn:
        yield dsn


async def test_two_deployments_on_one_database_each_have_a_leader(
    database_url: str,
    second_schema: str,
    machine_redis: Callable[[int], Awaitable[str]],
    make_settings: Callable[..., Settings],
    make_simulator: MakeSimulator,
    tmp_path: Path,
) -> None:
    stages = []
    stores = []
    try:
        for i, (dsn, db) in enumerate(((database_url, 9), (second_schema, 10))):
            store = await Store.open(dsn)
            stores.append(store)
            root = tmp_path / f"deployment-{i}"
            root.mkdir()
            stage = await build_cluster(
                make_simulator, store, dsn, functools.partial(make_settings, database_url=dsn),
                root, await machine_redis(db), [PresetInstance("d1", state="open")],
                {"d1": TENANT},
            )  # fmt: skip
            stages.append(stage)
            await stage.node(f"d{i}-n1")
            await stage.node(f"d{i}-n2")
        for stage in stages:
            await stage.one_leader(within=20)
            await eventually(lambda s=stage: s.sim.socket_clients, 20, until=lambda n: n == 1,
                             what="one node following each deployment's simulator")  # fmt: skip
    finally:
        for stage in stages:
            await stage.close()
        for store in stores:
            await store.close()
