"""SIGKILL of the ingesting node under about 200 events a second.

The leader is a real ``python -m relay serve`` process; two followers run in this process.
The driver makes real transitions (about 20 a second) and ``messages.upsert`` events (about
180 a second) on the simulator. The leader is killed: a follower takes the server over and
reconciles it, so the statuses that changed while nobody listened become true in Postgres; a
client of the killed node reconnects to another node with ``lastSeq`` and gets every event it
missed, in order, without a duplicate, then a snapshot with ``recovered: true``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from simulator import PresetInstance
from tests.cluster.conftest import (
    Driver,
    MakeCluster,
    contiguous,
    numbered,
    seqs,
)
from tests.hub.conftest import Recorder
from tests.support import eventually

pytestmark = pytest.mark.timeout(150)

TENANT = "acme"
NAMES = [f"k{i}" for i in range(8)]


def keyed(events: list[tuple[str, Any]]) -> list[tuple[int, str, Any]]:
    """(seq, event, what it is about) for comparing streams across nodes."""
    return [(d["seq"], name, d.get("status") or d.get("data", {}).get("key", {}).get("id"))
            for name, d in events]  # fmt: skip


def welcome(recorder: Recorder) -> tuple[list[tuple[str, Any]], dict[str, Any], int]:
    """What a resuming client got before its snapshot, the snapshot, and its index."""
    index = next(i for i, (name, _) in enumerate(recorder.events) if name == "instances.snapshot")
    replay = [(n, d) for n, d in recorder.events[:index] if isinstance(d, dict) and "seq" in d]
    return replay, recorder.events[index][1], index


async def test_sigkill_of_the_leader_under_load_loses_nothing(
    cluster: MakeCluster, machine_redis: Callable[[int], Awaitable[str]]
) -> None:
    presets = [PresetInstance(name, state="open") for name in NAMES]
    stage = await cluster(
        await machine_redis(10), presets, dict.fromkeys(NAMES, TENANT), history_size=50_000
    )
    doomed = await stage.spawn("doomed")
    assert await stage.one_leader(within=30) == "doomed"
    survivors = [await stage.node("s1"), await stage.node("s2")]
    assert await stage.leading() == ["doomed"]
    witness = await stage.client(survivors[0], TENANT)
    victim = await stage.client(doomed, TENANT)

    driver = Driver(stage.sim, NAMES, stage.http)
    driver.start()
    try:
        await driver.wait_steps(20)
        await victim.wait(lambda r: len(numbered(r)) >= 200, "200 events on the doomed node")
        await doomed.kill()
        killed_at = driver.made_steps
        new_leader = await stage.one_leader(within=30)
        assert new_leader in ("s1", "s2")
        await eventually(lambda: not victim.client.connected, 20, what="the victim disconnected")
        last = seqs(victim)[-1]
        await driver.wait_steps(20)
        resumed = await stage.client(survivors[1], TENANT, last_seq=last)
        await driver.wait_steps(20)
    finally:
        await driver.stop()
    assert driver.made_steps - killed_at >= 40  # statuses did change after the kill

    # Postgres holds the truth again: the new leader reconciled what nobody ingested.
    await eventually(stage.converged, 45, what="stored statuses equal the simulator's")
    marker = {"key": {"id": "marker-end"}, "message": {"conversation": "end"}}
    await stage.sim.emit(NAMES[0], "messages.upsert", marker)
    for recorder in (witness, resumed):
        await recorder.wait(
            lambda r: any(
                d["data"]["key"]["id"] == "marker-end" for d in r.named("messages.upsert")
            ),
            "the marker after the failover",
        )

    replay, snapshot, _ = welcome(resumed)
    assert snapshot["recovered"] is True, snapshot
    assert replay, "the resumed client was replayed nothing"
    assert replay[0][1]["seq"] == last + 1
    # Before the kill on the doomed node, then after it on a survivor: one unbroken numbering.
    combined = seqs(victim) + seqs(resumed)
    assert contiguous(combined), combined
    # The same events as a client that never left, seq for seq.
    witnessed = {seq: rest for seq, *rest in keyed(numbered(witness))}
    for seq, *rest in keyed(numbered(victim) + numbered(resumed)):
        assert witnessed.get(seq) == rest, (seq, rest, witnessed.get(seq))
    assert contiguous(seqs(witness)), seqs(witness)
    assert len(await stage.leading()) == 1
