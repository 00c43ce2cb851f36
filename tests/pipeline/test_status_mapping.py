"""docs/live-events.md's status table, row by row, for events and for reconciliation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from handlers.status import intent_for_event, intent_for_state
from relay.store import Instance, Status

CU = "connection.update"
QR = {"qrcode": {"instance": "x", "pairingCode": None, "code": "2@abc", "base64": "data:x"}}


@pytest.mark.parametrize(
    ("event", "data", "status", "reason"),
    [
        (CU, {"state": "connecting", "statusReason": 200}, Status.STARTING, "connecting"),
        ("qrcode.updated", QR, Status.SCAN_QR_CODE, "qrcode"),
        (CU, {"state": "open", "statusReason": 200, "wuid": "1@s"}, Status.WORKING, "open"),
        (CU, {"state": "close", "statusReason": 401}, Status.STOPPED, "logged out (401)"),
        (CU, {"state": "refused", "statusReason": 428}, Status.STOPPED, "refused (428): QR limit"),
        (CU, {"state": "close", "statusReason": 403}, Status.FAILED, "closed (403)"),
        (CU, {"state": "close", "statusReason": 402}, Status.FAILED, "closed (402)"),
        (CU, {"state": "close", "statusReason": 406}, Status.FAILED, "closed (406)"),
        ("logout.instance", None, Status.STOPPED, "logout"),
    ],
)
def test_event_rows(event: str, data: Any, status: Status, reason: str) -> None:
    intent = intent_for_event(event, data)
    assert intent is not None
    assert (intent.status, intent.reason) == (status, reason)


def test_qr_is_stored_and_login_keeps_profile() -> None:
    qr = intent_for_event("qrcode.updated", QR)
    assert qr is not None and qr.qrcode is not None and qr.qrcode.code == "2@abc"
    opened = intent_for_event(
        "connection.update", {"state": "open", "wuid": "55@s", "profileName": "Ana"}
    )
    assert opened is not None
    assert (opened.wuid, opened.profile_name, opened.clear_qrcode) == ("55@s", "Ana", True)


@pytest.mark.parametrize(
    ("event", "data"),
    [
        ("qrcode.updated", {"message": "QR code limit reached", "statusCode": 500}),
        ("qrcode.updated", {"qrcode": None}),
        (CU, {"state": "weird"}),
        ("connection.update", {"statusReason": 200}),
        ("connection.update", "not an object"),
        ("status.instance", {"instance": "x", "status": "closed"}),
        ("messages.upsert", {"key": {}}),
    ],
)
def test_events_that_change_nothing(event: str, data: Any) -> None:
    assert intent_for_event(event, data) is None


def _row(status: Status, qr: str | None = None, reason: str = "r") -> Instance:
    now = datetime.now(UTC)
    return Instance(
        id=1, tenant_id="t", name="x", provider="evolution", status=status,
        status_reason=reason, status_at=now, qr_base64=qr, qr_code=qr, pairing_code=None,
        wuid=None, profile_name=None, websocket_enabled=True, websocket_events=[], server="default",
        created_at=now, updated_at=now,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("state", "current", "expected"),
    [
        ("open", _row(Status.STOPPED), Status.WORKING),
        ("open", _row(Status.WORKING), None),
        ("connecting", _row(Status.WORKING), Status.STARTING),
        ("connecting", _row(Status.STARTING, qr="2@q"), Status.SCAN_QR_CODE),
        ("connecting", _row(Status.SCAN_QR_CODE, qr="2@q"), None),
        ("close", _row(Status.WORKING), Status.STOPPED),
        ("close", _row(Status.STOPPED), None),
        ("close", _row(Status.FAILED), None),
        ("close", _row(Status.SCAN_QR_CODE, qr="2@q"), Status.STOPPED),
        (None, _row(Status.WORKING), Status.FAILED),
        (None, _row(Status.FAILED, reason="missing upstream"), None),
    ],
)
def test_reconciliation_rows(state: str | None, current: Instance, expected: Status | None) -> None:
    intent = intent_for_state(state, current)
    assert (intent.status if intent else None) is expected
    if state is None and intent is not None:
        assert intent.reason == "missing upstream"
