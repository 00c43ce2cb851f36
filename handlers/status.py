"""Instance statuses from Evolution's events and from its live state.

The rules are those of docs/live-events.md, "Instance statuses".

| upstream | status |
|---|---|
| ``connection.update`` ``connecting`` | STARTING (a new socket: the old QR is cleared) |
| ``qrcode.updated`` with a QR | SCAN_QR_CODE, the QR stored |
| ``qrcode.updated`` without one (QR limit, §7.2) | nothing: the ``refused`` after it decides |
| ``connection.update`` ``open`` | WORKING, ``wuid`` and ``profileName`` stored, QR cleared |
| ``connection.update`` ``close`` 401, ``refused``, ``logout.instance`` | STOPPED |
| ``connection.update`` ``close`` with any other code | FAILED |
| ``remove.instance`` / ``instance.delete`` | the row is deleted, ``instance.removed`` sent |

Evolution emits its lifecycle events *before* it answers the relay's own delete; the live side
ignores status events about an instance the relay is deleting, so those never turn it FAILED.
``remove.instance`` about any other instance means Evolution removed it by itself
(``DEL_INSTANCE``, another client): the relay removes it too, and its tenant is told.

Reconciliation reads ``connectionState`` (:func:`intent_for_state`): ``open`` → WORKING,
``connecting`` → SCAN_QR_CODE when a QR is stored, else STARTING; ``close`` keeps STOPPED or
FAILED, else STOPPED; a 404 (``None``) → FAILED "missing upstream" (never deleted).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from relay.pipeline import Event, EventContext, Registry
from relay.store.models import Instance, QrCode, Status, StatusIntent

LOGGED_OUT = 401
MISSING_UPSTREAM = "missing upstream"
REMOVED_UPSTREAM = "removed upstream"


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ConnectionUpdate(_Data):
    state: str
    statusReason: int | None = None  # Evolution's wire names
    wuid: str | None = None
    profileName: str | None = None


class _Qr(_Data):
    code: str | None = None
    base64: str | None = None
    pairingCode: str | None = None


class QrCodeUpdated(_Data):
    qrcode: _Qr | None = None


def _connection_intent(update: ConnectionUpdate) -> StatusIntent | None:
    state, code = update.state, update.statusReason
    if state == "connecting":
        return StatusIntent(Status.STARTING, "connecting", clear_qrcode=True)
    if state == "open":
        return StatusIntent(
            Status.WORKING, "open", clear_qrcode=True,
            wuid=update.wuid, profile_name=update.profileName,
        )  # fmt: skip
    if state == "refused":
        return StatusIntent(Status.STOPPED, f"refused ({code}): QR limit", clear_qrcode=True)
    if state == "close":
        if code == LOGGED_OUT:
            return StatusIntent(Status.STOPPED, "logged out (401)", clear_qrcode=True)
        return StatusIntent(Status.FAILED, f"closed ({code})", clear_qrcode=True)
    return None


def intent_for_event(name: str, data: Any) -> StatusIntent | None:
    """What a status-affecting event means; None when it changes nothing (or is malformed)."""
    try:
        if name == "connection.update":
            return _connection_intent(ConnectionUpdate.model_validate(data))
        if name == "qrcode.updated":
            qr = QrCodeUpdated.model_validate(data).qrcode
            if qr is None or (qr.code is None and qr.base64 is None):
                return None
            code = QrCode(base64=qr.base64, code=qr.code, pairingCode=qr.pairingCode)
            return StatusIntent(Status.SCAN_QR_CODE, "qrcode", qrcode=code)
    except ValidationError:
        return None
    if name == "logout.instance":
        return StatusIntent(Status.STOPPED, "logout", clear_qrcode=True)
    return None


def intent_for_state(
    state: str | None, current: Instance, qrcode: QrCode | None = None
) -> StatusIntent | None:
    """The correction a live ``connectionState`` calls for; None when the row is already true.

    ``qrcode``: the QR Evolution shows now, read when the state is ``connecting`` and the row
    has none (its ``qrcode.updated`` went out before the relay could hear it, as after an
    Evolution restart): the instance is then waiting for a scan, with that QR.
    """
    if state is None:
        target = StatusIntent(Status.FAILED, MISSING_UPSTREAM, clear_qrcode=True)
        if current.status is Status.FAILED and current.status_reason == MISSING_UPSTREAM:
            return None
        return target
    if state == "open":
        target = StatusIntent(Status.WORKING, "reconciled: open", clear_qrcode=True)
    elif state == "connecting":
        if current.qrcode is not None:
            target = StatusIntent(Status.SCAN_QR_CODE, "reconciled: connecting")
        elif qrcode is not None:
            return StatusIntent(Status.SCAN_QR_CODE, "reconciled: connecting", qrcode=qrcode)
        else:
            target = StatusIntent(Status.STARTING, "reconciled: connecting")
    elif state == "close":
        if current.status in (Status.STOPPED, Status.FAILED):
            return None
        target = StatusIntent(Status.STOPPED, "reconciled: close", clear_qrcode=True)
    else:
        return None
    return None if target.status is current.status else target


STATUS_EVENTS = (
    "connection.update",
    "qrcode.updated",
    "logout.instance",
    "remove.instance",
    "instance.delete",
)


REMOVAL_EVENTS = frozenset({"remove.instance", "instance.delete"})


async def on_status_event(event: Event, ctx: EventContext) -> None:
    if event.name in REMOVAL_EVENTS:
        ctx.instance_gone(event.instance, REMOVED_UPSTREAM)
        return
    intent = intent_for_event(event.name, event.data)
    if intent is not None:
        ctx.submit_status(event.instance, intent)


def register(registry: Registry) -> None:
    registry.on(*STATUS_EVENTS)(on_status_event)
