"""StatusWriter: order per instance, QR floods coalesced, the final state always written."""

from __future__ import annotations

import asyncio

from relay.metrics import Metrics
from relay.store import QrCode, Status, StatusChange, StatusIntent, Store
from relay.store.writer import StatusWriter


async def test_flood_is_coalesced_and_final_state_kept(store: Store) -> None:
    await store.create_instance("t", "w1", status=Status.STOPPED, reason="test")
    await store.create_instance("t", "w2", status=Status.STOPPED, reason="test")
    changes: list[StatusChange] = []

    async def on_change(change: StatusChange) -> None:
        changes.append(change)

    metrics = Metrics()
    writer = StatusWriter(store, on_change, metrics, workers=2)
    # Everything is queued before a worker runs: the worst case for coalescing.
    for name in ("w1", "w2"):
        writer.submit(name, StatusIntent(Status.STARTING, "connecting", clear_qrcode=True))
        for i in range(300):
            qr = QrCode(code=f"2@{name}-{i}", base64=f"data:{i}")
            writer.submit(name, StatusIntent(Status.SCAN_QR_CODE, "qrcode", qrcode=qr))
    writer.submit("w1", StatusIntent(Status.WORKING, "open", clear_qrcode=True, wuid="55@s"))
    assert writer.backlog == 2
    runner = asyncio.create_task(writer.run())
    try:
        await asyncio.wait_for(writer.wait_idle(), 10)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)

    w1, w2 = await store.get_instance("w1"), await store.get_instance("w2")
    assert w1 is not None and w2 is not None
    assert (w1.status, w1.wuid, w1.qr_code) == (Status.WORKING, "55@s", None)
    assert (w2.status, w2.qr_code) == (Status.SCAN_QR_CODE, "2@w2-299")  # the latest QR wins
    writes = metrics.registry.get_sample_value("relay_status_writes_total")
    assert writes is not None and writes <= 5  # not 603
    w1_path = [c.status for c in changes if c.instance_name == "w1"]
    assert w1_path == [Status.STARTING, Status.SCAN_QR_CODE, Status.WORKING]  # none lost
    assert writer.backlog == 0


async def test_settled_waits_for_queued_writes(store: Store) -> None:
    await store.create_instance("t", "s1", status=Status.STOPPED, reason="test")

    async def ignore(change: StatusChange) -> None:
        return None

    writer = StatusWriter(store, ignore, Metrics(), workers=1)
    writer.submit("s1", StatusIntent(Status.WORKING, "open"))
    assert writer.generation("s1") == 1
    runner = asyncio.create_task(writer.run())
    try:
        await asyncio.wait_for(writer.settled("s1"), 5)
        row = await store.get_instance("s1")
        assert row is not None and row.status is Status.WORKING
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
