"""The simulator's "database" and in-memory instance records.

An :class:`Instance` holds both what Evolution keeps in Postgres (``stored_status``, the
websocket/webhook rows, the session flag) and what it keeps in memory (``state``, the QR).
A simulator restart keeps the stored half and resets the in-memory half
(:meth:`Instance.reset_runtime`).
"""

from __future__ import annotations

import asyncio
import secrets
import string
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulator.config import State

SETTING_DEFAULTS: dict[str, Any] = {
    "rejectCall": False,
    "msgCall": "",
    "groupsIgnore": False,
    "alwaysOnline": False,
    "readMessages": False,
    "readStatus": False,
    "syncFullHistory": False,
    "wavoipToken": "",
}

_CUID_ALPHABET = string.ascii_lowercase + string.digits


def cuid() -> str:
    """A Prisma-cuid-looking row id (``cmx11tkwh0001zw7ds310a7v6``)."""
    return "cm" + "".join(secrets.choice(_CUID_ALPHABET) for _ in range(23))


def utc_iso(moment: datetime | None = None) -> str:
    """``2026-11-28T23:35:21.680Z``: a real UTC timestamp, as the DB columns are written."""
    moment = moment or datetime.now(UTC)
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


@dataclass(slots=True)
class EventRow:
    """A stored websocket or webhook config row."""

    instance_id: str
    enabled: bool
    events: list[str]
    url: str | None = None
    headers: dict[str, Any] | None = None
    by_events: bool = False
    base64: bool = False
    id: str = field(default_factory=cuid)
    created_at: str = field(default_factory=utc_iso)
    updated_at: str = field(default_factory=utc_iso)

    def update(self, enabled: bool, events: list[str]) -> None:
        self.enabled = enabled
        self.events = events
        self.updated_at = utc_iso()

    def websocket_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "enabled": self.enabled,
            "events": list(self.events),
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "instanceId": self.instance_id,
        }

    def webhook_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "headers": self.headers,
            "enabled": self.enabled,
            "events": list(self.events),
            "webhookByEvents": self.by_events,
            "webhookBase64": self.base64,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "instanceId": self.instance_id,
        }


@dataclass(slots=True)
class Qr:
    """The in-memory QR object; ``count`` is the number of QRs shown so far.

    ``shown`` is set at the first QR of this cycle, or when the cycle ends (a transition
    replaced the object): ``connect`` waits on it.
    """

    count: int = 0
    code: str | None = None
    base64: str | None = None
    pairing_code: str | None = None
    shown: asyncio.Event = field(default_factory=asyncio.Event, compare=False, repr=False)

    def reply(self) -> dict[str, Any]:
        """The connect answer: ``{"count": 0}`` before any QR, else all four fields."""
        if self.code is None:
            return {"count": self.count}
        return {
            "pairingCode": self.pairing_code,
            "code": self.code,
            "base64": self.base64,
            "count": self.count,
        }


@dataclass(slots=True)
class Instance:
    name: str
    token: str
    integration: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    number: str | None = None
    settings: dict[str, Any] = field(default_factory=lambda: dict(SETTING_DEFAULTS))
    settings_id: str = field(default_factory=cuid)
    # Stored (DB) half.
    stored_status: State = "close"
    has_session: bool = False
    wuid: str | None = None
    profile_name: str | None = None
    profile_pic_url: str | None = None
    disconnection_code: int | None = None
    disconnection_object: str | None = None
    disconnection_at: str | None = None
    websocket: EventRow | None = None
    webhook: EventRow | None = None
    created_at: str = field(default_factory=utc_iso)
    updated_at: str = field(default_factory=utc_iso)
    # In-memory half.
    state: State = "close"
    qr: Qr = field(default_factory=Qr)
    pair_number: str | None = None
    deleting: bool = False
    removed: bool = False
    """``remove.instance`` was emitted: its config is gone, per-instance emits stop (§6.4)."""
    runner: asyncio.Task[None] | None = None
    """The task driving the QR cycle or a reconnect; cancelled on every transition."""
    looping: bool = False
    """WhatsApp is unreachable for it: Baileys' reconnect loop (docs/upstream.md §12). Survives a
    simulator restart, like a broken network or session would."""
    loop_rate: float = 0.0
    loop_task: asyncio.Task[None] | None = None
    """The loop's emitter; not cancelled by transitions, and it outlives a delete (zombie)."""

    def touch(self, status: State | None = None) -> None:
        if status is not None:
            self.stored_status = status
        self.updated_at = utc_iso()

    def reset_qr(self) -> None:
        """A new QR cycle (or none): wake whoever waits on the old one."""
        self.qr.shown.set()
        self.qr = Qr()

    def reset_runtime(self) -> None:
        self.state = "close"
        self.reset_qr()
        self.pair_number = None
        self.runner = None
        self.loop_task = None

    def row(self, client_name: str) -> dict[str, Any]:
        """One element of ``GET /instance/fetchInstances`` (docs/upstream.md §3.6)."""
        return {
            "id": self.id,
            "name": self.name,
            "connectionStatus": self.stored_status,
            "ownerJid": self.wuid if self.has_session else None,
            "profileName": self.profile_name,
            "profilePicUrl": self.profile_pic_url,
            "integration": self.integration,
            "number": self.number,
            "businessId": None,
            "token": self.token,
            "clientName": client_name,
            "disconnectionReasonCode": self.disconnection_code,
            "disconnectionObject": self.disconnection_object,
            "disconnectionAt": self.disconnection_at,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "Chatwoot": None,
            "Proxy": None,
            "Rabbitmq": None,
            "Nats": None,
            "Sqs": None,
            "Websocket": self.websocket.websocket_json() if self.websocket else None,
            "Setting": {
                "id": self.settings_id,
                **self.settings,
                "createdAt": self.created_at,
                "updatedAt": self.created_at,
                "instanceId": self.id,
            },
            "_count": {"Message": 0, "Contact": 0, "Chat": 0},
        }

    def wants(self, config_event: str) -> bool:
        """Whether a per-instance emit of this config name is delivered (docs/upstream.md §6.4)."""
        ws = self.websocket
        return ws is not None and ws.enabled and config_event in ws.events


@dataclass(slots=True)
class Store:
    """Instances by name, in creation order. Survives a simulator restart."""

    instances: dict[str, Instance] = field(default_factory=dict)

    def get(self, name: str) -> Instance | None:
        return self.instances.get(name)

    def add(self, instance: Instance) -> None:
        self.instances[instance.name] = instance

    def remove(self, instance: Instance) -> None:
        if self.instances.get(instance.name) is instance:
            del self.instances[instance.name]

    def by_token(self, token: str) -> list[Instance]:
        return [i for i in self.instances.values() if i.token == token]

    def all(self) -> list[Instance]:
        return list(self.instances.values())
