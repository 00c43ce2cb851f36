"""Typed rows: what the store returns. Nothing outside ``relay.store`` sees an asyncpg Record."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Status(StrEnum):
    """The panel's vocabulary (docs/live-events.md "Instance statuses")."""

    STARTING = "STARTING"
    SCAN_QR_CODE = "SCAN_QR_CODE"
    WORKING = "WORKING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


class QrCode(BaseModel):
    model_config = ConfigDict(frozen=True)

    base64: str | None = None
    code: str | None = None
    pairingCode: str | None = None  # the API's wire name


class Instance(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    tenant_id: str
    name: str
    provider: str
    status: Status
    status_reason: str | None
    status_at: datetime
    qr_base64: str | None
    qr_code: str | None
    pairing_code: str | None
    wuid: str | None
    profile_name: str | None
    websocket_enabled: bool
    websocket_events: list[str]
    server: str
    created_at: datetime
    updated_at: datetime

    @property
    def qrcode(self) -> QrCode | None:
        if self.qr_base64 is None and self.qr_code is None and self.pairing_code is None:
            return None
        return QrCode(base64=self.qr_base64, code=self.qr_code, pairingCode=self.pairing_code)


class StatusChange(BaseModel):
    """One transition, as recorded in ``status_history`` and broadcast as ``instance.status``."""

    model_config = ConfigDict(frozen=True)

    instance_name: str
    tenant_id: str
    status: Status
    previous_status: Status | None
    reason: str | None
    at: datetime
    qrcode: QrCode | None = None  # the row's QR after the change (sent with SCAN_QR_CODE)
    server: str = "default"  # the Evolution server the instance lives on


@dataclass(frozen=True, slots=True)
class StatusIntent:
    """The state an instance should be written in, as an event, a reconciliation or a
    management call decided it.

    ``qrcode`` replaces the stored QR; ``clear_qrcode`` removes it; ``wuid`` and
    ``profile_name`` are kept when None. Intents are full targets, so the newest of two with the
    same status carries everything the older one meant (see :meth:`merged_after`).
    """

    status: Status
    reason: str
    qrcode: QrCode | None = None
    clear_qrcode: bool = False
    wuid: str | None = None
    profile_name: str | None = None

    def merged_after(self, older: StatusIntent) -> StatusIntent:
        """This intent, replacing ``older`` (same status) in a queue: the latest QR wins."""
        return replace(
            self,
            wuid=self.wuid or older.wuid,
            profile_name=self.profile_name or older.profile_name,
        )

    def still_news_after(self, row: Instance) -> bool:
        """Whether a management reply's intent still applies although events moved ``row`` on
        while the call was under way: only a QR, over an instance the events left STARTING
        without one (the reply's QR is newer than the ``connecting`` that preceded it)."""
        return self.qrcode is not None and row.status is Status.STARTING and row.qrcode is None

    def changes(self, row: Instance) -> bool:
        """Whether writing this intent would change ``row`` at all."""
        if row.status is not self.status:
            return True
        if self.qrcode is not None:
            return self.qrcode != row.qrcode
        if self.clear_qrcode and row.qrcode is not None:
            return True
        return bool(
            (self.wuid and self.wuid != row.wuid)
            or (self.profile_name and self.profile_name != row.profile_name)
        )


@dataclass(frozen=True, slots=True)
class Removal:
    """The instance is gone upstream: its row (and history) are deleted, in queue order."""

    reason: str


class AuditEntry(BaseModel):
    """One mutating API call, written whether it succeeded or not."""

    model_config = ConfigDict(frozen=True)

    id: int | None = None
    at: datetime | None = None
    actor: str
    role: str
    tenant_id: str | None
    instance_name: str | None
    action: str
    outcome: str
    upstream_status: int | None = None
    duration_ms: float
    detail: dict[str, Any] = Field(default_factory=dict)
