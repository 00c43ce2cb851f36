"""Every store query round-trips through a real Postgres."""

from __future__ import annotations

import pytest

from relay.errors import Conflict
from relay.store import AuditEntry, QrCode, Status, Store


async def test_create_get_list_delete(store: Store) -> None:
    created = await store.create_instance(
        "tenant-a", "inst-1", status=Status.STOPPED, reason="created"
    )
    assert created.tenant_id == "tenant-a"
    assert created.provider == "evolution"
    assert created.status is Status.STOPPED
    assert created.qrcode is None
    await store.create_instance("tenant-b", "inst-2", status=Status.STARTING, reason="created")
    assert await store.get_instance("inst-1") == created
    assert [i.name for i in await store.list_instances("tenant-a")] == ["inst-1"]
    assert [i.name for i in await store.list_instances()] == ["inst-1", "inst-2"]
    assert await store.delete_instance("inst-1") is True
    assert await store.delete_instance("inst-1") is False
    assert await store.get_instance("inst-1") is None


async def test_name_is_unique_across_tenants(store: Store) -> None:
    await store.create_instance("tenant-a", "same", status=Status.STOPPED, reason="created")
    with pytest.raises(Conflict):
        await store.create_instance("tenant-b", "same", status=Status.STOPPED, reason="created")


async def test_update_status_records_history_only_on_change(store: Store) -> None:
    await store.create_instance("t", "inst", status=Status.STOPPED, reason="created")
    qr = QrCode(base64="data:image/png;base64,AAA", code="2@abc", pairingCode=None)
    update = await store.update_status("inst", Status.SCAN_QR_CODE, "qrcode.updated", qrcode=qr)
    assert update is not None and update.change is not None
    assert update.change.previous_status is Status.STOPPED
    assert update.change.status is Status.SCAN_QR_CODE
    assert update.instance.qrcode == qr
    newer = QrCode(base64="data:image/png;base64,BBB", code="2@def")
    same = await store.update_status("inst", Status.SCAN_QR_CODE, "qrcode.updated", qrcode=newer)
    assert same is not None and same.change is None
    assert same.instance.qr_code == "2@def"
    assert same.instance.status_at == update.instance.status_at
    opened = await store.update_status(
        "inst", Status.WORKING, "open", clear_qrcode=True, wuid="5511@s", profile_name="Ana"
    )
    assert opened is not None and opened.change is not None
    assert opened.instance.qrcode is None
    assert (opened.instance.wuid, opened.instance.profile_name) == ("5511@s", "Ana")
    history = await store.status_history("inst")
    assert [(h.previous_status, h.status) for h in history] == [
        (Status.SCAN_QR_CODE, Status.WORKING),
        (Status.STOPPED, Status.SCAN_QR_CODE),
        (None, Status.STOPPED),
    ]
    assert await store.update_status("missing", Status.WORKING, "x") is None


async def test_set_websocket(store: Store) -> None:
    await store.create_instance("t", "inst", status=Status.STOPPED, reason="created")
    row = await store.set_websocket("inst", True, ["CONNECTION_UPDATE", "QRCODE_UPDATED"])
    assert row is not None
    assert row.websocket_enabled is True
    assert row.websocket_events == ["CONNECTION_UPDATE", "QRCODE_UPDATED"]
    assert await store.set_websocket("missing", True, []) is None


async def test_audit_round_trip_newest_first(store: Store) -> None:
    for n, tenant in enumerate(["a", "b", "a"]):
        await store.record_audit(
            AuditEntry(
                actor=f"user-{n}", role="ADMIN", tenant_id=tenant, instance_name="inst",
                action="logout", outcome="ok", upstream_status=200, duration_ms=1.5,
                detail={"n": n},
            )
        )  # fmt: skip
    rows = await store.list_audit("a")
    assert [row.actor for row in rows] == ["user-2", "user-0"]
    assert rows[0].detail == {"n": 2}
    assert rows[0].upstream_status == 200 and rows[0].at is not None
    assert len(await store.list_audit(None, limit=2)) == 2
    assert await store.list_audit("a", instance_name="other") == []


async def test_ping(store: Store) -> None:
    assert await store.ping() is True


async def test_delete_takes_the_history_along(store: Store) -> None:
    await store.create_instance("a", "reused", status=Status.STOPPED, reason="created")
    await store.update_status("reused", Status.WORKING, "open")
    await store.delete_instance("reused")
    await store.create_instance("b", "reused", status=Status.STOPPED, reason="created")
    history = await store.status_history("reused")
    assert [(h.tenant_id, h.status) for h in history] == [("b", Status.STOPPED)]
