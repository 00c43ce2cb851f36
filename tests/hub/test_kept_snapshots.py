"""A tenant's snapshot read is given again while it is exact, and read anew as soon as it may not
be (relay.hub.snapshots): against the real database, counting its reads."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from relay.hub import snapshots
from relay.hub.history import History
from relay.hub.snapshots import SnapshotReader
from relay.store import Instance, Status, Store


class CountingStore:
    """The real store, with its snapshot reads counted and, when ``gate`` is set, held there
    until it is (after the read's positions and write counts were taken)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reads = 0
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def list_instances(self, tenant_id: str | None = None) -> list[Instance]:
        self.reads += 1
        self.entered.set()
        if self.gate is not None:
            await asyncio.wait_for(self.gate.wait(), 10)
        return await self.store.list_instances(tenant_id)

    def written(self, tenant_id: str) -> int:
        return self.store.written(tenant_id)


@pytest.fixture
async def counted(store: Store) -> CountingStore:
    for tenant, name in (("t1", "a"), ("t1", "b"), ("t2", "c")):
        await store.create_instance(tenant, name, status=Status.STOPPED, reason="created")
    return CountingStore(store)


def reader(counted: CountingStore, history: History) -> SnapshotReader:
    return SnapshotReader(counted, history, None)  # type: ignore[arg-type]


def entries(rows: Any) -> list[dict[str, Any]]:
    decoded: list[dict[str, Any]] = json.loads(rows.json)
    return decoded


async def test_an_idle_tenant_is_read_once_and_encoded_once(counted: CountingStore) -> None:
    history = History(100)
    snaps = reader(counted, history)
    first_positions, first = await snaps.read("t1", None)
    second_positions, second = await snaps.read("t1", None)
    assert counted.reads == 1
    assert second is first  # the same rows, so the same encoded JSON for every client
    assert second_positions == first_positions == {"t1": history.current("t1")}
    assert [e["instanceName"] for e in entries(second)] == ["a", "b"]


async def test_an_event_of_the_tenant_means_a_new_read(counted: CountingStore) -> None:
    history = History(100)
    snaps = reader(counted, history)
    await snaps.read("t1", None)
    seq = history.next_seq("t1")
    history.append("t1", "a", "connection.update", "{}", seq)
    positions, _ = await snaps.read("t1", None)
    assert counted.reads == 2
    assert positions == {"t1": seq}


async def test_a_write_without_an_event_means_a_new_read(counted: CountingStore) -> None:
    snaps = reader(counted, History(100))
    _, before = await snaps.read("t1", None)
    await counted.store.set_websocket("a", True, ["CONNECTION_UPDATE"])
    _, after = await snaps.read("t1", None)
    assert counted.reads == 2
    old = {e["instanceName"]: e["updatedAt"] for e in entries(before)}
    new = {e["instanceName"]: e["updatedAt"] for e in entries(after)}
    assert new["a"] > old["a"] and new["b"] == old["b"]


async def test_each_kind_of_write_drops_the_kept_read(counted: CountingStore) -> None:
    store, snaps = counted.store, reader(counted, History(100))
    writes = [
        lambda: store.update_status("a", Status.SCAN_QR_CODE, "connect"),
        lambda: store.create_instance("t1", "d", status=Status.STOPPED, reason="created"),
        lambda: store.delete_instance("d"),
    ]
    await snaps.read("t1", None)
    for n, write in enumerate(writes, start=2):
        await write()
        await snaps.read("t1", None)
        await snaps.read("t1", None)
        assert counted.reads == n
    _, rows = await snaps.read("t1", None)
    assert {e["instanceName"]: e["status"] for e in entries(rows)} == {
        "a": "SCAN_QR_CODE", "b": "STOPPED"
    }  # fmt: skip


async def test_another_tenants_write_keeps_the_read(counted: CountingStore) -> None:
    snaps = reader(counted, History(100))
    await snaps.read("t1", None)
    await counted.store.update_status("c", Status.SCAN_QR_CODE, "connect")  # tenant t2's
    await snaps.read("t1", None)
    assert counted.reads == 1


async def test_a_write_that_ends_during_the_read_is_not_kept_past(counted: CountingStore) -> None:
    """The write counts are taken before the rows: a write that lands while they are read may or
    may not be in them, so that read is given to its own clients but not kept."""
    snaps = reader(counted, History(100))
    counted.gate = asyncio.Event()
    reading = asyncio.ensure_future(snaps.read("t1", None))
    await asyncio.wait_for(counted.entered.wait(), 10)
    await counted.store.update_status("a", Status.SCAN_QR_CODE, "connect")
    counted.gate.set()
    await asyncio.wait_for(reading, 10)
    counted.gate = None
    _, rows = await snaps.read("t1", None)
    assert counted.reads == 2
    assert {e["instanceName"]: e["status"] for e in entries(rows)}["a"] == "SCAN_QR_CODE"


async def test_a_superadmins_read_is_never_kept(counted: CountingStore) -> None:
    snaps = reader(counted, History(100))
    await snaps.read(None, None)
    _, rows = await snaps.read(None, None)
    assert counted.reads == 2
    assert len(entries(rows)) == 3


async def test_a_kept_read_expires(counted: CountingStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshots, "KEEP", 0.0)
    snaps = reader(counted, History(100))
    await snaps.read("t1", None)
    await snaps.read("t1", None)
    assert counted.reads == 2
