"""History rows equal real transitions with three nodes: no status is written twice.

Each instance is moved through real transitions on the simulator (logged out on the phone,
connect, QR, scanned), one step at a time, waiting for Postgres to hold the truth between
steps. Every instance's ``status_history`` is then exactly the chain of those transitions,
and every node's client received exactly one ``instance.status`` per row.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable

import pytest

from relay.store import Status
from simulator import PresetInstance
from tests.cluster.conftest import Driver, MakeCluster
from tests.hub.conftest import Recorder
from tests.support import eventually, true_status

pytestmark = pytest.mark.timeout(90)

TENANT = "acme"
NAMES = ["h1", "h2", "h3"]
ROUNDS = 2  # open -> STOPPED -> (STARTING) -> SCAN_QR_CODE -> WORKING, twice per instance


def without_starting(statuses: list[Status]) -> list[Status]:
    """STARTING between connect and the first QR is a real status, but the simulator's QR
    follows within milliseconds: whether it is stored depends on timing, not on the nodes."""
    return [status for status in statuses if status is not Status.STARTING]


def received(recorder: Recorder, name: str) -> list[Status]:
    return [Status(d["status"]) for d in recorder.named("instance.status")
            if d["instanceName"] == name]  # fmt: skip


async def test_three_nodes_write_each_transition_once(
    cluster: MakeCluster, machine_redis: Callable[[int], Awaitable[str]]
) -> None:
    presets = [PresetInstance(name, state="open") for name in NAMES]
    stage = await cluster(await machine_redis(12), presets, dict.fromkeys(NAMES, TENANT))
    nodes = [await stage.node(name) for name in ("n1", "n2", "n3")]
    await stage.one_leader()
    clients = [await stage.client(node, TENANT) for node in nodes]
    before = {name: len(await stage.store.status_history(name, 1000)) for name in NAMES}

    driver = Driver(stage.sim, NAMES, stage.http)
    truth: dict[str, list[Status]] = {name: [] for name in NAMES}
    for _ in range(ROUNDS * 3):
        for name in NAMES:
            while True:  # one real transition (a connect waits for its QR)
                steps = driver.made_steps
                await driver.step(name)
                if driver.made_steps > steps:
                    break
                await eventually(lambda n=name: stage.sim.instance(n).qr.code, 10)
            expected = await eventually(
                lambda n=name: true_status(stage.sim.instance(n)), 10,
                until=lambda s: s is not Status.STARTING, what=f"{name}'s QR",
            )  # fmt: skip
            truth[name].append(expected)
            await eventually(lambda n=name: stage.status(n), 15, until=lambda s, e=expected: s is e,
                             what=f"{name} stored {expected}")  # fmt: skip

    for name in NAMES:
        rows = list(reversed(await stage.store.status_history(name, 1000)))[before[name] :]
        assert without_starting([row.status for row in rows]) == truth[name], (name, rows)
        for earlier, later in itertools.pairwise(rows):
            assert later.previous_status is earlier.status, (name, rows)
        wanted = [row.status for row in rows]
        for recorder in clients:
            await recorder.wait(lambda r, n=name, w=wanted: received(r, n) == w,
                                f"{name}'s statuses {wanted} once each")  # fmt: skip
